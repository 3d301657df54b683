-- Your data: data_requests are private to their user and written only through functions;
-- account deletion is idempotent, cancellable, and carried out by the daily job once due;
-- the export holds the caller's data and nothing of another workspace.
begin;
select plan(56);

-- Alice owns her personal workspace alone, owns "Team" alone (Bob is an agent there) and
-- co-owns "Shared" with Carol. Dave is bystander; Erin's deletion will fail once.
select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('carol');
select tests.create_user('dave');
select tests.create_user('erin');
select tests.user_id('alice') as alice, tests.personal_workspace('alice') as alice_ws,
       tests.user_id('erin') as erin, tests.personal_workspace('erin') as erin_ws,
       tests.personal_workspace('dave') as dave_ws \gset

insert into public.workspaces (id, name, created_by) values
  ('a0000000-0000-4000-8000-00000000000a', 'Team', :'alice'),
  ('a0000000-0000-4000-8000-00000000000b', 'Shared', tests.user_id('carol'));
insert into public.workspace_members (workspace_id, user_id, role) values
  ('a0000000-0000-4000-8000-00000000000a', :'alice', 'owner'),
  ('a0000000-0000-4000-8000-00000000000a', tests.user_id('bob'), 'agent'),
  ('a0000000-0000-4000-8000-00000000000b', tests.user_id('carol'), 'owner'),
  ('a0000000-0000-4000-8000-00000000000b', :'alice', 'owner');

-- Rows in Alice's personal workspace, in the shared one and in Dave's.
insert into public.phone_numbers (id, workspace_id, twilio_sid, e164) values
  ('b0000000-0000-4000-8000-000000000001', :'alice_ws', 'PN' || repeat('1', 32), '+61491570101'),
  ('b0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-00000000000b', 'PN' || repeat('2', 32), '+61491570102'),
  ('b0000000-0000-4000-8000-000000000003', :'dave_ws', 'PN' || repeat('3', 32), '+61491570103');
insert into public.contacts (id, workspace_id, phone_e164, first_name) values
  ('c0000000-0000-4000-8000-000000000001', :'alice_ws', '+14155550201', 'Alices Customer'),
  ('c0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-00000000000b', '+14155550202', 'Shared Customer'),
  ('c0000000-0000-4000-8000-000000000003', :'dave_ws', '+14155550203', 'Daves Customer');
insert into public.conversations (id, workspace_id, phone_number_id, contact_id) values
  ('d0000000-0000-4000-8000-000000000001', :'alice_ws', 'b0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001'),
  ('d0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-00000000000b', 'b0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000002'),
  ('d0000000-0000-4000-8000-000000000003', :'dave_ws', 'b0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000003');
insert into public.messages (id, workspace_id, conversation_id, direction, from_e164, to_e164, body, status, source, sent_by) values
  ('e0000000-0000-4000-8000-000000000001', :'alice_ws', 'd0000000-0000-4000-8000-000000000001', 'inbound',
   '+14155550201', '+61491570101', 'hello alice', 'received', null, null),
  ('e0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-00000000000b', 'd0000000-0000-4000-8000-000000000002', 'outbound',
   '+61491570102', '+14155550202', 'sent by alice in shared', 'sent', 'manual', :'alice'),
  ('e0000000-0000-4000-8000-000000000003', :'dave_ws', 'd0000000-0000-4000-8000-000000000003', 'inbound',
   '+14155550203', '+61491570103', 'dave private', 'received', null, null);
insert into public.message_media (workspace_id, message_id, url, content_type, position) values
  (:'alice_ws', 'e0000000-0000-4000-8000-000000000001', 'https://media.example.com/alice.jpg', 'image/jpeg', 0);
insert into public.calls (workspace_id, twilio_sid, direction, from_e164, to_e164, status) values
  (:'alice_ws', 'CA' || repeat('1', 32), 'inbound', '+14155550201', '+61491570101', 'completed');
insert into public.opt_outs (workspace_id, phone_e164, source) values (:'alice_ws', '+14155550299', 'manual');

-- ---------------------------------------------------------------------------------------
select has_table('public', 'data_requests', 'public.data_requests exists');
select tests.rls_enabled('public');

-- Requesting a deletion
select tests.authenticate_as('alice');
select (public.request_account_deletion()).id as alice_req \gset
select is((select status from public.data_requests where id = :'alice_req'), 'scheduled',
  'a deletion request is scheduled');
select is((select scheduled_for - requested_at from public.data_requests where id = :'alice_req'), interval '7 days',
  'it is carried out after a 7-day grace period');
select is((public.request_account_deletion()).id, :'alice_req'::uuid,
  'asking again returns the open request (idempotent)');
select is((select count(*)::int from public.data_requests where kind = 'deletion'), 1, 'one open deletion request per user');
select throws_ok($$ select private.delete_due_accounts() $$, '42501', null, 'clients cannot run the purge');
select throws_ok(format($$ select private.delete_account(%L) $$, tests.user_id('dave')), '42501', null,
  'clients cannot delete an account directly');

-- Nobody writes data_requests except through the functions
select is(tests.attempt(format($$ insert into public.data_requests (user_id, kind, status, scheduled_for)
                                  values (%L, 'deletion', 'scheduled', now()) $$, :'alice')),
  'denied', 'a user cannot insert a request directly');
select is(tests.attempt(format($$ update public.data_requests set scheduled_for = now() where id = %L $$, :'alice_req')),
  'denied', 'a user cannot move their deletion date');
select is(tests.attempt(format($$ delete from public.data_requests where id = %L $$, :'alice_req')),
  'denied', 'a user cannot delete a request');

-- Bob sees only his own requests
select tests.authenticate_as('bob');
select is_empty($$ select 1 from public.data_requests $$, 'another user sees none of alice''s requests');
select (public.request_account_deletion()).id as bob_req \gset
select results_eq($$ select id from public.data_requests $$, array[:'bob_req'::uuid], 'a user sees only their own requests');
select is(tests.attempt(format($$ update public.data_requests set status = 'canceled' where id = %L $$, :'alice_req')),
  'denied', 'a user cannot cancel someone else''s request by hand');

-- Cancel
select is((public.cancel_account_deletion()).status, 'canceled', 'cancel_account_deletion() cancels the open request');
select isnt((select canceled_at from public.data_requests where id = :'bob_req'), null, 'and records when');
select is((public.cancel_account_deletion()).id, null, 'cancelling with nothing open returns null');
select isnt((public.request_account_deletion()).id, :'bob_req'::uuid, 'after a cancel, a new request starts a new grace period');
select is((public.cancel_account_deletion()).status, 'canceled', 'which can be cancelled too');

select tests.authenticate_as_anon();
select throws_ok($$ select public.request_account_deletion() $$, '42501', null, 'anon cannot request a deletion');
select throws_ok($$ select public.export_my_data() $$, '42501', null, 'anon cannot export');

-- The export: as the caller, their data and nothing of others
select tests.authenticate_as('alice');
select public.export_my_data('csv') as alice_export \gset
select is((:'alice_export'::jsonb -> 'profile' ->> 'id')::uuid, :'alice'::uuid, 'the export holds the caller''s profile');
select is(jsonb_array_length(:'alice_export'::jsonb -> 'memberships'), 3, 'and their three memberships');
select set_eq(format($$ select (w ->> 'id')::uuid from jsonb_array_elements(%L::jsonb -> 'workspaces') w $$, :'alice_export'),
  array[:'alice_ws'::uuid, 'a0000000-0000-4000-8000-00000000000a', 'a0000000-0000-4000-8000-00000000000b'],
  'and each of their workspaces');
select set_eq(format($$ select m ->> 'body' from jsonb_array_elements(%L::jsonb -> 'workspaces') w,
                                               jsonb_array_elements(w -> 'messages') m $$, :'alice_export'),
  array['hello alice', 'sent by alice in shared'], 'with their workspaces'' messages, none of Dave''s');
select set_eq(format($$ select c ->> 'first_name' from jsonb_array_elements(%L::jsonb -> 'workspaces') w,
                                                     jsonb_array_elements(w -> 'contacts') c $$, :'alice_export'),
  array['Alices Customer', 'Shared Customer'], 'and contacts');
select is((select m #>> '{media,0,url}' from jsonb_array_elements(:'alice_export'::jsonb -> 'workspaces') w,
                                             jsonb_array_elements(w -> 'messages') m where m ->> 'body' = 'hello alice'),
  'https://media.example.com/alice.jpg', 'messages carry their media URLs');
select is((select sum(jsonb_array_length(w -> 'calls')) + sum(jsonb_array_length(w -> 'opt_outs'))
             from jsonb_array_elements(:'alice_export'::jsonb -> 'workspaces') w)::int, 2, 'and calls and opt-outs');
select ok(position('dave private' in :'alice_export') = 0 and position('Daves Customer' in :'alice_export') = 0,
  'nothing of another workspace appears anywhere in it');
select results_eq($$ select kind, status, details ->> 'format' from public.data_requests where kind = 'export' $$,
  $$ values ('export', 'completed', 'csv') $$, 'each export is recorded as a completed request');
select is((select jsonb_array_length(:'alice_export'::jsonb -> 'data_requests')), 2,
  'the export lists the caller''s requests, itself included');
select tests.clear_authentication();
select is((select details #>> '{counts,messages}' from public.audit_log where action = 'data.export'
            and actor_user_id = :'alice' order by id desc limit 1), '2',
  'each export is audit-logged with counts');
select is((select count(*)::int from public.audit_log where action = 'data.export'
            and details::text like '%hello alice%'), 0, 'with no content in the audit row');

-- ---------------------------------------------------------------------------------------
-- The daily job

-- Requests left open by other tests in this database are not this file's business.
update public.data_requests set status = 'canceled', canceled_at = now()
 where kind = 'deletion' and status in ('requested', 'scheduled', 'failed') and user_id <> :'alice';

-- Not due yet: nothing happens.
select is(private.delete_due_accounts(now() + interval '6 days') ->> 'completed', '0', 'a request inside its grace period waits');
select isnt_empty(format($$ select 1 from auth.users where id = %L $$, :'alice'), 'the user is still there');

-- Erin's deletion will fail once: a table outside the schema still points at her.
select tests.authenticate_as('erin');
select (public.request_account_deletion()).id as erin_req \gset
select tests.clear_authentication();
create table tests.deletion_blocker (user_id uuid references auth.users (id));
insert into tests.deletion_blocker values (:'erin');

select is(private.delete_due_accounts(now() + interval '8 days'), '{"completed": 1, "failed": 1}'::jsonb,
  'once due, the job deletes the account; one failure does not stop the others');

-- Alice is gone
select is_empty(format($$ select 1 from auth.users where id = %L $$, :'alice'), 'the auth user is deleted');
select is_empty(format($$ select 1 from public.profiles where id = %L $$, :'alice'), 'and their profile');
select is_empty(format($$ select 1 from public.workspaces where id in (%L, 'a0000000-0000-4000-8000-00000000000a') $$, :'alice_ws'),
  'workspaces they alone owned are deleted');
select is((select count(*)::int from public.contacts where workspace_id = :'alice_ws')
        + (select count(*)::int from public.messages where workspace_id = :'alice_ws')
        + (select count(*)::int from public.message_media where workspace_id = :'alice_ws')
        + (select count(*)::int from public.calls where workspace_id = :'alice_ws')
        + (select count(*)::int from public.opt_outs where workspace_id = :'alice_ws')
        + (select count(*)::int from public.phone_numbers where workspace_id = :'alice_ws'), 0,
  'with everything in them');
select isnt_empty($$ select 1 from public.workspaces where id = 'a0000000-0000-4000-8000-00000000000b' $$,
  'a workspace with another owner stays');
select results_eq($$ select user_id from public.workspace_members where workspace_id = 'a0000000-0000-4000-8000-00000000000b' $$,
  array[tests.user_id('carol')], 'without the deleted user''s membership');
select results_eq($$ select sent_by from public.messages where id = 'e0000000-0000-4000-8000-000000000002' $$,
  array[null::uuid], 'its records stay, no longer linked to the deleted user');
select is_empty(format($$ select 1 from public.data_requests where user_id = %L $$, :'alice'),
  'no request is linked to the deleted user any more');
select results_eq(format($$ select status, user_id, completed_at is not null, (details ->> 'workspaces_deleted')::int
                             from public.data_requests where id = %L $$, :'alice_req'),
  $$ values ('completed', null::uuid, true, 2) $$, 'the deletion request is marked completed, with counts');
select is((select details from public.audit_log where action = 'account.deletion' and target_id = :'alice_req'),
  '{"attempts": 1, "user_deleted": true, "calls_deleted": 1, "profile_deleted": true, "contacts_deleted": 1,
    "messages_deleted": 1, "workspaces_deleted": 2, "memberships_removed": 1}'::jsonb,
  'it is audit-logged with counts only');

-- Everyone else is untouched
select isnt_empty(format($$ select 1 from auth.users where id = %L $$, tests.user_id('bob')),
  'a member of a deleted workspace keeps their account');
select is((select count(*)::int from public.workspace_members where user_id = tests.user_id('bob')), 1,
  'and their own workspace, losing only the deleted one');
select is((select count(*)::int from public.messages where workspace_id = :'dave_ws'), 1, 'other users'' data is untouched');
select isnt_empty($$ select 1 from public.profiles where id = tests.user_id('carol') $$, 'the other owner keeps their profile');

-- Erin's failure: nothing deleted, recorded, retried the next day
select isnt_empty(format($$ select 1 from public.workspaces where id = %L $$, :'erin_ws'),
  'a failed deletion deletes nothing (its attempt is rolled back)');
select results_eq(format($$ select status, details #>> '{last_error,sqlstate}', (details ->> 'attempts')::int
                             from public.data_requests where id = %L $$, :'erin_req'),
  $$ values ('failed', '23503', 1) $$, 'the request is marked failed with the error code');
delete from tests.deletion_blocker;
select is(private.delete_due_accounts(now() + interval '9 days'), '{"completed": 1, "failed": 0}'::jsonb,
  'the next daily run retries it');
select results_eq(format($$ select status, (details ->> 'attempts')::int from public.data_requests where id = %L $$, :'erin_req'),
  $$ values ('completed', 2) $$, 'and completes it, well within 30 days');
select is(private.delete_due_accounts(now() + interval '10 days'), '{"completed": 0, "failed": 0}'::jsonb,
  'completed requests are not run again');

select is((select schedule from cron.job where jobname = 'numeraloop-account-deletion'), '43 2 * * *',
  'the deletion job runs daily under pg_cron');

select * from finish();
rollback;
