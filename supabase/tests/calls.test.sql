-- Calls: inbound routing decided in SQL (rule priority, business hours in the workspace
-- timezone, caller prefix, fallbacks), idempotency on CallSid, forward-only status, browser
-- calls; members read the call log, nobody writes it from a client, other workspaces see nothing.
begin;
select plan(39);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
update public.workspaces set timezone = 'America/New_York' where id = :'ws';
insert into public.twilio_accounts (workspace_id, account_sid, twiml_app_sid)
values (:'ws', 'AC' || repeat('a', 32), 'AP' || repeat('a', 32));
insert into public.phone_numbers (workspace_id, twilio_sid, e164, forward_to)
values (:'ws', 'PN' || md5('alice-1'), '+15550001111', '{+15550009999}') returning id as num \gset

-- A call to alice's number from `caller` at `at`; returns the routing decision.
create function pg_temp.ring(caller text, at timestamptz) returns jsonb language sql as $$
  select private.route_inbound_call(tests.personal_workspace('alice'),
           (select id from public.phone_numbers where e164 = '+15550001111'),
           'CA' || md5(caller || at::text), caller, '+15550001111', at)
$$;

-- ---------------------------------------------------------------------------------------
-- Fallbacks without rules: the number's forwarding, then voicemail once an admin turned it on, else reject.
select is(pg_temp.ring('+15551230001', '2026-11-30 15:00Z') ->> 'action', 'forward', 'no rules: the number''s forward_to');
select is(pg_temp.ring('+15551230001', '2026-11-30 15:01Z') -> 'forward_to', '["+15550009999"]', '... to its targets');
update public.phone_numbers set forward_to = '{}' where id = :'num';
select is((select voicemail_enabled from public.phone_numbers where id = :'num'), false,
  'a number records nothing until an admin turns its voicemail on');
select is(pg_temp.ring('+15551230001', '2026-11-30 15:02Z') ->> 'action', 'reject',
  'no forwarding and voicemail off (the default): reject');
insert into public.call_routing_rules (workspace_id, phone_number_id, priority, action)
values (:'ws', :'num', 0, 'voicemail');
select is(pg_temp.ring('+15551230001', '2026-11-30 15:04Z') ->> 'action', 'reject',
  'a rule saying voicemail records nothing either while the number''s voicemail is off');
delete from public.call_routing_rules where priority = 0;
update public.phone_numbers set voicemail_enabled = true where id = :'num';
select is(pg_temp.ring('+15551230001', '2026-11-30 15:03Z') ->> 'action', 'voicemail', 'voicemail on: voicemail');
update public.phone_numbers set whisper_text = 'Number whisper' where id = :'num';

-- ---------------------------------------------------------------------------------------
-- Rules: first match by priority; business hours Mon 09:00-17:00 New York.
insert into public.call_routing_rules (workspace_id, phone_number_id, priority, condition, caller_prefix, action, forward_to,
                                       whisper_text, timeout_seconds)
values (:'ws', :'num', 1, 'caller_prefix', '+4420', 'forward', '{+15550008888,+15550001111}', 'UK caller', 30);
insert into public.call_routing_rules (workspace_id, phone_number_id, priority, condition, business_hours, action, forward_to)
values (:'ws', :'num', 2, 'business_hours', '{"mon": [["09:00", "17:00"]]}', 'forward', '{+15550007777}');
insert into public.call_routing_rules (workspace_id, phone_number_id, priority, condition, business_hours, action)
values (:'ws', :'num', 3, 'after_hours', '{"mon": [["09:00", "17:00"]]}', 'voicemail');

-- Monday 10:00 in New York is 15:00Z; 18:00 there is 23:00Z.
select is(pg_temp.ring('+15551230002', '2026-11-30 15:00Z') -> 'forward_to', '["+15550007777"]', 'inside business hours: forward');
select is(pg_temp.ring('+15551230002', '2026-11-30 15:00Z') ->> 'whisper_text', 'Number whisper',
  'a rule without a whisper uses the number''s');
select is(pg_temp.ring('+15551230002', '2026-11-30 23:00Z') ->> 'action', 'voicemail', 'after hours (New York): voicemail');
select is(pg_temp.ring('+15551230002', '2026-11-30 13:30Z') ->> 'action', 'voicemail', 'before opening (08:30 there): voicemail');
select is(pg_temp.ring('+442071838750', '2026-11-30 23:00Z') -> 'forward_to', '["+15550008888"]',
  'caller prefix wins by priority; the called number itself is never a target');
select is(pg_temp.ring('+442071838750', '2026-11-30 23:05Z') ->> 'whisper_text', 'UK caller', '... with its whisper');
select is((pg_temp.ring('+442071838750', '2026-11-30 23:10Z') ->> 'timeout_seconds')::int, 30, '... and its timeout');
update public.call_routing_rules set is_active = false where priority = 1;
select is(pg_temp.ring('+442071838750', '2026-11-30 23:15Z') ->> 'action', 'voicemail', 'inactive rules are skipped');
update public.call_routing_rules set action = 'browser', forward_to = '{}' where priority = 2;
select is(pg_temp.ring('+15551230003', '2026-11-30 15:00Z') -> 'clients',
  jsonb_build_array('user_' || tests.user_id('alice'), 'user_' || tests.user_id('bob')),
  'browser: every member''s client, owner first');

-- ---------------------------------------------------------------------------------------
-- Idempotency, contacts, status.
select is(pg_temp.ring('+15551230004', '2026-11-30 15:00Z') ->> 'duplicate', 'false', 'a new call');
select is(pg_temp.ring('+15551230004', '2026-11-30 15:00Z') ->> 'duplicate', 'true', 'the same CallSid again is a duplicate');
select is((select count(*)::int from public.calls where twilio_sid = 'CA' || md5('+15551230004' || '2026-11-30 15:00Z'::timestamptz::text)),
  1, '... stored once');
select is((select count(*)::int from public.contacts where workspace_id = :'ws' and phone_e164 = '+15551230004'), 1,
  'the caller became a contact');
select is(private.route_inbound_call(:'ws', :'num', 'CA' || repeat('0', 32), 'anonymous', '+15550001111',
                                    '2026-11-30 15:00Z') ->> 'action',
  'browser', 'a withheld caller is routed too');

select 'CA' || md5('+15551230004' || '2026-11-30 15:00Z'::timestamptz::text) as sid \gset
select is(private.apply_call_status('AC' || repeat('a', 32), :'sid', 'in-progress', null, now()) ->> 'status', 'in-progress',
  'status moves forward');
select is(private.apply_call_status('AC' || repeat('a', 32), :'sid', 'completed', 61, now()) ->> 'duration_seconds', '61',
  'completed records the duration');
select is(private.apply_call_status('AC' || repeat('a', 32), :'sid', 'ringing', null, now()) ->> 'status', 'completed',
  'a late ringing changes nothing');
select is(private.apply_call_status('AC' || repeat('a', 32), :'sid', 'failed', 0, now()) ->> 'applied', 'false',
  'a terminal status is never replaced');
select is(private.apply_call_status('AC' || repeat('b', 32), :'sid', 'canceled', null, now()) ->> 'reason', 'account_mismatch',
  'another account cannot move the call');
select is(private.apply_call_status('AC' || repeat('a', 32), 'CA' || repeat('e', 32), 'completed', 5, now()) ->> 'pending',
  'true', 'an unknown CallSid is parked');

-- Browser calls.
select is(private.start_browser_call('AC' || repeat('a', 32), 'AP' || repeat('a', 32), 'CA' || repeat('1', 32),
          tests.user_id('bob'), null, '+15557654321') ->> 'caller_id', '+15550001111', 'a member calls out from the number');
select is(private.start_browser_call('AC' || repeat('a', 32), 'AP' || repeat('a', 32), 'CA' || repeat('2', 32),
          tests.user_id('mallory'), null, '+15557654321') ->> 'refused', 'not_a_member', 'a non-member is refused');
select is(private.start_browser_call('AC' || repeat('a', 32), 'AP' || repeat('a', 32), 'CA' || repeat('3', 32),
          tests.user_id('bob'), '+15550002222', '+15557654321') ->> 'refused', 'invalid_caller_id',
  'the caller ID must be the workspace''s');

-- Parked callbacks that never matched a call are purged hourly after 7 days.
select is((select command from cron.job where jobname = 'numeraloop-purge-parked-call-statuses'),
  $$select private.purge_pending_call_statuses('7 days')$$, 'the purge of parked call statuses is scheduled');
update private.pending_call_statuses set received_at = now() - interval '8 days' where call_sid = 'CA' || repeat('e', 32);
select is(private.purge_pending_call_statuses('7 days'), 1, 'call statuses parked over 7 days ago are dropped');
select is_empty($$ select 1 from private.pending_call_statuses where call_sid = 'CA' || repeat('e', 32) $$, '... and gone');

-- ---------------------------------------------------------------------------------------
-- RLS: members read; nobody writes from a client; others and anon see nothing.
select tests.authenticate_as('bob');
select ok((select count(*) from public.calls) > 10, 'an agent reads the workspace''s calls');
select is(tests.attempt(format($$ update public.calls set status = 'ringing' where workspace_id = %L $$, :'ws')), 'denied',
  'members cannot change calls');
select is(tests.attempt(format($$ insert into public.calls (workspace_id, twilio_sid, direction, from_e164, to_e164, status)
                                   values (%L, 'CA' || repeat('9', 32), 'inbound', '+1', '+1', 'ringing') $$, :'ws')),
  'denied', 'members cannot insert calls');
select throws_ok($$ select private.route_inbound_call(tests.personal_workspace('alice'), null, 'CA' || repeat('8', 32), '+1', '+1') $$,
  '42501', null, 'clients cannot route calls');
select tests.authenticate_as('mallory');
select is_empty($$ select 1 from public.calls $$, 'another workspace reads no call');
select is(tests.attempt($$ delete from public.calls $$), 'denied', 'another workspace deletes nothing');
select tests.authenticate_as_anon();
select is(tests.attempt($$ select * from public.calls $$), 'denied', 'anon reads nothing');

select * from finish();
rollback;
