-- Twilio accounts, phone numbers, call routing rules and the audit log under RLS:
-- members read, admins edit the workspace-side settings, nobody else sees or changes anything.
begin;
select plan(24);

select tests.create_user('owner');
select tests.create_user('agent');
select tests.create_user('outsider');
insert into public.workspace_members (workspace_id, user_id, role)
values (tests.personal_workspace('owner'), tests.user_id('agent'), 'agent');

insert into public.twilio_accounts (id, workspace_id, account_sid)
values ('11111111-1111-4111-8111-111111111111', tests.personal_workspace('owner'), 'AC' || repeat('a', 32));
insert into public.phone_numbers (id, workspace_id, twilio_account_id, twilio_sid, e164)
values ('22222222-2222-4222-8222-222222222222', tests.personal_workspace('owner'),
        '11111111-1111-4111-8111-111111111111', 'PN' || repeat('b', 32), '+14155550142');
insert into public.call_routing_rules (workspace_id, phone_number_id, action, forward_to)
values (tests.personal_workspace('owner'), '22222222-2222-4222-8222-222222222222', 'forward', '{+14155550100}');
select private.write_audit_log(tests.personal_workspace('owner'), tests.user_id('owner'), 'number.buy',
                               'phone_number', 'PN' || repeat('b', 32), '{}', null);

-- The outsider sees and changes nothing.
select tests.authenticate_as('outsider');
select is_empty($$ select 1 from public.twilio_accounts $$, 'outsider reads no twilio account');
select is_empty($$ select 1 from public.phone_numbers $$, 'outsider reads no phone number');
select is_empty($$ select 1 from public.call_routing_rules $$, 'outsider reads no routing rule');
select is_empty($$ select 1 from public.audit_log where workspace_id = tests.personal_workspace('owner') $$,
  'outsider reads no audit log');
select is_empty($$ update public.phone_numbers set friendly_name = 'mine' returning id $$, 'outsider cannot rename a number');
select is_empty($$ delete from public.call_routing_rules returning id $$, 'outsider cannot delete routing rules');
select throws_ok(
  format($$ insert into public.call_routing_rules (workspace_id, phone_number_id, action) values (%L, %L, 'voicemail') $$,
         tests.personal_workspace('owner'), '22222222-2222-4222-8222-222222222222'),
  '42501', null, 'outsider cannot add a routing rule');
select throws_ok($$ update public.twilio_accounts set account_sid = 'AC' || repeat('c', 32) $$, '42501', null,
  'nobody but the service changes a twilio account');
select throws_ok($$ insert into public.audit_log (action) values ('x.y') $$, '42501', null, 'clients cannot write the audit log');

-- An agent reads, but edits nothing.
select tests.authenticate_as('agent');
select is((select count(*)::int from public.phone_numbers), 1, 'agent reads the workspace''s numbers');
select is((select count(*)::int from public.twilio_accounts), 1, 'agent reads the connection (no secrets in it)');
select is_empty($$ update public.phone_numbers set whisper_text = 'hi' returning id $$, 'agent cannot change number settings');
select is_empty($$ select 1 from public.audit_log $$, 'agents do not read the audit log');
select throws_ok(
  format($$ insert into public.call_routing_rules (workspace_id, phone_number_id, action) values (%L, %L, 'voicemail') $$,
         tests.personal_workspace('owner'), '22222222-2222-4222-8222-222222222222'),
  '42501', null, 'agent cannot add a routing rule');

-- The owner (an admin) edits workspace-side settings, never the Twilio side.
select tests.authenticate_as('owner');
select lives_ok($$ update public.phone_numbers set friendly_name = 'Front desk', forward_to = '{+14155550100}',
                   whisper_text = 'Call from NumeraLoop' $$, 'admin edits friendly name, forwarding and whisper');
select throws_ok($$ update public.phone_numbers set status = 'released' $$, '42501', null, 'admin cannot set status directly');
select throws_ok($$ update public.phone_numbers set e164 = '+14155550999' $$, '42501', null, 'admin cannot change the number');
select throws_ok($$ update public.phone_numbers set forward_to = '{not-a-number}' $$, '23514', null,
  'forwarding targets must be E.164');
select lives_ok(
  format($$ insert into public.call_routing_rules (workspace_id, phone_number_id, name, condition, action)
            values (%L, %L, 'after hours', 'after_hours', 'voicemail') $$,
         tests.personal_workspace('owner'), '22222222-2222-4222-8222-222222222222'),
  'admin adds a routing rule');
select throws_ok(
  format($$ insert into public.call_routing_rules (workspace_id, phone_number_id, action, forward_to)
            values (%L, %L, 'forward', '{}') $$,
         tests.personal_workspace('owner'), '22222222-2222-4222-8222-222222222222'),
  '23514', null, 'a forward rule needs targets');
select is((select count(*)::int from public.audit_log where action = 'number.buy'), 1,
  'admins read their workspace''s audit log');
select throws_ok(
  format($$ insert into public.call_routing_rules (workspace_id, phone_number_id, action)
            values (%L, %L, 'voicemail') $$,
         tests.personal_workspace('owner'), gen_random_uuid()),
  '23503', null, 'a rule''s number must exist in the same workspace');

-- Secrets are never reachable by clients.
select throws_ok($$ select * from private.twilio_credentials $$, '42501', null, 'clients cannot read the ciphertext table');
select throws_ok($$ select * from private.twilio_credentials_for_workspace(tests.personal_workspace('owner'), '{}') $$,
  '42501', null, 'clients cannot call the decrypting function');

select * from finish();
rollback;
