-- Every retention rule, with a controllable clock (each job takes p_now): a row just past its
-- limit goes, one just inside stays, and so does everything the rule does not govern. Then every
-- job is in cron.job, and public.retention_status reads 0 overdue once they have run.
--   90 days     messages, conversations (by their last message), calls (their recordings queued
--               for deletion at Twilio), campaign recipients (by their outcome), contacts only
--               inbound traffic made; Stripe event ids
--   30 days     webhook deliveries
--   12 months   access_log, audit_log
--   7 years     invoices
--   deletions   carried out once the 7-day grace period is over, and alerted past 30 days
begin;
select plan(41);

select tests.create_user('owner');
select tests.personal_workspace('owner') as ws \gset
insert into public.twilio_accounts (workspace_id, account_sid) values (:'ws', 'AC' || repeat('e', 32));
insert into public.phone_numbers (id, workspace_id, twilio_sid, e164)
values ('b1000000-0000-4000-8000-000000000001', :'ws', 'PN' || repeat('e', 32), '+14155550155');

-- ---------------------------------------------------------------------------------------
-- 90 days: messages, conversations, calls
insert into public.contacts (id, workspace_id, phone_e164, first_name) values
  ('b2000000-0000-4000-8000-000000000001', :'ws', '+14155550001', 'Old thread'),
  ('b2000000-0000-4000-8000-000000000002', :'ws', '+14155550002', 'Live thread');
insert into public.conversations (id, workspace_id, phone_number_id, contact_id, last_message_at) values
  ('b3000000-0000-4000-8000-000000000001', :'ws', 'b1000000-0000-4000-8000-000000000001',
   'b2000000-0000-4000-8000-000000000001', now() - interval '90 days 1 hour'),
  ('b3000000-0000-4000-8000-000000000002', :'ws', 'b1000000-0000-4000-8000-000000000001',
   'b2000000-0000-4000-8000-000000000002', now() - interval '89 days 23 hours');
insert into public.messages (id, workspace_id, conversation_id, direction, from_e164, to_e164, body, status, created_at) values
  ('b4000000-0000-4000-8000-000000000001', :'ws', 'b3000000-0000-4000-8000-000000000002', 'inbound',
   '+14155550002', '+14155550155', 'just past', 'received', now() - interval '90 days 1 hour'),
  ('b4000000-0000-4000-8000-000000000002', :'ws', 'b3000000-0000-4000-8000-000000000002', 'inbound',
   '+14155550002', '+14155550155', 'just inside', 'received', now() - interval '89 days 23 hours');
insert into public.calls (id, workspace_id, twilio_sid, direction, from_e164, to_e164, status, recording_sid,
                          recording_duration_seconds, created_at) values
  ('b5000000-0000-4000-8000-000000000001', :'ws', 'CA' || repeat('e', 32), 'inbound', '+14155550003',
   '+14155550155', 'completed', 'RE' || repeat('e', 32), 12, now() - interval '90 days 1 hour'),
  ('b5000000-0000-4000-8000-000000000002', :'ws', 'CA' || repeat('f', 32), 'inbound', '+14155550003',
   '+14155550155', 'completed', 'RE' || repeat('f', 32), 8, now() - interval '89 days 23 hours');

-- Campaign recipients: by their outcome; those still to be sent stay whatever their age.
insert into public.campaigns (id, workspace_id, name, phone_number_id, body)
values ('b6000000-0000-4000-8000-000000000001', :'ws', 'Spring', 'b1000000-0000-4000-8000-000000000001', 'Hi');
insert into public.campaign_recipients (workspace_id, campaign_id, phone_e164, status, sent_at, created_at) values
  (:'ws', 'b6000000-0000-4000-8000-000000000001', '+14155550011', 'sent', now() - interval '90 days 1 hour',
   now() - interval '100 days'),
  (:'ws', 'b6000000-0000-4000-8000-000000000001', '+14155550012', 'sent', now() - interval '89 days 23 hours',
   now() - interval '100 days'),
  (:'ws', 'b6000000-0000-4000-8000-000000000001', '+14155550013', 'pending', null, now() - interval '200 days');
update public.campaign_recipients set updated_at = now() - interval '200 days' where phone_e164 = '+14155550013';

-- Contacts: only those an inbound text or call made, that nobody kept, go once their logs have.
insert into public.contact_lists (id, workspace_id, name) values ('b7000000-0000-4000-8000-000000000001', :'ws', 'VIP');
insert into public.contacts (id, workspace_id, phone_e164, created_from, first_name, tags, created_at) values
  ('b2000000-0000-4000-8000-000000000010', :'ws', '+14155550020', 'inbound_call', null, '{}', now() - interval '100 days'),
  ('b2000000-0000-4000-8000-000000000011', :'ws', '+14155550021', 'inbound_message', null, '{}', now() - interval '100 days'),
  ('b2000000-0000-4000-8000-000000000012', :'ws', '+14155550022', 'inbound_call', 'Named since', '{}', now() - interval '100 days'),
  ('b2000000-0000-4000-8000-000000000013', :'ws', '+14155550023', 'inbound_message', null, '{lead}', now() - interval '100 days'),
  ('b2000000-0000-4000-8000-000000000014', :'ws', '+14155550024', 'inbound_message', null, '{}', now() - interval '100 days'),
  ('b2000000-0000-4000-8000-000000000015', :'ws', '+14155550025', 'inbound_call', null, '{}', now() - interval '89 days'),
  ('b2000000-0000-4000-8000-000000000016', :'ws', '+14155550026', null, null, '{}', now() - interval '100 days'),
  ('b2000000-0000-4000-8000-000000000017', :'ws', '+14155550027', 'inbound_message', null, '{}', now() - interval '100 days');
insert into public.contact_list_members (workspace_id, list_id, contact_id)
values (:'ws', 'b7000000-0000-4000-8000-000000000001', 'b2000000-0000-4000-8000-000000000014');
-- ...17 still has a live conversation.
insert into public.conversations (workspace_id, phone_number_id, contact_id, last_message_at)
values (:'ws', 'b1000000-0000-4000-8000-000000000001', 'b2000000-0000-4000-8000-000000000017', now() - interval '1 day');
-- ...and 10's old call goes in this very run, which then frees it.
update public.calls set contact_id = 'b2000000-0000-4000-8000-000000000010'
 where id = 'b5000000-0000-4000-8000-000000000001';

-- 30 days: webhook deliveries
insert into public.webhook_endpoints (id, workspace_id, url)
values ('b8000000-0000-4000-8000-000000000001', :'ws', 'https://hooks.example.com/retention');
insert into public.webhook_deliveries (workspace_id, endpoint_id, event, event_id, payload, created_at) values
  (:'ws', 'b8000000-0000-4000-8000-000000000001', 'message.received', gen_random_uuid(), '{"n": "past"}',
   now() - interval '30 days 1 hour'),
  (:'ws', 'b8000000-0000-4000-8000-000000000001', 'message.received', gen_random_uuid(), '{"n": "inside"}',
   now() - interval '29 days 23 hours');

select lives_ok($$ select private.purge_expired_logs(now()) $$, 'the nightly purge runs');
select is_empty($$ select 1 from public.messages where id = 'b4000000-0000-4000-8000-000000000001' $$,
  'a message 90 days and an hour old is purged');
select isnt_empty($$ select 1 from public.messages where id = 'b4000000-0000-4000-8000-000000000002' $$,
  'one an hour short of 90 days stays');
select is_empty($$ select 1 from public.conversations where id = 'b3000000-0000-4000-8000-000000000001' $$,
  'a conversation whose last message is past 90 days is purged');
select isnt_empty($$ select 1 from public.conversations where id = 'b3000000-0000-4000-8000-000000000002' $$,
  'one whose last message is inside them stays');
select is_empty($$ select 1 from public.calls where id = 'b5000000-0000-4000-8000-000000000001' $$,
  'a call past 90 days is purged');
select isnt_empty($$ select 1 from public.calls where id = 'b5000000-0000-4000-8000-000000000002' $$,
  'a call inside them stays');
select results_eq($$ select action, account_sid, workspace_id, reason, due_by <= now() + interval '1 day'
                       from private.provider_cleanup where resource_id = 'RE' || repeat('e', 32) $$,
  format($$ values ('delete_recording', 'AC' || repeat('e', 32), %L::uuid, 'retention', true) $$, :'ws'),
  'the purged call''s recording is queued for deletion at Twilio, due within a day');
select is_empty($$ select 1 from private.provider_cleanup where resource_id = 'RE' || repeat('f', 32) $$,
  'the kept call''s recording is not');
select results_eq($$ select phone_e164 from public.campaign_recipients
                      where campaign_id = 'b6000000-0000-4000-8000-000000000001' order by phone_e164 $$,
  array['+14155550012', '+14155550013'],
  'campaign recipients go 90 days after their outcome; one not yet sent stays');
select results_eq($$ select id::text from public.contacts where id::text like 'b2000000-0000-4000-8000-0000000000%'
                      and phone_e164 between '+14155550020' and '+14155550029' order by id $$,
  array['b2000000-0000-4000-8000-000000000012', 'b2000000-0000-4000-8000-000000000013',
        'b2000000-0000-4000-8000-000000000014', 'b2000000-0000-4000-8000-000000000015',
        'b2000000-0000-4000-8000-000000000016', 'b2000000-0000-4000-8000-000000000017'],
  'contacts only inbound traffic made go once nothing else is left (10 with its call, 11); named, tagged, '
  'listed, recent, member-made and still-talking ones stay');
select isnt_empty($$ select 1 from public.contacts where id in ('b2000000-0000-4000-8000-000000000001',
                                                                  'b2000000-0000-4000-8000-000000000002') $$,
  'contacts members made stay');
select results_eq($$ select payload ->> 'n' from public.webhook_deliveries
                      where endpoint_id = 'b8000000-0000-4000-8000-000000000001' $$,
  array['inside'], 'webhook deliveries go after 30 days');
select results_eq($$ select (details ->> 'contacts')::int >= 2, (details ->> 'campaign_recipients')::int >= 1
                       from public.audit_log where action = 'retention.purge' order by id desc limit 1 $$,
  $$ values (true, true) $$, 'the run is audited with its counts');

-- ---------------------------------------------------------------------------------------
-- 12 months: access_log (audit_log: audit_log.test.sql)
insert into public.access_log (user_id, method, route, status, created_at) values
  (tests.user_id('owner'), 'GET', '/api/v1/me', 200, now() - interval '12 months 1 day'),
  (tests.user_id('owner'), 'GET', '/api/v1/billing', 200, now() - interval '11 months 29 days');
select lives_ok($$ select private.purge_expired_access_log(now()) $$, 'the access log purge runs');
select results_eq(format($$ select route from public.access_log where user_id = %L $$, tests.user_id('owner')),
  array['/api/v1/billing'], 'access_log rows go after 12 months, not before');

-- 7 years: invoices; 90 days: Stripe event ids
insert into public.invoices (workspace_id, stripe_invoice_id, stripe_customer_id, status, currency, total,
                             stripe_created, stripe_updated) values
  (:'ws', 'in_retentionpast', 'cus_retention', 'paid', 'usd', 100, now() - interval '7 years 1 day', now()),
  (:'ws', 'in_retentioninside', 'cus_retention', 'paid', 'usd', 100, now() - interval '7 years' + interval '1 day', now());
insert into public.stripe_events (id, type, created, received_at) values
  ('evt_retentionpast', 'invoice.paid', now(), now() - interval '90 days 1 hour'),
  ('evt_retentioninside', 'invoice.paid', now(), now() - interval '89 days 23 hours');
select lives_ok($$ select private.purge_expired_billing_records(now()) $$, 'the billing purge runs');
select results_eq($$ select stripe_invoice_id from public.invoices where stripe_customer_id = 'cus_retention' $$,
  array['in_retentioninside'], 'invoices go after 7 years, not before');
select results_eq($$ select id from public.stripe_events where id like 'evt_retention%' $$,
  array['evt_retentioninside'], 'Stripe event ids go after 90 days');
select isnt_empty($$ select 1 from public.invoices where stripe_invoice_id = 'in_retentioninside'
                     and workspace_id is not null $$, 'the log purge never touches invoices');

-- ---------------------------------------------------------------------------------------
-- Deletions: carried out once the 7-day grace period is over, never later than 30 days.
update public.data_requests set status = 'canceled', canceled_at = now()
 where kind = 'deletion' and status in ('requested', 'scheduled', 'failed');
select tests.create_user('leaving');
select tests.authenticate_as('leaving');
select (public.request_account_deletion()).id as leaving_req \gset
select tests.clear_authentication();
select is(private.delete_due_accounts(now() + interval '7 days' - interval '1 minute') ->> 'completed', '0',
  'a minute before its grace period ends the account stays');
select isnt_empty(format($$ select 1 from auth.users where id = %L $$, tests.user_id('leaving')), 'still there');
select is(private.delete_due_accounts(now() + interval '7 days') ->> 'completed', '1',
  'once it ends the account is deleted');
select is_empty(format($$ select 1 from auth.users u where u.raw_user_meta_data ->> 'test_handle' = 'leaving' $$),
  'gone');

-- One that could not be done in 30 days: audited and raised every day until it is.
insert into public.data_requests (user_id, kind, status, requested_at, scheduled_for, details)
values (tests.user_id('owner'), 'deletion', 'failed', now() - interval '31 days', now() - interval '24 days',
        '{"attempts": 24}') returning id as late_req \gset
insert into private.provider_cleanup (action, resource_id, account_sid, reason, due_by)
values ('delete_recording', 'RE' || repeat('9', 32), 'AC' || repeat('e', 32), 'workspace_deleted', now() - interval '1 hour');
select results_eq($$ select kind from private.overdue_deletions(now()) order by kind $$,
  array['data_request', 'provider_cleanup'], 'a request open past 30 days and a task past its due date are overdue');
select is(private.record_overdue_deletions(now()), 2, 'the daily check audits each');
select results_eq(format($$ select target_type, workspace_id, (details ->> 'days_overdue')::int from public.audit_log
                            where action = 'deletion.overdue' and target_id = %L $$, :'late_req'),
  $$ values ('data_request', null::uuid, 1) $$, '... as deletion.overdue, with how late it is');
select throws_ok($$ select private.raise_if_deletions_overdue(now()) $$, 'P0001',
  '2 deletion(s) past the 30 days promised (deletion.overdue in audit_log; numeraloop privacy status)',
  'and its alert fails with an ERROR, which pg_cron records and the server logs');
select is((select overdue_rows from private.retention_status(now()) where rule = 'account_deletions'), 1::bigint,
  'retention_status counts the overdue request');
select is((select overdue_rows from private.retention_status(now()) where rule = 'provider_deletions'), 1::bigint,
  '... and the overdue task');
update public.data_requests set status = 'completed', completed_at = now(), user_id = null where id = :'late_req';
delete from private.provider_cleanup where resource_id = 'RE' || repeat('9', 32);
select is(private.raise_if_deletions_overdue(now()), 0, 'once done, the alert is quiet');
select is(private.record_overdue_deletions(now()), 0, 'and nothing more is audited');

-- ---------------------------------------------------------------------------------------
-- Every job scheduled, and nothing overdue once they ran.
select is(array(select jobname::text collate "default" from cron.job where jobname in (
    'numeraloop-retention', 'numeraloop-access-log-retention', 'numeraloop-audit-log-retention',
    'numeraloop-billing-retention', 'numeraloop-account-deletion', 'numeraloop-deletion-overdue-audit',
    'numeraloop-deletion-overdue-alert') order by 1),
  array['numeraloop-access-log-retention', 'numeraloop-account-deletion', 'numeraloop-audit-log-retention',
        'numeraloop-billing-retention', 'numeraloop-deletion-overdue-alert', 'numeraloop-deletion-overdue-audit',
        'numeraloop-retention'], 'every retention and deletion job is scheduled in cron.job');
select is_empty($$ select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                    where n.nspname = 'private' and p.proname ~ '^(purge_expired_|delete_due_|record_overdue|raise_if)'
                      and not exists (select 1 from cron.job j where j.command like '%private.' || p.proname || '(%') $$,
  'no purge or deletion function is left unscheduled');
select is((select count(*)::int from cron.job where jobname like 'numeraloop-%' and schedule !~ '^\d+ \d+ \* \* \*$'
            and jobname in ('numeraloop-retention', 'numeraloop-access-log-retention', 'numeraloop-audit-log-retention',
                            'numeraloop-billing-retention', 'numeraloop-account-deletion',
                            'numeraloop-deletion-overdue-audit', 'numeraloop-deletion-overdue-alert')), 0,
  'each runs daily');
select is((select schedule from cron.job where jobname = 'numeraloop-deletion-overdue-alert')
          > (select schedule from cron.job where jobname = 'numeraloop-deletion-overdue-audit'), true,
  'the alert runs after the audit, whose rows its failure would otherwise roll back');

select lives_ok($$ select private.purge_expired_audit_log(now()) $$, 'the audit purge runs');
select results_eq($$ select rule from private.retention_status(now()) where overdue_rows > 0 $$,
  array[]::text[], 'once every job has run, no rule has an overdue row');
select is((select count(*)::int from private.retention_status(now())), 12, 'twelve rules are reported');
select tests.authenticate_as('owner');
select throws_ok($$ select * from public.retention_status $$, '42501', null, 'clients cannot read the status');
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select lives_ok($$ select * from public.retention_status $$, 'service_role can');
select tests.clear_authentication();

select * from finish();
rollback;
