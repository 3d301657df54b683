-- Retention: call and SMS logs older than 90 days are purged nightly; recent ones, opt-outs
-- and contacts stay.
begin;
select plan(12);

select tests.create_user('owner');
select tests.personal_workspace('owner') as ws \gset

insert into public.phone_numbers (id, workspace_id, twilio_sid, e164)
values ('33333333-3333-4333-8333-333333333333', :'ws', 'PN' || repeat('c', 32), '+14155550177');
insert into public.contacts (id, workspace_id, phone_e164) values
  ('44444444-4444-4444-8444-444444444401', :'ws', '+14155550001'),
  ('44444444-4444-4444-8444-444444444402', :'ws', '+14155550002');
-- An old conversation (all messages old) and a live one with an old and a new message.
insert into public.conversations (id, workspace_id, phone_number_id, contact_id, last_message_at) values
  ('55555555-5555-4555-8555-555555555501', :'ws', '33333333-3333-4333-8333-333333333333',
   '44444444-4444-4444-8444-444444444401', now() - interval '120 days'),
  ('55555555-5555-4555-8555-555555555502', :'ws', '33333333-3333-4333-8333-333333333333',
   '44444444-4444-4444-8444-444444444402', now() - interval '1 day');
insert into public.messages (id, workspace_id, conversation_id, direction, from_e164, to_e164, body, status, created_at) values
  ('66666666-6666-4666-8666-666666666601', :'ws', '55555555-5555-4555-8555-555555555501', 'inbound',
   '+14155550001', '+14155550177', 'old thread', 'received', now() - interval '120 days'),
  ('66666666-6666-4666-8666-666666666602', :'ws', '55555555-5555-4555-8555-555555555502', 'inbound',
   '+14155550002', '+14155550177', 'old message in a live thread', 'received', now() - interval '91 days'),
  ('66666666-6666-4666-8666-666666666603', :'ws', '55555555-5555-4555-8555-555555555502', 'inbound',
   '+14155550002', '+14155550177', 'recent', 'received', now() - interval '1 day');
insert into public.message_media (workspace_id, message_id, url, content_type, position)
values (:'ws', '66666666-6666-4666-8666-666666666602', 'https://media.example.com/x.jpg', 'image/jpeg', 0);
insert into public.calls (workspace_id, twilio_sid, direction, from_e164, to_e164, status, created_at) values
  (:'ws', 'CA' || repeat('1', 32), 'inbound', '+14155550001', '+14155550177', 'completed', now() - interval '100 days'),
  (:'ws', 'CA' || repeat('2', 32), 'inbound', '+14155550001', '+14155550177', 'completed', now() - interval '89 days');
insert into public.opt_outs (workspace_id, phone_e164, source, opted_out_at)
values (:'ws', '+14155550001', 'manual', now() - interval '200 days');

select is((private.purge_expired_logs() ->> 'messages')::int, 1, 'one old message in a live thread is purged');
select is_empty($$ select 1 from public.conversations where id = '55555555-5555-4555-8555-555555555501' $$,
  'a conversation whose last message is older than 90 days is purged (its preview is content)');
select is_empty($$ select 1 from public.messages where id in ('66666666-6666-4666-8666-666666666601',
                                                              '66666666-6666-4666-8666-666666666602') $$,
  'messages older than 90 days are gone');
select is_empty($$ select 1 from public.message_media where message_id = '66666666-6666-4666-8666-666666666602' $$,
  'their media goes with them');
select isnt_empty($$ select 1 from public.messages where id = '66666666-6666-4666-8666-666666666603' $$,
  'recent messages stay');
select is((select count(*)::int from public.calls where workspace_id = :'ws'), 1, 'calls older than 90 days are purged');
select is((select twilio_sid from public.calls where workspace_id = :'ws'), 'CA' || repeat('2', 32), 'an 89-day-old call stays');
select isnt_empty($$ select 1 from public.opt_outs where phone_e164 = '+14155550001' $$, 'opt-outs are kept');
select is((select count(*)::int from public.contacts where workspace_id = :'ws'), 2, 'contacts are kept');
select is((select action from public.audit_log where action = 'retention.purge' order by id desc limit 1),
  'retention.purge', 'each run is audit-logged with its counts');
select is((select schedule from cron.job where jobname = 'numeraloop-retention'), '17 3 * * *',
  'the purge runs nightly under pg_cron');
select tests.authenticate_as('owner');
select throws_ok($$ select private.purge_expired_logs() $$, '42501', null, 'clients cannot run the purge');
select tests.clear_authentication();

select * from finish();
rollback;
