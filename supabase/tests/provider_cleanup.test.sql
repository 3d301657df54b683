-- What a workspace's deletion owes Twilio and Stripe: queued by a trigger in the deleting
-- transaction (whoever deletes it), due 30 days after the deletion was asked for, claimed by
-- workers in a safe order, retried with backoff, and the kept credentials dropped with the last task.
begin;
select plan(16);

select tests.create_user('owner');
select tests.authenticate_as('owner');
select (public.create_workspace('Team')).id as ws \gset
select tests.clear_authentication();
insert into public.twilio_accounts (id, workspace_id, account_sid)
values ('c1000000-0000-4000-8000-000000000001', :'ws', 'AC' || repeat('c', 32));
insert into private.twilio_credentials (twilio_account_id, auth_token_encrypted, key_version)
values ('c1000000-0000-4000-8000-000000000001', private.encrypt_secret('the-auth-token', 'a-key-of-16-chars-or-more'), 1);
insert into public.phone_numbers (workspace_id, twilio_account_id, twilio_sid, e164, status) values
  (:'ws', 'c1000000-0000-4000-8000-000000000001', 'PN' || repeat('1', 32), '+14155550161', 'active'),
  (:'ws', 'c1000000-0000-4000-8000-000000000001', 'PN' || repeat('2', 32), '+14155550162', 'released'),
  (:'ws', 'c1000000-0000-4000-8000-000000000001', 'PN' || repeat('3', 32), '+14155550163', 'detached');
insert into public.calls (workspace_id, twilio_sid, direction, from_e164, to_e164, status, recording_sid) values
  (:'ws', 'CA' || repeat('1', 32), 'inbound', '+14155550001', '+14155550161', 'completed', 'RE' || repeat('1', 32)),
  (:'ws', 'CA' || repeat('2', 32), 'inbound', '+14155550001', '+14155550161', 'completed', null);
insert into public.billing_customers (workspace_id, stripe_customer_id) values (:'ws', 'cus_providercleanup');
insert into public.subscriptions (workspace_id, stripe_subscription_id, stripe_customer_id, plan_id, status, stripe_updated)
values (:'ws', 'sub_providerlive', 'cus_providercleanup', 'starter', 'active', now()),
       (:'ws', 'sub_providerdone', 'cus_providercleanup', 'starter', 'canceled', now());
insert into public.stripe_events (id, type, created, result)
values ('evt_providercleanup', 'invoice.paid', now(), jsonb_build_object('applied', true, 'workspace_id', :'ws'));

-- The owner deletes it through PostgREST.
select tests.authenticate_as('owner');
delete from public.workspaces where id = :'ws';
select tests.clear_authentication();

select results_eq(format($$ select action, resource_id, account_sid from private.provider_cleanup
                            where workspace_id = %L order by action, resource_id $$, :'ws'),
  $$ values ('cancel_subscription', 'sub_providerlive', null::text),
            ('clear_number_webhooks', 'PN' || repeat('1', 32), 'AC' || repeat('c', 32)),
            ('delete_customer', 'cus_providercleanup', null),
            ('delete_recording', 'RE' || repeat('1', 32), 'AC' || repeat('c', 32)) $$,
  'its live subscription, its active number''s webhooks, its customer and its recording are queued; '
  'released and detached numbers, canceled subscriptions and calls without a recording are not');
select is((select bool_and(due_by between now() + interval '30 days' - interval '1 minute' and now() + interval '30 days')
             and bool_and(reason = 'workspace_deleted')
             from private.provider_cleanup where workspace_id = :'ws'), true, 'due 30 days from now');
select is((select private.decrypt_secret(auth_token_encrypted, '{"1": "a-key-of-16-chars-or-more"}', key_version)
             from private.provider_cleanup_credentials where account_sid = 'AC' || repeat('c', 32)),
  'the-auth-token', 'the account''s auth token is kept, still encrypted, for the Twilio tasks');
select is_empty($$ select 1 from private.twilio_credentials where twilio_account_id = 'c1000000-0000-4000-8000-000000000001' $$,
  'while the workspace''s own credentials went with it');
select is((select result from public.stripe_events where id = 'evt_providercleanup'), '{"applied": true}'::jsonb,
  'Stripe''s events no longer name it');
select is_empty(format($$ select 1 from public.calls where workspace_id = %L $$, :'ws'), 'its calls are gone');

-- An account's deletion: due 30 days after the request, not after the day it runs.
select set_config('numeraloop.deletion_requested_at', (now() - interval '7 days')::text, true);
select private.queue_provider_cleanup('delete_recording', 'RE' || repeat('4', 32), 'AC' || repeat('c', 32),
                                      :'ws', 'workspace_deleted');
select set_config('numeraloop.deletion_requested_at', '', true);
select is((select due_by from private.provider_cleanup where resource_id = 'RE' || repeat('4', 32)),
  now() + interval '23 days', 'a task of an account deletion is due 30 days after its request');
delete from private.provider_cleanup where resource_id = 'RE' || repeat('4', 32);
select private.queue_provider_cleanup('delete_recording', 'RE' || repeat('1', 32), null, null, 'retention');
select is((select count(*)::int from private.provider_cleanup where resource_id = 'RE' || repeat('1', 32)), 1,
  'a task queued twice is one task');

-- Workers: the customer only once its subscriptions are canceled.
select tests.authenticate_as_service_role();
create temporary table claimed as select * from private.claim_provider_cleanup(10, 60);
select results_eq($$ select action from claimed order by action $$,
  array['cancel_subscription', 'clear_number_webhooks', 'delete_recording'],
  'the customer waits for its subscription''s cancellation');
select is_empty($$ select * from private.claim_provider_cleanup(10, 60) $$, 'claimed tasks are leased');
select private.finish_provider_cleanup(id, 'twilio 503 20500') from claimed where action = 'delete_recording';
select private.finish_provider_cleanup(id) from claimed where action in ('cancel_subscription', 'clear_number_webhooks');
select results_eq($$ select action from private.claim_provider_cleanup(10, 60) $$, array['delete_customer'],
  'once it is, the customer is claimed; the failed task waits its backoff');
select tests.clear_authentication();
select results_eq($$ select attempts, last_error, next_attempt_at > now() + interval '50 seconds'
                       from private.provider_cleanup where action = 'delete_recording' $$,
  $$ values (1, 'twilio 503 20500', true) $$, 'a failure is kept, counted and retried after a minute');
update private.provider_cleanup set attempts = 12 where action = 'delete_recording';
select private.finish_provider_cleanup(id, 'still down') from private.provider_cleanup where action = 'delete_recording';
select is((select next_attempt_at <= now() + interval '6 hours' and next_attempt_at > now() + interval '5 hours'
             from private.provider_cleanup where action = 'delete_recording'), true, 'never more than 6 hours apart');
select isnt_empty($$ select 1 from private.provider_cleanup_credentials where account_sid = 'AC' || repeat('c', 32) $$,
  'the credentials stay while a task of the account remains');
select private.finish_provider_cleanup(id) from private.provider_cleanup where action = 'delete_recording';
select is_empty($$ select 1 from private.provider_cleanup_credentials where account_sid = 'AC' || repeat('c', 32) $$,
  'and go with its last task');

select tests.authenticate_as('owner');
select throws_ok($$ select * from private.claim_provider_cleanup(1, 60) $$, '42501', null,
  'clients cannot claim deletions');
select tests.clear_authentication();

select * from finish();
rollback;
