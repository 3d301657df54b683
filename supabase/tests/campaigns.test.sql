-- public.campaigns and campaign_recipients: admins write drafts (only granted columns, only drafts),
-- members read, nobody writes recipients; launch snapshots the audience (lists, tags, exclusions,
-- one per number, opted-out kept as skipped) once; the claim skips opt-outs made since launch,
-- renders each body, keeps each campaign's pace and settles expired leases; each claim's owner
-- token is required by every later worker call, so a worker whose lease ran out changes nothing
-- once another holds the recipient; pause/resume/cancel; the report counts outcomes, delivery
-- statuses and error codes.
begin;
select plan(76);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');

insert into public.phone_numbers (workspace_id, twilio_sid, e164) values
  (:'ws', 'PN' || repeat('c', 32), '+442079550001') returning id as num \gset
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values
  (:'ws_m', 'PN' || repeat('d', 32), '+442079550002') returning id as num_m \gset
insert into public.contact_lists (workspace_id, name) values (:'ws', 'Spring') returning id as list \gset
insert into public.contact_lists (workspace_id, name) values (:'ws_m', 'Theirs') returning id as list_m \gset
insert into public.contacts (workspace_id, phone_e164, first_name, tags) values
  (:'ws', '+447700900001', 'Ann', '{}'),              -- on the list
  (:'ws', '+447700900002', null, '{vip}'),            -- on the list and tagged: once
  (:'ws', '+447700900003', 'Cy', '{vip}'),            -- tagged
  (:'ws', '+447700900004', 'Di', '{vip,staff}'),      -- tagged but excluded
  (:'ws', '+447700900005', 'Ed', '{}'),               -- on the list, opted out before launch
  (:'ws', '+447700900006', 'Flo', '{}');              -- in no audience
insert into public.contact_list_members (workspace_id, list_id, contact_id)
select :'ws', :'list', id from public.contacts
 where workspace_id = :'ws' and phone_e164 in ('+447700900001', '+447700900002', '+447700900005');
select private.record_opt_out(:'ws', '+447700900005', 'manual');

select tests.rls_enabled('public');

-- ---------------------------------------------------------------------------------------
-- Drafts through PostgREST
select tests.authenticate_as('bob');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body)
                          values (%L, 'Nope', %L, 'hi') $$, :'ws', :'num'),
  '42501', null, 'an agent cannot create a campaign');

select tests.authenticate_as('alice');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, status)
                          values (%L, 'Sneaky', %L, 'hi', 'sending') $$, :'ws', :'num'),
  '42501', null, 'a client cannot set a campaign''s status');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids)
                          values (%L, 'Theirs', %L, 'hi', array[%L]::uuid[]) $$, :'ws', :'num', :'list_m'),
  '23503', null, 'an audience list of another workspace is refused');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body)
                          values (%L, 'Their number', %L, 'hi') $$, :'ws', :'num_m'),
  '23503', null, 'a sender number of another workspace is refused');
select throws_ok(format($$ insert into public.campaigns (workspace_id, name, phone_number_id, body, send_rate)
                          values (%L, 'Too fast', %L, 'hi', 1000) $$, :'ws', :'num'),
  '23514', null, 'the send rate is bounded');

insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids, include_tags, exclude_tags, send_rate)
values (:'ws', 'Spring sale', :'num', 'Hi {{first_name|there}}, 20% off this week', array[:'list']::uuid[],
        '{vip}', '{staff}', 100)
returning id as camp \gset
select is((select row(status, created_by)::text from public.campaigns where id = :'camp'),
  row('draft', tests.user_id('alice'))::text, 'an admin creates a draft, owned by them');
select is(tests.attempt(format($$ update public.campaigns set name = 'Spring SALE' where id = %L $$, :'camp')),
  'rows:1', 'an admin edits a draft');

select tests.authenticate_as('bob');
select is((select count(*)::int from public.campaigns where id = :'camp'), 1, 'a member reads the campaign');
select is(tests.attempt(format($$ update public.campaigns set name = 'x' where id = %L $$, :'camp')),
  'rows:0', 'an agent cannot edit it');
select throws_ok(format($$ select public.launch_campaign(%L) $$, :'camp'), '42501', null, 'an agent cannot launch it');

select tests.authenticate_as('mallory');
select is((select count(*)::int from public.campaigns), 0, 'another workspace reads no campaign');
select is(tests.attempt(format($$ delete from public.campaigns where id = %L $$, :'camp')), 'rows:0',
  'another workspace deletes no campaign');
select throws_ok(format($$ select public.launch_campaign(%L) $$, :'camp'), 'P0002', null,
  'to another workspace the campaign does not exist (launch)');
select throws_ok(format($$ select public.campaign_report(%L) $$, :'camp'), 'P0002', null,
  'to another workspace the campaign does not exist (report)');

select tests.authenticate_as_anon();
select throws_ok(format($$ select public.launch_campaign(%L) $$, :'camp'), '42501', null, 'anon cannot launch');

-- ---------------------------------------------------------------------------------------
-- Launch: the audience snapshot
select tests.authenticate_as('alice');
select public.launch_campaign(:'camp') as launched \gset
select is((:'launched'::jsonb) - 'scheduled_at' - 'last_error' - 'send_rate',
  ('{"campaign_id": "' || :'camp' || '", "status": "sending", "recipients_total": 4, "pending": 3, '
  '"skipped_opted_out": 1, "already_launched": false}')::jsonb, 'launch snapshots 4 recipients, 1 of them opted out');
select results_eq(format($$ select phone_e164, status from public.campaign_recipients where campaign_id = %L
                            order by phone_e164 $$, :'camp'),
  $$ values ('+447700900001', 'pending'), ('+447700900002', 'pending'), ('+447700900003', 'pending'),
            ('+447700900005', 'skipped_opted_out') $$,
  'list members and tagged contacts, once each, minus the excluded tag; the opted-out number is kept as skipped');
select is((public.launch_campaign(:'camp') ->> 'already_launched'), 'true', 'launching again is a no-op');
select is((select count(*)::int from public.campaign_recipients where campaign_id = :'camp'), 4,
  'launching again adds no recipient');
select is((select count(*)::int from public.audit_log where action = 'campaign.launched' and target_id = :'camp'), 1,
  'the launch is audited once');
select is(tests.attempt(format($$ update public.campaigns set body = 'changed' where id = %L $$, :'camp')), 'rows:0',
  'a launched campaign is not edited');
select is(tests.attempt(format($$ delete from public.campaigns where id = %L $$, :'camp')), 'rows:0',
  'a sending campaign is not deleted');
select is(tests.attempt(format($$ update public.campaign_recipients set status = 'sent' where campaign_id = %L $$, :'camp')),
  'denied', 'nobody edits recipients');
select is(tests.attempt(format($$ delete from public.campaign_recipients where campaign_id = %L $$, :'camp')),
  'denied', 'nobody deletes recipients');
select throws_ok($$ select * from private.claim_campaign_recipients(10, 60) $$, '42501', null,
  'a user cannot claim recipients');

-- ---------------------------------------------------------------------------------------
-- Claiming (as the worker)
select tests.clear_authentication();
select private.record_opt_out(:'ws', '+447700900003', 'keyword:STOP');  -- since launch
select tests.authenticate_as_service_role();
select results_eq($$ select to_e164, body, from_e164, attempts from private.claim_campaign_recipients(10, 60) order by 1 $$,
  $$ values ('+447700900001', 'Hi Ann, 20% off this week', '+442079550001', 1),
            ('+447700900002', 'Hi there, 20% off this week', '+442079550001', 1) $$,
  'the claim returns the rendered body per contact and skips a number opted out since launch');
select is((select status from public.campaign_recipients where campaign_id = :'camp' and phone_e164 = '+447700900003'),
  'skipped_opted_out', 'the number opted out since launch is recorded as skipped');
select is((select count(*)::int from private.claim_campaign_recipients(10, 60)), 0, 'claimed recipients are not claimed twice');

select id as r1, claim_token as t1 from public.campaign_recipients
 where campaign_id = :'camp' and phone_e164 = '+447700900001' \gset
select id as r2, claim_token as t2 from public.campaign_recipients
 where campaign_id = :'camp' and phone_e164 = '+447700900002' \gset
select isnt(:'t1'::uuid, :'t2'::uuid, 'each claim carries its own owner token');
select private.prepare_campaign_message(:r1, :'t1', 'Hi Ann, 20% off this week', 1, 'gsm7') ->> 'message_id' as m1 \gset
select is((select row(m.source, m.status, m.direction, m.body, m.sent_by, c.phone_number_id, ct.phone_e164)::text
             from public.messages m join public.conversations c on c.id = m.conversation_id
             join public.contacts ct on ct.id = c.contact_id where m.id = :'m1'),
  row('campaign', 'queued', 'outbound', 'Hi Ann, 20% off this week', tests.user_id('alice'), :'num'::uuid,
      '+447700900001')::text,
  'the campaign message is an ordinary outbound message in the contact''s conversation');
select private.record_campaign_send(:r1, :'t1', 'SM' || repeat('e', 32), 'queued');
select is((select row(r.status, m.twilio_sid)::text from public.campaign_recipients r
             join public.messages m on m.id = r.message_id where r.id = :r1),
  row('sent', 'SM' || repeat('e', 32))::text, 'a send records the SID and the recipient as sent');
select tests.clear_authentication();
select private.advance_message_status(:'m1', 'delivered', null, null);  -- its status callback
select tests.authenticate_as_service_role();
select private.prepare_campaign_message(:r2, :'t2', 'Hi there, 20% off this week', 1, 'gsm7');
select is(private.record_campaign_failure(:r2, :'t2', 20429, 'Too Many Requests', 5) ->> 'status', 'pending',
  'a rate-limited send goes back to pending');
select is((select count(*)::int from private.claim_campaign_recipients(10, 60)), 0, '... and waits for its backoff');
select tests.clear_authentication();
update public.campaign_recipients set next_attempt_at = now() - interval '1 second' where id = :r2;
select tests.authenticate_as_service_role();
select is((select attempts from private.claim_campaign_recipients(10, 60)), 2, 'then it is claimed again');
select claim_token as t2b from public.campaign_recipients where id = :r2 \gset
select isnt(:'t2b'::uuid, :'t2'::uuid, '... under a fresh owner token');
select is(private.prepare_campaign_message(:r2, :'t2b', 'Hi there', 1, 'gsm7') ->> 'message_id',
  (select message_id::text from public.campaign_recipients where id = :r2), 'the retry reuses its message row');
select is(private.record_campaign_failure(:r2, :'t2b', 21610, 'unsubscribed', null) ->> 'campaign_completed', 'true',
  'a 21610 fails the recipient, and the last outcome completes the campaign');
select is((select source from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+447700900002'),
  'twilio_21610', '21610 records the opt-out');

-- ---------------------------------------------------------------------------------------
-- The report (members)
select tests.authenticate_as('bob');
select public.campaign_report(:'camp') as report \gset
select is((:'report'::jsonb) -> 'recipients',
  '{"pending": 0, "claimed": 0, "sent": 1, "failed": 1, "skipped_opted_out": 2, "skipped_removed": 0, "canceled": 0}'::jsonb,
  'the report counts recipients by outcome');
select is((:'report'::jsonb) -> 'delivery' ->> 'delivered', '1', 'the report counts delivered messages');
select is((:'report'::jsonb) -> 'delivery' ->> 'failed', '1', '... and failed ones');
select is((:'report'::jsonb) -> 'errors', '[{"count": 1, "error_code": 21610}]'::jsonb, '... and the error codes');
select is((:'report'::jsonb) ->> 'status', 'completed', 'the campaign is completed');

-- ---------------------------------------------------------------------------------------
-- Pace, pause, resume, cancel, schedule, leases
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Slow', :'num', 'Hello', '{bulk}', 2) returning id as slow \gset
select tests.clear_authentication();
insert into public.contacts (workspace_id, phone_e164, tags)
select :'ws', '+4477009010' || lpad(i::text, 2, '0'), '{bulk}' from generate_series(1, 10) i;
select tests.authenticate_as('alice');
select public.launch_campaign(:'slow');
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 2,
  'at 2 messages/s a claim gets 2 recipients');
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 0, 'and then none until time passes');

select tests.authenticate_as('alice');
select is(public.pause_campaign(:'slow') ->> 'status', 'paused', 'an admin pauses');
select is(public.pause_campaign(:'slow') ->> 'status', 'paused', 'pausing again is harmless');
select tests.clear_authentication();
update public.campaigns set next_send_at = now() - interval '1 minute' where id = :'slow';
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 0, 'a paused campaign is not claimed');
select tests.authenticate_as('alice');
select is(public.resume_campaign(:'slow') ->> 'status', 'sending', 'an admin resumes');
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 2, 'a resumed campaign is claimed again');

-- A lease that ran out before the message was made: back in the queue.
select tests.clear_authentication();
update public.campaign_recipients set claimed_until = now() - interval '1 second'
 where campaign_id = :'slow' and status = 'claimed';
update public.campaigns set next_send_at = now() - interval '1 minute' where id = :'slow';
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60) where attempts = 2), 2,
  'recipients whose lease ran out are claimed again');

select tests.authenticate_as('alice');
select is(public.cancel_campaign(:'slow') ->> 'status', 'canceled', 'an admin cancels');
select is((select count(*)::int from public.campaign_recipients where campaign_id = :'slow' and claim_token is not null),
  0, 'a canceled claim keeps no owner token');
select is((select count(*)::int from public.campaign_recipients where campaign_id = :'slow' and status = 'canceled'), 10,
  'every unsent recipient is canceled');
select throws_ok(format($$ select public.resume_campaign(%L) $$, :'slow'), '55000', null, 'a canceled campaign stays canceled');
select throws_ok(format($$ select public.cancel_campaign(%L) $$, :'camp'), '55000', null, 'a completed campaign cannot be canceled');

insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags)
values (:'ws', 'Later', :'num', 'Soon', '{bulk}') returning id as later \gset
select is(public.launch_campaign(:'later', now() + interval '1 hour') ->> 'status', 'scheduled',
  'a launch with a future time is scheduled');
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60)), 0, 'a scheduled campaign waits for its time');

-- ---------------------------------------------------------------------------------------
-- Owner tokens: a worker whose lease ran out, once another worker holds the recipient, changes nothing.
-- (now() is the transaction's start, so the lease is put in the past rather than slept through.)
select tests.clear_authentication();
insert into public.contacts (workspace_id, phone_e164, first_name, tags) values (:'ws', '+447700902001', 'Lee', '{lease}');
select tests.authenticate_as('alice');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws', 'Leases', :'num', 'Hi {{first_name}}', '{lease}', 10) returning id as lease \gset
select public.launch_campaign(:'lease');
select tests.authenticate_as_service_role();
select recipient_id as lr, claim_token as lt1 from private.claim_campaign_recipients(50, 1)
 where campaign_id = :'lease' \gset
select is((select claim_token from public.campaign_recipients where id = :lr), :'lt1'::uuid,
  'the claim returns the owner token stored on the recipient');

select tests.clear_authentication();
update public.campaign_recipients set claimed_until = now() - interval '1 second' where id = :lr;  -- the 1 s lease ran out
select tests.authenticate_as_service_role();
select is(private.prepare_campaign_message(:lr, :'lt1', 'Hi Lee', 1, 'gsm7') ->> 'reason', 'claim_expired',
  'once its lease has run out, the holder makes no message');
select is((select message_id from public.campaign_recipients where id = :lr), null, '... and none is made');

select recipient_id as lr2, claim_token as lt2 from private.claim_campaign_recipients(50, 60)
 where campaign_id = :'lease' \gset
select is(:lr2, :lr, 'a second worker claims the recipient whose lease ran out');
select isnt(:'lt2'::uuid, :'lt1'::uuid, '... under a fresh owner token');

select is(private.prepare_campaign_message(:lr, :'lt1', 'Hi Lee', 1, 'gsm7') ->> 'reason', 'claim_lost',
  'the first worker cannot make the message for the recipient the second one holds');
select is(private.prepare_campaign_message(:lr, null, 'Hi Lee', 1, 'gsm7') ->> 'reason', 'claim_lost',
  '... nor can a call without a token');
select is(private.record_campaign_send(:lr, :'lt1', 'SM' || repeat('f', 32), 'queued') ->> 'status', 'claim_lost',
  'the first worker cannot record a send for it');
select is(private.record_campaign_failure(:lr, :'lt1', 20429, 'Too Many Requests', 5) ->> 'status', 'claim_lost',
  'the first worker cannot put it back for a retry');
select is(private.record_campaign_failure(:lr, :'lt1', 30007, 'Carrier violation', null) ->> 'status', 'claim_lost',
  'the first worker cannot fail it');
select is((select row(status, claim_token, message_id, attempts, error_code, next_attempt_at <= now())::text
             from public.campaign_recipients where id = :lr),
  row('claimed', :'lt2'::uuid, null::uuid, 2, null::integer, true)::text,
  'none of the first worker''s calls changed the recipient');
select is((select count(*)::int from public.messages where to_e164 = '+447700902001'), 0,
  'and no message was made for it');

select is(private.prepare_campaign_message(:lr, :'lt2', 'Hi Lee', 1, 'gsm7') ->> 'send', 'true',
  'the second worker makes the message');
select is(private.record_campaign_send(:lr, :'lt2', 'SM' || repeat('a', 32), 'queued') ->> 'campaign_completed', 'true',
  'the second worker records the send, which completes the campaign');
select is((select row(r.status, r.claim_token, m.twilio_sid)::text from public.campaign_recipients r
             join public.messages m on m.id = r.message_id where r.id = :lr),
  row('sent', null::uuid, 'SM' || repeat('a', 32))::text, 'the recipient is sent and its claim ended');
select is(private.record_campaign_failure(:lr, :'lt2', 30007, 'late', null) ->> 'status', 'claim_lost',
  'an ended claim''s token is refused too');
select is((select count(*)::int from public.messages where to_e164 = '+447700902001'), 1, 'one message in all');

select * from finish();
rollback;
