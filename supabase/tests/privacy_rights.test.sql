-- Data-subject requests (the operator's side: e-mailed requests, identity checks, answers, the
-- open and overdue list, the CCPA's two a year per person), restriction of processing enforced on
-- every path that writes an outbound message, call or campaign launch, and consent to product
-- e-mails recorded and decisive.
begin;
select plan(30);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.user_id('alice') as alice, tests.personal_workspace('alice') as alice_ws,
       tests.user_id('bob') as bob, tests.personal_workspace('bob') as bob_ws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'alice_ws', :'bob', 'agent');
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'alice_ws', 'PN' || md5('rights'), '+15550007001')
returning id as num \gset
select private.upsert_contact(:'alice_ws', '+15550007002') as contact \gset
insert into public.conversations (workspace_id, phone_number_id, contact_id) values (:'alice_ws', :'num', :'contact')
returning id as conv \gset

-- ---------------------------------------------------------------------------------------
-- Requests received by e-mail

select private.file_emailed_data_request(' Alice@Example.test ', 'gdpr', 'erasure', now() - interval '40 days',
                                         'Delete everything') as late \gset
select results_eq(format($$ select user_id, channel, requester_email, identity_verification, status,
                                  due_at = requested_at + interval '30 days' from public.data_requests where id = %L $$,
                         (:'late'::public.data_requests).id),
  format($$ values (%L::uuid, 'email', 'alice@example.test', 'pending', 'requested', true) $$, :'alice'),
  'an e-mailed request is linked to the account with that address, identity pending, due 30 days after it arrived');
select private.file_emailed_data_request('stranger@example.test', 'pipeda', 'access') as stranger \gset
select is((:'stranger'::public.data_requests).user_id, null::uuid, 'one from an address with no account is recorded all the same');
select throws_ok($$ select private.file_emailed_data_request('not an address', 'gdpr', 'access') $$, '22023', null,
  'the requester''s address must be one');
select throws_ok($$ select private.file_emailed_data_request('x@example.test', 'gdpr', 'know') $$, '22023', null,
  'a kind the law does not have is refused');
select throws_ok($$ select private.file_emailed_data_request('x@example.test', 'gdpr', 'access', now() + interval '1 day') $$,
  '22023', null, 'a request is not received in the future');

select results_eq($$ select kind, overdue from private.data_requests_open() where requester in ('alice@example.test', 'stranger@example.test') $$,
  $$ values ('erasure', true), ('access', false) $$, 'the open list puts the soonest due first and says which are overdue');

select throws_ok(format($$ select private.close_data_request(%L, 'Deleted') $$, (:'late'::public.data_requests).id),
  '55000', 'verify the requester''s identity before answering the request', 'an unverified request is not answered');
select is((private.verify_data_request((:'late'::public.data_requests).id, true)).status, 'in_progress'::text,
  'once verified it is in progress');
select is((private.close_data_request((:'late'::public.data_requests).id, 'Your account was deleted.')).status, 'completed'::text,
  'and the operator answers it');
select is((select details ->> 'on_time' from public.audit_log where action = 'data_request.closed'
            and target_id = (:'late'::public.data_requests).id::text), 'false', 'the audit row says it was late');
select results_eq(format($$ select status, identity_verification, outcome is not null from public.data_requests where id = %L $$,
                         (private.verify_data_request((:'stranger'::public.data_requests).id, false)).id),
  $$ values ('refused', 'failed', true) $$, 'a requester who cannot be verified is refused, with the reason');
select throws_ok(format($$ select private.verify_data_request(%L, true) $$, (:'stranger'::public.data_requests).id),
  'P0002', null, 'and is not verified afterwards');
select ok(not exists (select 1 from private.data_requests_open() where requester in ('alice@example.test', 'stranger@example.test')),
  'answered requests leave the open list');

-- The CCPA's two per 12 months count a person's requests by account and by address together.
select tests.authenticate_as('alice');
select (public.file_data_request('ccpa', 'know')).status as first_status \gset
select tests.clear_authentication();
select is(:'first_status'::text, 'in_progress', 'a signed-in user''s CCPA request is verified by their sign-in');
select lives_ok($$ select private.file_emailed_data_request('alice@example.test', 'ccpa', 'delete') $$, 'a second one by e-mail');
select throws_ok($$ select private.file_emailed_data_request('ALICE@example.test', 'ccpa', 'correct') $$, 'P0429', null,
  'a third in the year is refused, whichever way it comes');
select ok((select due_at = requested_at + interval '45 days' from public.data_requests
            where law = 'ccpa' and kind = 'delete' and requester_email = 'alice@example.test'), 'CCPA requests are due in 45 days');

-- Nobody else's requests, and no writes, for a signed-in user.
select tests.authenticate_as('bob');
select is((select count(*)::int from public.data_requests), 0, 'a user reads none of another''s requests');
select throws_ok($$ select private.verify_data_request(gen_random_uuid(), true) $$, '42501', null,
  'the operator''s functions are not a user''s');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Restriction

select lives_ok(format($$ select private.restrict_processing(%L, 'operator') $$, :'alice'), 'the operator restricts alice');
select throws_ok(format($$ insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body,
                                  status, source, sent_by)
                          values (%L, %L, 'outbound', '+15550007001', '+15550007002', 'hi', 'queued', 'manual', %L) $$,
                        :'alice_ws', :'conv', :'bob'),
  'P0423', 'sending a message is refused: processing is restricted for this account until the restriction is lifted',
  'nothing is sent from a workspace its restricted owner owns, whoever sends');
select throws_ok(format($$ insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body,
                                  status, source)
                          values (%L, %L, 'outbound', '+15550007001', '+15550007002', 'hi', 'queued', 'auto_reply') $$,
                        :'alice_ws', :'conv'), 'P0423', null, 'nor any automated reply');
select throws_ok(format($$ insert into public.calls (workspace_id, phone_number_id, twilio_sid, direction, from_e164, to_e164,
                                  placed_by, status)
                          values (%L, %L, 'CA' || md5('restricted'), 'outbound', '+15550007001', '+15550007002', %L, 'queued') $$,
                        :'alice_ws', :'num', :'bob'), 'P0423', null, 'no call is placed');
select lives_ok(format($$ select private.receive_inbound_message(%L, %L, 'SM' || md5('inbound-restricted'), '+15550007003',
                                  '+15550007001', 'hello', 1, '[]') $$, :'alice_ws', :'num'),
  'an inbound text is still received');
select is((select count(*)::int from public.messages where twilio_sid = 'SM' || md5('inbound-restricted')), 1, 'and stored');
select ok(private.lift_processing_restriction(:'alice', null, 'operator'), 'the operator lifts it');
select is((select details ->> 'restricted_by' from public.audit_log where action = 'processing.restriction_lifted'
            and target_id = :'alice'), 'operator', 'lifting is audited with what it lifted');

-- ---------------------------------------------------------------------------------------
-- Consent

select tests.authenticate_as('bob');
select public.set_product_email_consent(true, 'settings');
select throws_ok($$ select public.set_product_email_consent(false, 'operator') $$, '22023', null,
  'a client records only its own sources');
select tests.clear_authentication();
select ok(exists (select 1 from private.product_email_recipients() where user_id = :'bob'), 'with consent, product e-mails');
select ok(not exists (select 1 from private.product_email_recipients() where user_id = :'alice'),
  'without a record, none');

select * from finish();
rollback;
