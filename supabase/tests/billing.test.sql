-- Billing: plans readable by the signed-in, billing rows by their workspace (invoices and
-- cards by owners/admins), nothing writable by clients; private.apply_stripe_event records
-- event ids (replays are no-ops) and never lets an older event overwrite a newer state;
-- entitlements default to free; invoices survive their workspace.
begin;
select plan(41);

select tests.create_user('alice');   -- owner
select tests.create_user('bob');     -- agent in alice's workspace
select tests.create_user('carol');   -- admin in alice's workspace
select tests.create_user('mallory'); -- another workspace
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as mws \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.billing_customers (workspace_id, stripe_customer_id) values (:'ws', 'cus_alice');

create function pg_temp.evt(id text, type text, created bigint, obj jsonb) returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'object', 'event', 'type', type, 'created', created,
                            'data', jsonb_build_object('object', obj))
$$;
create function pg_temp.sub(status text, cancel boolean default false, price text default 'price_numeraloop_pro_monthly')
returns jsonb language sql as $$
  select jsonb_build_object('id', 'sub_alice', 'object', 'subscription', 'customer', 'cus_alice', 'status', status,
    'cancel_at_period_end', cancel, 'items', jsonb_build_object('data', jsonb_build_array(jsonb_build_object(
      'price', jsonb_build_object('id', price), 'current_period_start', 1795000000, 'current_period_end', 1797600000))))
$$;

select tests.rls_enabled('public');
select is(private.stripe_time('1795000000'::jsonb), to_timestamp(1795000000), 'epoch seconds read as timestamptz');

-- ---------------------------------------------------------------------------------------
-- Entitlements before anything is bought.
select tests.authenticate_as('bob');
select is(public.workspace_entitlements(:'ws') ->> 'plan', 'free', 'no subscription: free');
select is((public.workspace_entitlements(:'ws') #>> '{limits,phone_numbers}')::int, 2, '... with free''s limits');
select throws_ok(format('select public.workspace_entitlements(%L)', :'mws'), '42501', null,
  'entitlements of another workspace are refused');
select is((select count(*)::int from public.plans), 3, 'every signed-in user reads the plans');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Applying events (as the webhook does, as service_role).
select tests.authenticate_as_service_role();
select is(private.apply_stripe_event(pg_temp.evt('evt_1', 'customer.subscription.created', 1795000000,
  pg_temp.sub('incomplete'))) ->> 'applied', 'true', 'a new subscription is stored');
select is(private.apply_stripe_event(pg_temp.evt('evt_2', 'customer.subscription.updated', 1795000100,
  pg_temp.sub('active'))) ->> 'applied', 'true', 'a newer update applies');
select is(private.apply_stripe_event(pg_temp.evt('evt_2', 'customer.subscription.updated', 1795000100,
  pg_temp.sub('canceled'))), '{"duplicate": true, "event_id": "evt_2"}'::jsonb, 'a replayed id is a no-op');
select is(private.apply_stripe_event(pg_temp.evt('evt_3', 'customer.subscription.updated', 1795000050,
  pg_temp.sub('past_due'))) ->> 'reason', 'stale', 'an older event is recorded as stale');
select is(private.apply_stripe_event(pg_temp.evt('evt_4', 'customer.subscription.created', 1795000100,
  pg_temp.sub('incomplete'))) ->> 'applied', 'false', 'same second: never back to an earlier lifecycle state');
select is(private.apply_stripe_event(pg_temp.evt('evt_5', 'customer.subscription.updated', 1795000100,
  pg_temp.sub('active', true))) ->> 'applied', 'true', 'same second, same state: the later delivery applies');
select tests.clear_authentication();
select results_eq($$select status, cancel_at_period_end, plan_id, stripe_updated from public.subscriptions
                    where stripe_subscription_id = 'sub_alice'$$,
  $$values ('active'::text, true, 'pro'::text, to_timestamp(1795000100))$$,
  'the row holds the newest state and the created that wrote it');
select is((select count(*)::int from public.stripe_events where id in ('evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5')),
  5, 'every event id is recorded once');
select isnt((select processed_at from public.stripe_events where id = 'evt_3'), null, '... stale ones too');

select tests.authenticate_as_service_role();
select is(private.apply_stripe_event(pg_temp.evt('evt_6', 'invoice.paid', 1795000100,
  '{"id": "in_alice", "customer": "cus_alice", "status": "paid", "currency": "usd", "amount_due": 9900,
    "amount_paid": 9900, "total": 9900, "number": "A-1", "created": 1795000000,
    "parent": {"subscription_details": {"subscription": "sub_alice"}}}')) ->> 'applied', 'true', 'invoice stored');
select is(private.apply_stripe_event(pg_temp.evt('evt_7', 'invoice.finalized', 1795000100,
  '{"id": "in_alice", "customer": "cus_alice", "status": "open", "currency": "usd", "created": 1795000000}'))
  ->> 'applied', 'false', 'a same-second open never undoes paid');
select is(private.apply_stripe_event(pg_temp.evt('evt_8', 'payment_method.attached', 1795000100,
  '{"id": "pm_alice", "type": "card", "customer": "cus_alice",
    "card": {"brand": "visa", "last4": "4242", "exp_month": 4, "exp_year": 2031, "fingerprint": "secretish"}}'))
  ->> 'applied', 'true', 'card stored');
select is(private.apply_stripe_event(pg_temp.evt('evt_9', 'customer.subscription.created', 1795000100,
  '{"id": "sub_stranger", "customer": "cus_unknown", "status": "active"}')) ->> 'reason', 'unknown_customer',
  'an unknown customer writes nothing');
select is(private.apply_stripe_event(pg_temp.evt('evt_10', 'charge.succeeded', 1795000100, '{}')) ->> 'reason',
  'unhandled_type', 'other types are recorded, not applied');
select throws_ok($$select private.apply_stripe_event('{"id": "nope", "type": "x"}')$$, '22023', null,
  'something that is not an event is refused');
select tests.clear_authentication();
select is((select stripe_subscription_id from public.invoices where stripe_invoice_id = 'in_alice'), 'sub_alice',
  'the invoice knows its subscription');
select is((select to_jsonb(p) - '{id,workspace_id,stripe_payment_method_id,stripe_customer_id,detached_at,stripe_updated,created_at,updated_at}'::text[]
             from public.payment_methods p where stripe_payment_method_id = 'pm_alice'),
  '{"brand": "visa", "last4": "4242", "exp_month": 4, "exp_year": 2031}'::jsonb, 'only brand, last4 and expiry are kept');

-- ---------------------------------------------------------------------------------------
-- Who reads what. Carol joins as admin now that the workspace is on Pro (free has 2 seats).
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('carol'), 'admin');
select tests.authenticate_as('bob');
select is(public.workspace_entitlements(:'ws') ->> 'plan', 'pro', 'the active subscription''s plan');
select is((select count(*)::int from public.subscriptions), 1, 'an agent reads the workspace''s subscription');
select is((select count(*)::int from public.billing_customers), 1, '... and its customer');
select is((select count(*)::int from public.invoices), 0, 'an agent reads no invoices');
select is((select count(*)::int from public.payment_methods), 0, '... and no cards');
select tests.clear_authentication();
select tests.authenticate_as('carol');
select is((select count(*)::int from public.invoices), 1, 'an admin reads the invoices');
select is((select count(*)::int from public.payment_methods), 1, '... and the cards');
select is(tests.attempt($$update public.subscriptions set status = 'active'$$), 'denied', 'nobody writes subscriptions');
select is(tests.attempt($$delete from public.invoices$$), 'denied', '... or deletes invoices');
select is(tests.attempt(format($$insert into public.billing_customers (workspace_id, stripe_customer_id) values (%L, 'cus_x')$$, :'ws')),
  'denied', '... or sets the customer');
select throws_ok($$select private.apply_stripe_event('{}')$$, '42501', null, 'clients cannot apply events');
select tests.clear_authentication();
select tests.authenticate_as('mallory');
select is((select count(*)::int from public.subscriptions) + (select count(*)::int from public.invoices)
          + (select count(*)::int from public.payment_methods) + (select count(*)::int from public.billing_customers),
  0, 'another workspace reads no billing row');
select is(tests.attempt($$select * from public.stripe_events$$), 'denied', 'stripe_events are internal');
select tests.clear_authentication();
select tests.authenticate_as_anon();
select is(tests.attempt($$select * from public.plans$$), 'denied', 'anon reads no plans');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Retention: invoices outlive their workspace and go after 7 years; the job is scheduled.
insert into public.billing_customers (workspace_id, stripe_customer_id) values (:'mws', 'cus_mallory');
select private.apply_stripe_event(pg_temp.evt('evt_11', 'invoice.paid', 1795000100,
  '{"id": "in_mallory", "customer": "cus_mallory", "status": "paid", "currency": "usd", "created": 1795000000}'));
delete from public.workspaces where id = :'mws';
select results_eq($$select workspace_id, stripe_customer_id from public.invoices where stripe_invoice_id = 'in_mallory'$$,
  $$values (null::uuid, 'cus_mallory'::text)$$, 'an invoice is kept when its workspace is deleted');
update public.invoices set stripe_created = now() - interval '7 years 1 day' where stripe_invoice_id = 'in_mallory';
select is((private.purge_expired_billing_records() ->> 'invoices')::int, 1, 'invoices over 7 years old are purged');
select is((select count(*)::int from public.invoices where stripe_invoice_id = 'in_alice'), 1, '... younger ones stay');
select is((select count(*)::int from cron.job where jobname = 'numeraloop-billing-retention'), 1,
  'the billing retention job is scheduled');

select * from finish();
rollback;
