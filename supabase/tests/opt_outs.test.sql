-- Who may lift an opt-out. One the person made (an opt-out keyword such as STOP, or Twilio's
-- 21610) only the person lifts, by texting START, or an admin recording their documented
-- consent (the evidence is required, kept in the history and audited). One a member made
-- (manual, import) any member lifts. Nobody edits opt-outs or their history directly.
begin;
select plan(29);

select tests.create_user('alice');    -- owner
select tests.create_user('bob');      -- agent
select tests.create_user('mallory');  -- outsider
select tests.personal_workspace('alice') as ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('optouts-1'), '+15550007777')
returning id as num \gset

-- The person texts STOP.
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('stop-1'), '+15551230001', '+15550007777', 'Stop', 1, '[]');
select is((select source from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+15551230001'), 'keyword:STOP',
  'texting STOP opts the number out as the person''s own');

-- ---------------------------------------------------------------------------------------
-- Members cannot lift the person's opt-out.

select tests.authenticate_as('bob');
select throws_ok(format($$ select public.opt_in(%L, '+15551230001') $$, :'ws'), '42501',
  'this number opted itself out (texted STOP); only the person texting START lifts that, or an admin recording their documented consent',
  'an agent cannot lift an opt-out the person made by texting STOP');
select is(tests.attempt(format($$ delete from public.opt_outs where workspace_id = %L $$, :'ws')), 'denied',
  'an agent cannot delete it');
select is(tests.attempt(format($$ update public.opt_outs set source = 'manual' where workspace_id = %L $$, :'ws')), 'denied',
  'nor relabel it as a member''s');
select is(tests.attempt(format($$ delete from public.opt_out_events where workspace_id = %L $$, :'ws')), 'denied',
  'nor erase its history');
select is(tests.attempt(format($$ insert into public.opt_out_events (workspace_id, phone_e164, action, source)
                                  values (%L, '+15551230001', 'opted_in', 'manual') $$, :'ws')), 'denied',
  'nor write history of their own');
select throws_ok(format($$ select private.record_opt_in(%L, '+15551230001', 'manual') $$, :'ws'), '42501', null,
  'nor call the private function that lifts opt-outs');
select tests.clear_authentication();

select tests.authenticate_as('alice');
select throws_ok(format($$ select public.opt_in(%L, '+15551230001') $$, :'ws'), '42501', null,
  'the owner cannot lift it with opt_in either');
select is(tests.attempt(format($$ delete from public.opt_outs where workspace_id = %L $$, :'ws')), 'denied',
  'nor delete it');
select tests.clear_authentication();
select ok(exists (select 1 from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+15551230001'),
  'the number is still opted out');

-- The person texts START: lifted.
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('start-1'), '+15551230001', '+15550007777', 'START', 1, '[]');
select ok(not exists (select 1 from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+15551230001'),
  'the person''s START lifts their opt-out');
select is((select array_agg(action || ' ' || source order by id) from public.opt_out_events
            where workspace_id = :'ws' and phone_e164 = '+15551230001'),
  array['opted_out keyword:STOP', 'opted_in keyword:START'], 'the history holds both, as the person''s');

-- Twilio's 21610 (the person unsubscribed at Twilio) is theirs too.
select private.record_opt_out(:'ws', '+15551230002', 'twilio_21610');
select tests.authenticate_as('bob');
select throws_like(format($$ select public.opt_in(%L, '+15551230002') $$, :'ws'),
  'this number opted itself out (unsubscribed at Twilio, error 21610)%',
  'a member cannot lift a 21610 opt-out');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- A member's own opt-out stays a member's to lift, until the person opts out over it.

select tests.authenticate_as('bob');
select is(public.opt_out(:'ws', '+15551230003'), true, 'an agent opts a number out by hand');
select is(public.opt_in(:'ws', '+15551230003'), true, '... and any member may lift that');
select is(public.opt_out(:'ws', '+15551230004', 'import'), true, 'an agent records an opt-out from an import');
select tests.clear_authentication();
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('stop-4'), '+15551230004', '+15550007777', 'unsubscribe', 1, '[]');
select is((select source from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+15551230004'), 'keyword:UNSUBSCRIBE',
  'the person opting out over a member''s opt-out makes it theirs');
select is((select array_agg(action || ' ' || source order by id) from public.opt_out_events
            where workspace_id = :'ws' and phone_e164 = '+15551230004'),
  array['opted_out import', 'opted_out keyword:UNSUBSCRIBE'], '... and the history says so');
select tests.authenticate_as('bob');
select throws_ok(format($$ select public.opt_in(%L, '+15551230004') $$, :'ws'), '42501', null,
  '... so a member can no longer lift it');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- An admin records the person's documented consent.

select tests.authenticate_as('bob');
select throws_ok(format($$ select public.record_opt_in_consent(%L, '+15551230002', 'They asked on the phone') $$, :'ws'),
  '42501', null, 'an agent cannot record consent');
select tests.clear_authentication();
select tests.authenticate_as('mallory');
select throws_ok(format($$ select public.record_opt_in_consent(%L, '+15551230002', 'They asked on the phone') $$, :'ws'),
  '42501', null, 'nor can someone outside the workspace');
select tests.clear_authentication();

select tests.authenticate_as('alice');
select throws_ok(format($$ select public.record_opt_in_consent(%L, '+15551230002', '   ') $$, :'ws'), '22023',
  'say how and when the person agreed again to be texted (the evidence, 1 to 1000 characters)',
  'consent needs the evidence');
select throws_ok(format($$ select public.record_opt_in_consent(%L, '+15551230002', null) $$, :'ws'), '22023', null,
  '... not null either');
select is(public.record_opt_in_consent(:'ws', '+15551230002', '  Signed the paper form at the counter on 2026-11-30, ref F-118  '),
  true, 'an owner records the person''s documented consent');
select is(public.record_opt_in_consent(:'ws', '+15551230002', 'again'), false,
  'recording it again changes nothing (the number is no longer opted out)');
select tests.clear_authentication();

select ok(not exists (select 1 from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+15551230002'),
  'the 21610 opt-out is lifted');
select results_eq(format($$ select action, source, actor_user_id, evidence from public.opt_out_events
                              where workspace_id = %L and phone_e164 = '+15551230002' order by id $$, :'ws'),
  format($$ values ('opted_out', 'twilio_21610', null::uuid, null::text),
                   ('opted_in', 'consent', %L::uuid, 'Signed the paper form at the counter on 2026-11-30, ref F-118') $$,
         tests.user_id('alice')),
  'the history keeps who recorded the consent and the evidence');
select results_eq(format($$ select actor_user_id, target_type, target_id, details from public.audit_log
                              where workspace_id = %L and action = 'opt_out.consent_recorded' $$, :'ws'),
  format($$ values (%L::uuid, 'opt_out_event', %L, '{"previous_source": "twilio_21610",
                    "evidence": "Signed the paper form at the counter on 2026-11-30, ref F-118"}'::jsonb) $$,
         tests.user_id('alice'),
         (select id::text from public.opt_out_events where workspace_id = :'ws' and source = 'consent')),
  'one audit row names the admin, the history row, the lifted opt-out''s source and the evidence');
select throws_ok(format($$ insert into public.opt_out_events (workspace_id, phone_e164, action, source)
                           values (%L, '+15551230002', 'opted_in', 'consent') $$, :'ws'),
  '23514', null, 'a consent record without evidence cannot exist');

select * from finish();
rollback;
