-- audit_log: append-only for every role (anon, authenticated, service_role and the owner itself)
-- but the 12-month retention job; its rows outlive their workspace and their actor, detached and
-- holding no text; what clients write through PostgREST is audited by triggers; exports show up
-- in each of the exporter's workspaces for its admins.
begin;
select plan(38);

select tests.create_user('owner');
select tests.create_user('admin');
select tests.create_user('agent');
select tests.create_user('leaver');
select tests.personal_workspace('owner') as ws \gset
-- A paid workspace has room for the four of them.
insert into public.subscriptions (workspace_id, stripe_subscription_id, stripe_customer_id, plan_id, status, stripe_updated)
values (:'ws', 'sub_auditlogtest', 'cus_auditlogtest', 'starter', 'active', now());
insert into public.workspace_members (workspace_id, user_id, role) values
  (:'ws', tests.user_id('admin'), 'admin'), (:'ws', tests.user_id('agent'), 'agent'),
  (:'ws', tests.user_id('leaver'), 'agent');
select private.write_audit_log(:'ws', tests.user_id('owner'), 'test.row', 'invitation', 'x',
                               '{"email": "someone@example.test", "count": 3, "nested": {"n": 1, "note": "text"}}',
                               null) as row_id \gset

-- ---------------------------------------------------------------------------------------
-- Append-only, per role
select tests.authenticate_as_anon();
select is(tests.attempt(format($$ update public.audit_log set action = 'x.y' where id = %s $$, :'row_id')), 'denied',
  'anon cannot update audit_log');
select is(tests.attempt(format($$ delete from public.audit_log where id = %s $$, :'row_id')), 'denied',
  'anon cannot delete from audit_log');
select tests.authenticate_as('owner');
select is(tests.attempt(format($$ update public.audit_log set action = 'x.y' where id = %s $$, :'row_id')), 'denied',
  'authenticated (even the workspace owner) cannot update audit_log');
select is(tests.attempt(format($$ delete from public.audit_log where id = %s $$, :'row_id')), 'denied',
  'authenticated cannot delete from audit_log');
select is(tests.attempt($$ truncate public.audit_log $$), 'denied', 'authenticated cannot truncate audit_log');
select tests.authenticate_as_service_role();
select is(tests.attempt(format($$ update public.audit_log set details = '{}' where id = %s $$, :'row_id')), 'denied',
  'service_role cannot update audit_log');
select is(tests.attempt(format($$ delete from public.audit_log where id = %s $$, :'row_id')), 'denied',
  'service_role cannot delete from audit_log');
select is(tests.attempt($$ truncate public.audit_log $$), 'denied', 'service_role cannot truncate audit_log');
select tests.clear_authentication();
select throws_ok(format($$ update public.audit_log set action = 'x.y' where id = %s $$, :'row_id'), '42501', null,
  'nor can the table''s owner update a row');
select throws_ok(format($$ delete from public.audit_log where id = %s $$, :'row_id'), '42501', null,
  'or delete one');
select throws_ok($$ truncate public.audit_log $$, '42501', null, 'or truncate it');
select throws_ok(format($$ update public.audit_log set workspace_id = null, details = '{}' where id = %s $$, :'row_id'),
  '42501', null, 'detaching is not a way to rewrite a row''s details');
select is((select action from public.audit_log where id = :'row_id'), 'test.row', 'the row is untouched');

-- ---------------------------------------------------------------------------------------
-- Retention: 12 months, with a controllable clock; the one delete allowed.
select private.write_audit_log(:'ws', null, 'test.old', null, null, '{}', null) as old_id \gset
select private.write_audit_log(:'ws', null, 'test.recent', null, null, '{}', null) as recent_id \gset
select is(private.purge_expired_audit_log(now() + interval '11 months') >= 0, true, 'the purge runs');
select isnt_empty(format($$ select 1 from public.audit_log where id = %s $$, :'old_id'),
  'a row 11 months old stays');
select is(private.purge_expired_audit_log(now() + interval '12 months 1 day') >= 2, true,
  'a row over 12 months old is purged');
select is_empty(format($$ select 1 from public.audit_log where id in (%s, %s) $$, :'old_id', :'recent_id'),
  'rows over 12 months old are gone');
select throws_ok(format($$ delete from public.audit_log where id = %s $$, (select max(id) from public.audit_log)),
  '42501', null, 'after the purge the table is append-only again in the same transaction');
select is((select schedule from cron.job where jobname = 'numeraloop-audit-log-retention'), '37 3 * * *',
  'the audit log purge runs nightly under pg_cron');

-- ---------------------------------------------------------------------------------------
-- Triggers: what signed-in users write through PostgREST
insert into public.phone_numbers (id, workspace_id, twilio_sid, e164)
values ('a1000000-0000-4000-8000-000000000001', :'ws', 'PN' || repeat('d', 32), '+14155550166');
select tests.authenticate_as('owner');
update public.workspace_members set role = 'admin' where user_id = tests.user_id('agent');
update public.phone_numbers set forward_to = '{+14155550100}', voicemail_enabled = true
 where id = 'a1000000-0000-4000-8000-000000000001';
update public.phone_numbers set friendly_name = 'Front desk' where id = 'a1000000-0000-4000-8000-000000000001';
insert into public.call_routing_rules (workspace_id, phone_number_id, action, forward_to)
values (:'ws', 'a1000000-0000-4000-8000-000000000001', 'forward', '{+14155550101}') returning id as rule_id \gset
update public.call_routing_rules set priority = 5 where id = :'rule_id';
delete from public.call_routing_rules where id = :'rule_id';
insert into public.webhook_endpoints (workspace_id, url)
values (:'ws', 'https://hooks.example.com/audit') returning id as endpoint_id \gset
update public.webhook_endpoints set description = 'CRM' where id = :'endpoint_id';
select public.rotate_webhook_secret(:'endpoint_id') is not null as rotated;
delete from public.webhook_endpoints where id = :'endpoint_id';
delete from public.workspace_members where user_id = tests.user_id('admin') and workspace_id = :'ws';
select tests.authenticate_as('leaver');
delete from public.workspace_members where user_id = tests.user_id('leaver') and workspace_id = :'ws';
select tests.clear_authentication();

create temporary view trail as
  select action, actor_user_id, target_type, target_id, details from public.audit_log
   where workspace_id = :'ws' and action !~ '^test\.' order by id;
select results_eq($$ select action from trail $$, array[
  'member.role_changed', 'phone_number.settings_changed', 'call_routing_rule.created', 'call_routing_rule.updated',
  'call_routing_rule.deleted', 'webhook_endpoint.created', 'webhook_endpoint.updated',
  'webhook_endpoint.secret_rotated', 'webhook_endpoint.deleted', 'member.removed', 'member.removed'],
  'every client write of a member, a number''s call settings, a routing rule or a webhook endpoint is audited '
  '(renaming a number is not a call setting)');
select is((select count(*)::int from trail where actor_user_id = tests.user_id('owner')), 10,
  'with the signed-in user as the actor');
select is((select details from trail where action = 'member.role_changed'), '{"from": "agent", "to": "admin"}'::jsonb,
  'a role change says from and to');
select is((select target_id from trail where action = 'member.role_changed'), tests.user_id('agent')::text,
  '... and whose');
select is((select details from trail where action = 'phone_number.settings_changed'),
  '{"fields": ["forward_to", "voicemail_enabled"], "voicemail_enabled": true}'::jsonb,
  'a number''s change names the settings changed, and whether recording is now on, never the forwarding number');
select is((select target_id from trail where action = 'phone_number.settings_changed'), 'PN' || repeat('d', 32),
  '... by its Twilio SID');
select is((select details from trail where action = 'call_routing_rule.updated'), '{"fields": ["priority"]}'::jsonb,
  'a rule''s change names its fields');
select is((select details from trail where action = 'webhook_endpoint.secret_rotated'), '{"secret_rotated": true}'::jsonb,
  'a rotated webhook secret is audited without the secret');
select is_empty($$ select 1 from public.audit_log a join public.webhook_endpoints e on a.details::text like '%' || e.secret || '%' $$,
  'no secret is in the audit log');
select results_eq($$ select details ->> 'left' from trail where action = 'member.removed' $$,
  array['false', 'true'], 'removed by an admin, then one who left');
select is((select count(*)::int from trail where details::text like '%hooks.example.com%' or details::text like '%+1415%'),
  0, 'no URL or phone number is in the trail');

-- The service's and the jobs' own writes are audited where they happen, not twice.
update public.phone_numbers set whisper_text = 'written by the service' where id = 'a1000000-0000-4000-8000-000000000001';
select is((select count(*)::int from trail where action = 'phone_number.settings_changed'), 1,
  'a write with no signed-in user is not a client write');

-- ---------------------------------------------------------------------------------------
-- Exports are visible to the exporter's workspaces' admins
select tests.authenticate_as('agent');
select public.export_my_data('json') is not null as exported;
select tests.authenticate_as('owner');
select is((select count(*)::int from public.audit_log where action = 'data.workspace_export'
            and actor_user_id = tests.user_id('agent') and workspace_id = :'ws'), 1,
  'an admin of the workspace sees that a member exported its data');
select tests.authenticate_as('agent');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Detached, not deleted: the actor's account goes, then the workspace
select private.delete_account(tests.user_id('leaver')) is not null as leaver_deleted;
select tests.create_user('team');
select tests.authenticate_as('team');
select (public.create_workspace('Team')).id as team_ws \gset
select tests.clear_authentication();
select private.write_audit_log(:'team_ws', tests.user_id('team'), 'test.team_row', 'invitation', 'y',
                               '{"email": "invitee@example.test", "role": "agent", "count": 2}', null) as team_row \gset
select tests.authenticate_as('team');
delete from public.workspaces where id = :'team_ws';
select tests.clear_authentication();
select is((select workspace_id from public.audit_log where id = :'team_row'), null,
  'a deleted workspace''s audit rows stay, detached');
select is((select details from public.audit_log where id = :'team_row'), '{"count": 2}'::jsonb,
  'keeping only their numbers: no e-mail address, no text');
select is((select actor_user_id from public.audit_log where id = :'team_row'), tests.user_id('team'),
  'the actor stays until their own account goes');
select results_eq(format($$ select workspace_id, actor_user_id, target_id from public.audit_log
                            where action = 'workspace.deleted' and target_id = %L $$, :'team_ws'),
  format($$ values (null::uuid, %L::uuid, %L) $$, tests.user_id('team'), :'team_ws'),
  'the deletion itself is audited, detached, with who did it');
select is((select details ->> 'members' from public.audit_log where action = 'workspace.deleted'
            and target_id = :'team_ws'), '1', '... and what went, in counts');
select private.delete_account(tests.user_id('team')) is not null as team_deleted;
select is((select actor_user_id from public.audit_log where id = :'team_row'), null,
  'a deleted account''s rows lose their actor');

select * from finish();
rollback;
