-- The period's monthly messages are a counter (private.message_usage) moved with each outbound
-- message, not a count of the messages on every send: exact for multi-row inserts, per period
-- (a message just before a boundary counts in the period before), across a plan change that
-- redraws the period and back, and a message deleted later stays used. Concurrent writers are
-- tests/billing/test_message_usage.py's.
begin;
select plan(20);

select tests.create_user('uma');
select tests.personal_workspace('uma') as ws \gset
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws', 'PN' || md5('uma-1'), '+15550006666')
returning id as num \gset

create function pg_temp.subscribe(ws uuid, sub text, status text, created bigint, period_start timestamptz)
returns jsonb language sql as $$
  insert into public.billing_customers (workspace_id, stripe_customer_id)
  values (ws, 'cus_' || replace(ws::text, '-', '')) on conflict do nothing;
  select private.apply_stripe_event(jsonb_build_object(
    'id', 'evt_' || replace(sub, '_', '') || created, 'object', 'event', 'type', 'customer.subscription.updated', 'created', created,
    'data', jsonb_build_object('object', jsonb_build_object(
      'id', sub, 'object', 'subscription', 'customer', 'cus_' || replace(ws::text, '-', ''), 'status', status,
      'items', jsonb_build_object('data', jsonb_build_array(jsonb_build_object(
        'price', jsonb_build_object('id', 'price_numeraloop_starter_monthly'),
        'current_period_start', extract(epoch from period_start)::bigint,
        'current_period_end', extract(epoch from period_start + interval '1 month')::bigint)))))))
$$;

-- `n` outbound messages in one statement, at `at`.
create function pg_temp.sent(ws uuid, num uuid, n integer, at timestamptz default now()) returns void
language sql as $$
  with c as (select private.upsert_conversation(ws, num, private.upsert_contact(ws, '+15557771111')) as id)
  insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status, source,
                               created_at)
  select ws, c.id, 'outbound', '+15550006666', '+15557771111', 'earlier', 'delivered', 'manual', at
    from c, generate_series(1, n)
$$;

create function pg_temp.used(ws uuid) returns bigint language sql as $$
  select (private.message_allowance(ws) ->> 'used')::bigint
$$;
create function pg_temp.counted(ws uuid) returns bigint language sql as $$
  select count(*) from public.messages m, private.message_period(ws) p
   where m.workspace_id = ws and m.direction = 'outbound'
     and m.created_at >= p.period_start and m.created_at < p.period_end
$$;

select date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' as month_start \gset

-- ---------------------------------------------------------------------------------------
-- One statement of many rows, then single ones

select pg_temp.sent(:'ws', :'num', 40);
select is((select used from private.message_usage where workspace_id = :'ws'), 40::bigint,
  'a 40-row insert counts 40 in the period''s counter row, not the rows it saw twice');
select pg_temp.sent(:'ws', :'num', 1);
select pg_temp.sent(:'ws', :'num', 2);
select is(pg_temp.used(:'ws'), 43::bigint, 'each later insert adds its rows');

-- Inbound is not counted; an automated reply is.
select private.receive_inbound_message(:'ws', :'num', 'SM' || md5('uma-help'), '+15557771111', '+15550006666', 'HELP',
                                       1, '[]');
select is(pg_temp.used(:'ws'), 44::bigint, 'an inbound HELP adds only its reply');

-- ---------------------------------------------------------------------------------------
-- Period boundaries (free: the calendar month in UTC)

select pg_temp.sent(:'ws', :'num', 3, :'month_start'::timestamptz - interval '1 microsecond');
select is(pg_temp.used(:'ws'), 44::bigint, 'messages just before the month began count in the month before ...');
select is((select used from private.message_usage
            where workspace_id = :'ws' and period_end = :'month_start'::timestamptz), 3::bigint,
  '... in that month''s own counter row');
select pg_temp.sent(:'ws', :'num', 2, :'month_start'::timestamptz + interval '1 month');
select is(pg_temp.used(:'ws'), 44::bigint, 'and messages at the next month''s first instant in the next month');
select is((select count(*)::int from private.message_usage where workspace_id = :'ws'), 3, 'one row per period');

-- One statement across periods: each period's row gets its own.
select tests.create_user('vic');
select tests.personal_workspace('vic') as ws_v \gset
insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws_v', 'PN' || md5('vic-1'), '+15550006667')
returning id as num_v \gset
with c as (select private.upsert_conversation(:'ws_v', :'num_v', private.upsert_contact(:'ws_v', '+15557771112')) as id)
insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status, source, created_at)
select :'ws_v', c.id, 'outbound', '+15550006667', '+15557771112', 'spread', 'delivered', 'auto_reply', t.at
  from c, (values (:'month_start'::timestamptz - interval '20 days'), (:'month_start'::timestamptz - interval '1 second'),
                  (:'month_start'::timestamptz), (now()), (now()), (:'month_start'::timestamptz + interval '1 month')) t(at);
select is(array(select used from private.message_usage where workspace_id = :'ws_v' order by period_start),
  array[2, 3, 1]::bigint[], 'one statement over three months: 2, 3 and 1 in their months'' rows');

-- A paid plan's anchor inside a calendar month splits it: before the anchor the calendar month,
-- from it the billing period.
select pg_temp.subscribe(:'ws_v', 'sub_vic', 'active', 1795000000, :'month_start'::timestamptz - interval '10 days');
with c as (select private.upsert_conversation(:'ws_v', :'num_v', private.upsert_contact(:'ws_v', '+15557771112')) as id)
insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status, source, created_at)
select :'ws_v', c.id, 'outbound', '+15550006667', '+15557771112', 'spread', 'delivered', 'auto_reply', t.at
  from c, (values (:'month_start'::timestamptz - interval '11 days'), (:'month_start'::timestamptz - interval '10 days'),
                  (:'month_start'::timestamptz - interval '9 days')) t(at);
select is((select used from private.message_usage where workspace_id = :'ws_v'
            and period_start = :'month_start'::timestamptz - interval '10 days'),
  (select count(*) from public.messages where workspace_id = :'ws_v'
     and created_at >= :'month_start'::timestamptz - interval '10 days'
     and created_at < :'month_start'::timestamptz - interval '10 days' + interval '1 month'),
  'the billing period from the anchor: its messages, those from before the plan counted into it once');
select is((select count(*)::int from private.message_usage where workspace_id = :'ws_v'
            and period_start = :'month_start'::timestamptz - interval '1 month'), 0,
  'and the calendar month it overlaps is dropped, to be counted again if it is ever current again');

-- ---------------------------------------------------------------------------------------
-- A plan change redraws the period, and back

select pg_temp.subscribe(:'ws', 'sub_uma', 'active', 1795000000, date_trunc('second', now()) + interval '2 seconds');
select is(pg_temp.used(:'ws'), 44::bigint, 'a subscription starting after now leaves the calendar month current');
select pg_temp.subscribe(:'ws', 'sub_uma', 'active', 1795000100, date_trunc('second', now()));
select is(pg_temp.used(:'ws'), pg_temp.counted(:'ws'), 'on Starter: the new period''s messages, counted once ...');
select pg_temp.sent(:'ws', :'num', 5);
select is(pg_temp.used(:'ws'), pg_temp.counted(:'ws'), '... then moved by each message in it');
select is((select count(*)::int from private.message_usage u
            where u.workspace_id = :'ws' and u.period_start < now() + interval '1 second' and u.period_end > now()), 1,
  'the calendar month''s row it overlaps is gone: rows never overlap');
select pg_temp.subscribe(:'ws', 'sub_uma', 'canceled', 1795000200, date_trunc('second', now()));
select pg_temp.sent(:'ws', :'num', 1);
select is(pg_temp.used(:'ws'), 50::bigint,
  'canceled, back on the calendar month: every message of the month, those sent on Starter too');

-- ---------------------------------------------------------------------------------------
-- A sent message stays used

delete from public.messages where workspace_id = :'ws' and direction = 'outbound';
select is(pg_temp.used(:'ws'), 50::bigint, 'deleting messages (erasure, retention) gives back none of the period');
select is((select used from private.message_usage where workspace_id = :'ws' and period_end = :'month_start'::timestamptz),
  3::bigint, 'nor changes a past period''s');

-- ---------------------------------------------------------------------------------------
-- Manual messages in one statement (free: 250, 50 used)

select throws_ok(format($$ select pg_temp.sent(%L, %L, 201) $$, :'ws', :'num'),
  'P0402', null, 'manual messages one past what is left, in one statement: refused whole');
select lives_ok(format($$ select pg_temp.sent(%L, %L, 200) $$, :'ws', :'num'), 'exactly what is left: recorded');
select is(pg_temp.used(:'ws'), 250::bigint, '... and counted');

select * from finish();
rollback;
