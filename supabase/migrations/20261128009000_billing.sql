-- Billing through Stripe subscriptions.
--   plans               what can be bought, with its limits (readable by every signed-in user)
--   billing_customers   workspace <-> Stripe customer (cus_), written by the service at checkout
--   subscriptions       Stripe subscriptions of a workspace (sub_)
--   invoices            Stripe invoices (in_); KEPT 7 YEARS (see below)
--   payment_methods     card brand, last4 and expiry only: never any other card data
--   stripe_events       every Stripe event id received (duplicates are no-ops); internal
--
-- Stripe is the source of truth. Its webhooks are the only writer of subscriptions, invoices
-- and payment methods, through one function, private.apply_stripe_event(event): it records
-- the event id first (a replay is a no-op) and upserts an object only when the event's
-- `created` is newer than the one that last wrote the row (`stripe_updated`), so events that
-- arrive late or out of order never roll a row back. Events from the same second are broken
-- by lifecycle: a same-second event never moves an object back to an earlier state
-- (an `incomplete` subscription after `active`, an `open` invoice after `paid`).
--
-- Access: members read their workspace's plan state (billing_customers, subscriptions);
-- invoices and payment methods are financial records, readable by owners and admins only.
-- No client writes any billing table.

create table public.plans (
  id text primary key check (id ~ '^[a-z][a-z0-9_]{1,31}$'),
  name text not null check (char_length(name) between 1 and 60),
  -- The Stripe Price a Checkout Session sells; null for the free plan (never sold).
  -- Seeded with the local stand-in's prices; production sets its own live price ids.
  stripe_price_id text unique check (stripe_price_id ~ '^price_[A-Za-z0-9_]+$'),
  amount_cents integer not null default 0 check (amount_cents >= 0),
  currency text not null default 'usd' check (currency ~ '^[a-z]{3}$'),
  interval text not null default 'month' check (interval in ('month', 'year')),
  limits jsonb not null check (jsonb_typeof(limits) = 'object'
                               and limits ?& array['phone_numbers', 'monthly_messages', 'seats']),
  sort_order integer not null default 0,
  created_at timestamptz not null default now()
);
comment on table public.plans is
  'What a workspace can subscribe to, and the limits each plan grants (phone_numbers, monthly_messages, seats). '
  'A workspace without an active subscription is on ''free''.';

insert into public.plans (id, name, stripe_price_id, amount_cents, limits, sort_order) values
  ('free', 'Free', null, 0, '{"phone_numbers": 2, "monthly_messages": 250, "seats": 2}', 0),
  ('starter', 'Starter', 'price_numeraloop_starter_monthly', 2900,
   '{"phone_numbers": 5, "monthly_messages": 5000, "seats": 5}', 10),
  ('pro', 'Pro', 'price_numeraloop_pro_monthly', 9900,
   '{"phone_numbers": 25, "monthly_messages": 50000, "seats": 25}', 20);

create table public.billing_customers (
  workspace_id uuid primary key references public.workspaces (id) on delete cascade,
  stripe_customer_id text not null unique check (stripe_customer_id ~ '^cus_[A-Za-z0-9]+$'),
  created_at timestamptz not null default now()
);
comment on table public.billing_customers is
  'The Stripe customer of a workspace, created once (with an idempotency key) at its first checkout. '
  'Events are matched to workspaces through this table only.';

create table public.subscriptions (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  stripe_subscription_id text not null unique check (stripe_subscription_id ~ '^sub_[A-Za-z0-9]+$'),
  stripe_customer_id text not null,
  stripe_price_id text,
  plan_id text references public.plans (id),
  status text not null check (status in ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due',
                                         'canceled', 'unpaid', 'paused')),
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  canceled_at timestamptz,
  -- The `created` of the Stripe event that last wrote this row: older events change nothing.
  stripe_updated timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index subscriptions_workspace_idx on public.subscriptions (workspace_id);
comment on table public.subscriptions is
  'Stripe subscriptions, written only by private.apply_stripe_event. Members read their workspace''s.';
comment on column public.subscriptions.stripe_updated is
  'created of the Stripe event that last wrote the row; an event created earlier never overwrites it.';

-- Invoices are financial records: KEPT 7 YEARS. They are excluded from every purge
-- (private.purge_expired_logs never touches them) and they survive the deletion of their
-- workspace (workspace_id is set null, the Stripe customer id stays). Only
-- private.purge_expired_invoices() deletes them, once they are over 7 years old.
create table public.invoices (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid references public.workspaces (id) on delete set null,
  stripe_invoice_id text not null unique check (stripe_invoice_id ~ '^in_[A-Za-z0-9]+$'),
  stripe_customer_id text not null,
  stripe_subscription_id text,
  number text,
  status text check (status in ('draft', 'open', 'paid', 'uncollectible', 'void')),
  currency text not null check (currency ~ '^[a-z]{3}$'),
  amount_due bigint not null default 0,
  amount_paid bigint not null default 0,
  amount_remaining bigint not null default 0,
  total bigint not null default 0,
  hosted_invoice_url text,
  invoice_pdf text,
  period_start timestamptz,
  period_end timestamptz,
  stripe_created timestamptz not null,
  stripe_updated timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index invoices_workspace_idx on public.invoices (workspace_id, stripe_created desc);
create index invoices_stripe_created_idx on public.invoices (stripe_created);
comment on table public.invoices is
  'Stripe invoices. Kept 7 years: excluded from the log purges and kept (workspace_id set null) when '
  'the workspace is deleted; private.purge_expired_invoices() removes them after 7 years. '
  'Owners and admins read their workspace''s.';

create table public.payment_methods (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  stripe_payment_method_id text not null unique check (stripe_payment_method_id ~ '^pm_[A-Za-z0-9]+$'),
  stripe_customer_id text,
  -- Never more card data than this: no fingerprint, no BIN, no billing details.
  brand text check (char_length(brand) <= 32),
  last4 text check (last4 ~ '^[0-9]{4}$'),
  exp_month smallint check (exp_month between 1 and 12),
  exp_year smallint check (exp_year between 2000 and 2200),
  detached_at timestamptz,
  stripe_updated timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index payment_methods_workspace_idx on public.payment_methods (workspace_id);
comment on table public.payment_methods is
  'Cards on file at Stripe, as brand, last4 and expiry only. Owners and admins read their workspace''s.';

create table public.stripe_events (
  id text primary key check (id ~ '^evt_[A-Za-z0-9]+$'),
  type text not null check (char_length(type) <= 100),
  created timestamptz not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  -- What applying it did ({"applied": ..., "reason": ...}); never the payload.
  result jsonb
);
create index stripe_events_received_idx on public.stripe_events (received_at);
comment on table public.stripe_events is
  'Every Stripe event id received, so a replay is a no-op. Internal: no client reads it. '
  'Ids are dropped after 90 days (Stripe stops retrying after 3).';

create trigger tg_subscriptions__updated_at before update on public.subscriptions
  for each row execute function private.tg_set_updated_at();
create trigger tg_invoices__updated_at before update on public.invoices
  for each row execute function private.tg_set_updated_at();
create trigger tg_payment_methods__updated_at before update on public.payment_methods
  for each row execute function private.tg_set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants: reads only; the service writes as service_role.

alter table public.plans enable row level security;
alter table public.billing_customers enable row level security;
alter table public.subscriptions enable row level security;
alter table public.invoices enable row level security;
alter table public.payment_methods enable row level security;
alter table public.stripe_events enable row level security;

create policy plans_select_signed_in on public.plans for select to authenticated using (true);
create policy billing_customers_select_member on public.billing_customers for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy subscriptions_select_member on public.subscriptions for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy invoices_select_admin on public.invoices for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy payment_methods_select_admin on public.payment_methods for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
-- stripe_events: no policy, no grant to clients.

revoke all on public.plans, public.billing_customers, public.subscriptions, public.invoices,
              public.payment_methods, public.stripe_events from anon, authenticated, service_role;
grant select on public.plans, public.billing_customers, public.subscriptions, public.invoices,
                public.payment_methods to authenticated;
grant select on public.plans, public.subscriptions, public.invoices, public.payment_methods, public.stripe_events
  to service_role;
-- The service records a workspace's customer at checkout; everything else goes through the function.
grant select, insert on public.billing_customers to service_role;

-- ---------------------------------------------------------------------------------------
-- Applying Stripe events

-- Lifecycle rank, for events created in the same second: a later state never loses to an earlier one.
create function private.stripe_lifecycle_rank(p_kind text, p_status text) returns integer
language sql immutable
set search_path = ''
as $$
  select case p_kind
    when 'subscription' then case p_status when 'incomplete' then 0 when 'trialing' then 1
                                           when 'canceled' then 3 when 'incomplete_expired' then 3 else 2 end
    when 'invoice' then case p_status when 'draft' then 0 when 'open' then 1 else 2 end
    when 'payment_method' then case when p_status = 'detached' then 1 else 0 end
    else 0 end
$$;

create function private.stripe_time(p_epoch jsonb) returns timestamptz
language sql immutable
set search_path = ''
as $$
  select case when jsonb_typeof(p_epoch) = 'number' then to_timestamp((p_epoch #>> '{}')::double precision) end
$$;

create function private.apply_stripe_event(p_event jsonb)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  ev_id text := p_event ->> 'id';
  ev_type text := p_event ->> 'type';
  ev_created timestamptz := private.stripe_time(p_event -> 'created');
  obj jsonb := p_event #> '{data,object}';
  customer text;
  ws uuid;
  price text;
  item jsonb;
  n integer;
  outcome jsonb;
begin
  if ev_id is null or ev_id !~ '^evt_[A-Za-z0-9]+$' or ev_type is null or ev_created is null
     or jsonb_typeof(obj) is distinct from 'object' then
    raise exception 'not a Stripe event (id evt_..., type, created and data.object are required)'
      using errcode = '22023';
  end if;

  insert into public.stripe_events (id, type, created) values (ev_id, ev_type, ev_created)
  on conflict (id) do nothing;
  get diagnostics n = row_count;
  if n = 0 then
    return jsonb_build_object('duplicate', true, 'event_id', ev_id);
  end if;

  -- The customer of the object (a string id, or an expanded object), and so the workspace.
  customer := case jsonb_typeof(obj -> 'customer') when 'string' then obj ->> 'customer'
                                                   when 'object' then obj #>> '{customer,id}' end;
  select b.workspace_id into ws from public.billing_customers b where b.stripe_customer_id = customer;

  if ev_type = 'checkout.session.completed' then
    -- The service stores the customer before it opens a checkout; this only fills the gap if
    -- that write was lost. client_reference_id is the workspace the service put there.
    if ws is null and customer ~ '^cus_[A-Za-z0-9]+$'
       and (obj ->> 'client_reference_id') ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      insert into public.billing_customers (workspace_id, stripe_customer_id)
      select w.id, customer from public.workspaces w where w.id = (obj ->> 'client_reference_id')::uuid
      on conflict do nothing;
      select b.workspace_id into ws from public.billing_customers b where b.stripe_customer_id = customer;
    end if;
    outcome := jsonb_build_object('applied', ws is not null, 'object', 'checkout.session');

  elsif ev_type in ('customer.subscription.created', 'customer.subscription.updated',
                    'customer.subscription.deleted', 'customer.subscription.paused',
                    'customer.subscription.resumed') then
    if ws is null then
      outcome := jsonb_build_object('applied', false, 'reason', 'unknown_customer');
    else
      item := obj #> '{items,data,0}';
      price := coalesce(item #>> '{price,id}', item #>> '{plan,id}');
      insert into public.subscriptions as s
        (workspace_id, stripe_subscription_id, stripe_customer_id, stripe_price_id, plan_id, status,
         current_period_start, current_period_end, cancel_at_period_end, canceled_at, stripe_updated)
      values (ws, obj ->> 'id', customer, price,
              (select p.id from public.plans p where p.stripe_price_id = price),
              obj ->> 'status',
              coalesce(private.stripe_time(obj -> 'current_period_start'), private.stripe_time(item -> 'current_period_start')),
              coalesce(private.stripe_time(obj -> 'current_period_end'), private.stripe_time(item -> 'current_period_end')),
              coalesce((obj ->> 'cancel_at_period_end')::boolean, false),
              private.stripe_time(obj -> 'canceled_at'),
              ev_created)
      on conflict (stripe_subscription_id) do update
        set stripe_price_id = excluded.stripe_price_id, plan_id = excluded.plan_id, status = excluded.status,
            current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
            cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at,
            stripe_updated = excluded.stripe_updated
        where s.workspace_id = excluded.workspace_id
          and (excluded.stripe_updated > s.stripe_updated
               or (excluded.stripe_updated = s.stripe_updated
                   and private.stripe_lifecycle_rank('subscription', excluded.status)
                       >= private.stripe_lifecycle_rank('subscription', s.status)));
      get diagnostics n = row_count;
      outcome := jsonb_build_object('applied', n > 0, 'object', 'subscription');
      if n = 0 then outcome := outcome || '{"reason": "stale"}'; end if;
    end if;

  elsif ev_type in ('invoice.created', 'invoice.finalized', 'invoice.updated', 'invoice.paid',
                    'invoice.payment_succeeded', 'invoice.payment_failed', 'invoice.voided',
                    'invoice.marked_uncollectible') then
    if ws is null then
      outcome := jsonb_build_object('applied', false, 'reason', 'unknown_customer');
    else
      insert into public.invoices as i
        (workspace_id, stripe_invoice_id, stripe_customer_id, stripe_subscription_id, number, status, currency,
         amount_due, amount_paid, amount_remaining, total, hosted_invoice_url, invoice_pdf,
         period_start, period_end, stripe_created, stripe_updated)
      values (ws, obj ->> 'id', customer,
              coalesce(obj #>> '{parent,subscription_details,subscription}', obj ->> 'subscription'),
              obj ->> 'number', obj ->> 'status', lower(coalesce(obj ->> 'currency', 'usd')),
              coalesce((obj ->> 'amount_due')::bigint, 0), coalesce((obj ->> 'amount_paid')::bigint, 0),
              coalesce((obj ->> 'amount_remaining')::bigint, 0), coalesce((obj ->> 'total')::bigint, 0),
              obj ->> 'hosted_invoice_url', obj ->> 'invoice_pdf',
              private.stripe_time(obj -> 'period_start'), private.stripe_time(obj -> 'period_end'),
              coalesce(private.stripe_time(obj -> 'created'), ev_created), ev_created)
      on conflict (stripe_invoice_id) do update
        set number = excluded.number, status = excluded.status, currency = excluded.currency,
            amount_due = excluded.amount_due, amount_paid = excluded.amount_paid,
            amount_remaining = excluded.amount_remaining, total = excluded.total,
            hosted_invoice_url = excluded.hosted_invoice_url, invoice_pdf = excluded.invoice_pdf,
            period_start = excluded.period_start, period_end = excluded.period_end,
            stripe_subscription_id = excluded.stripe_subscription_id, stripe_updated = excluded.stripe_updated
        where i.stripe_customer_id = excluded.stripe_customer_id
          and (excluded.stripe_updated > i.stripe_updated
               or (excluded.stripe_updated = i.stripe_updated
                   and private.stripe_lifecycle_rank('invoice', excluded.status)
                       >= private.stripe_lifecycle_rank('invoice', i.status)));
      get diagnostics n = row_count;
      outcome := jsonb_build_object('applied', n > 0, 'object', 'invoice');
      if n = 0 then outcome := outcome || '{"reason": "stale"}'; end if;
    end if;

  elsif ev_type in ('payment_method.attached', 'payment_method.updated', 'payment_method.automatically_updated',
                    'payment_method.detached') then
    if ev_type = 'payment_method.detached' then
      -- A detached method no longer names its customer: find it by its own id.
      update public.payment_methods as pm
         set detached_at = ev_created, stripe_updated = ev_created
       where pm.stripe_payment_method_id = obj ->> 'id' and pm.stripe_updated <= ev_created;
      get diagnostics n = row_count;
      outcome := jsonb_build_object('applied', n > 0, 'object', 'payment_method');
      if n = 0 then outcome := outcome || '{"reason": "stale_or_unknown"}'; end if;
    elsif ws is null then
      outcome := jsonb_build_object('applied', false, 'reason', 'unknown_customer');
    elsif obj ->> 'type' is distinct from 'card' then
      outcome := jsonb_build_object('applied', false, 'reason', 'not_a_card');
    else
      -- Only brand, last4 and expiry are ever read out of the card.
      insert into public.payment_methods as pm
        (workspace_id, stripe_payment_method_id, stripe_customer_id, brand, last4, exp_month, exp_year, stripe_updated)
      values (ws, obj ->> 'id', customer, left(obj #>> '{card,brand}', 32), obj #>> '{card,last4}',
              (obj #>> '{card,exp_month}')::smallint, (obj #>> '{card,exp_year}')::smallint, ev_created)
      on conflict (stripe_payment_method_id) do update
        set brand = excluded.brand, last4 = excluded.last4, exp_month = excluded.exp_month,
            exp_year = excluded.exp_year, stripe_customer_id = excluded.stripe_customer_id,
            stripe_updated = excluded.stripe_updated
        where pm.workspace_id = excluded.workspace_id
          and (excluded.stripe_updated > pm.stripe_updated
               or (excluded.stripe_updated = pm.stripe_updated and pm.detached_at is null));
      get diagnostics n = row_count;
      outcome := jsonb_build_object('applied', n > 0, 'object', 'payment_method');
      if n = 0 then outcome := outcome || '{"reason": "stale"}'; end if;
    end if;

  else
    outcome := jsonb_build_object('applied', false, 'reason', 'unhandled_type');
  end if;

  outcome := outcome || jsonb_build_object('duplicate', false, 'event_id', ev_id, 'type', ev_type,
                                         'workspace_id', ws);
  update public.stripe_events e set processed_at = now(), result = outcome - 'event_id' where e.id = ev_id;
  return outcome;
end
$$;
comment on function private.apply_stripe_event(jsonb) is
  'The one writer of Stripe state: records the event id (a duplicate returns {"duplicate": true} and does nothing), '
  'then upserts the event''s object only if the event is newer than what last wrote the row. service_role only.';

revoke all on function private.apply_stripe_event(jsonb) from public, anon, authenticated;
revoke all on function private.stripe_lifecycle_rank(text, text) from public, anon, authenticated;
revoke all on function private.stripe_time(jsonb) from public, anon, authenticated;
grant execute on function private.apply_stripe_event(jsonb) to service_role;

-- ---------------------------------------------------------------------------------------
-- Entitlements: the limits of the workspace's plan right now.

-- The one place that chooses a workspace's plan. No membership check: the limit triggers
-- (20261128011000_entitlement_limits.sql) run it for writers that are not members (signup,
-- the service).
create function private.workspace_plan(p_workspace_id uuid)
returns table (plan_id text, plan_name text, limits jsonb, subscription_status text,
               current_period_start timestamptz, current_period_end timestamptz,
               cancel_at_period_end boolean)
language sql stable security definer
set search_path = ''
as $$
  -- Active, trialing and past_due (Stripe is still retrying the payment) keep the plan;
  -- the highest plan wins when several subscriptions are live.
  with sub as (
    select s.plan_id, s.status, s.current_period_start, s.current_period_end, s.cancel_at_period_end
      from public.subscriptions s join public.plans p on p.id = s.plan_id
     where s.workspace_id = p_workspace_id and s.status in ('active', 'trialing', 'past_due')
     order by p.sort_order desc, s.current_period_end desc nulls last
     limit 1)
  select p.id, p.name, p.limits, sub.status, sub.current_period_start, sub.current_period_end,
         coalesce(sub.cancel_at_period_end, false)
    from public.plans p left join sub on true
   where p.id = coalesce((select sub.plan_id from sub), 'free')
$$;
comment on function private.workspace_plan(uuid) is
  'The plan whose limits apply to a workspace now (its active, trialing or past_due subscription''s, else free), '
  'with that subscription''s status, period and cancel_at_period_end. The one place that choice is made; '
  'workspace_entitlements and the limit checks read it.';
revoke all on function private.workspace_plan(uuid) from public, anon, authenticated;
grant execute on function private.workspace_plan(uuid) to service_role;

create function public.workspace_entitlements(p_workspace_id uuid)
returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_plan record;
begin
  if (select auth.role()) is distinct from 'service_role'
     and not (p_workspace_id = any(array(select private.workspace_ids_for_current_user()))) then
    raise exception 'not a member of this workspace' using errcode = '42501';
  end if;
  select * into v_plan from private.workspace_plan(p_workspace_id);
  return jsonb_build_object('workspace_id', p_workspace_id, 'plan', v_plan.plan_id, 'plan_name', v_plan.plan_name,
                            'subscription_status', v_plan.subscription_status,
                            'current_period_end', v_plan.current_period_end,
                            'cancel_at_period_end', v_plan.cancel_at_period_end,
                            'limits', v_plan.limits);
end
$$;
comment on function public.workspace_entitlements(uuid) is
  'The limits a workspace has now: its active (or trialing, or past_due) subscription''s plan, else free. Members only.';
revoke all on function public.workspace_entitlements(uuid) from public, anon;
grant execute on function public.workspace_entitlements(uuid) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Retention of billing records.

create function private.purge_expired_billing_records(p_now timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  invoices_removed bigint;
  events_removed bigint;
  removed jsonb;
begin
  -- Invoices are kept 7 years from their creation at Stripe, then go.
  delete from public.invoices i where i.stripe_created < p_now - interval '7 years';
  get diagnostics invoices_removed = row_count;
  -- Event ids only guard against replays; Stripe retries for 3 days.
  delete from public.stripe_events e where e.received_at < p_now - interval '90 days';
  get diagnostics events_removed = row_count;
  removed := jsonb_build_object('invoices', invoices_removed, 'stripe_events', events_removed);
  if invoices_removed > 0 or events_removed > 0 then
    perform private.write_audit_log(null, null, 'retention.purge_billing', null, null, removed, null);
  end if;
  return removed;
end
$$;
comment on function private.purge_expired_billing_records(timestamptz) is
  'Deletes invoices over 7 years old and Stripe event ids over 90 days old. Run nightly by pg_cron '
  '(job numeraloop-billing-retention).';
revoke all on function private.purge_expired_billing_records(timestamptz) from public, anon, authenticated;
grant execute on function private.purge_expired_billing_records(timestamptz) to service_role;

select cron.schedule('numeraloop-billing-retention', '41 3 * * *', $$select private.purge_expired_billing_records()$$);

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
