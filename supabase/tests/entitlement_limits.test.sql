-- Plan limits enforced in the database. Seats: a member beyond the plan's seats is refused
-- (P0402) whoever adds them (a client accepting an invitation, the service, SQL), the first
-- owner always gets in, and a downgrade removes nobody. Monthly messages: manual sends are
-- refused once the period's messages are used up, automated replies count but are never
-- blocked, inbound is never limited, a campaign is refused at launch when its audience needs
-- more than is left and is paused at claim time when the messages run out;
-- public.workspace_usage; a paid plan raises the limits.
begin;
select plan(44);

select tests.create_user('alice');   -- seats: owner of a free workspace
select tests.create_user('bob');
select tests.create_user('carol');   -- monthly messages: her own free workspace
select tests.create_user('dave');    -- campaigns: his own free workspace
select tests.create_user('erin');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('carol') as ws_c \gset
select tests.personal_workspace('dave') as ws_d \gset
select tests.personal_workspace('erin') as ws_e \gset

-- A subscription as the Stripe webhook records it (through private.apply_stripe_event).
create function pg_temp.subscribe(ws uuid, sub text, price text, status text, created bigint,
                                  period_start timestamptz default now() - interval '1 day')
returns jsonb language sql as $$
  insert into public.billing_customers (workspace_id, stripe_customer_id)
  values (ws, 'cus_' || replace(ws::text, '-', '')) on conflict do nothing;
  select private.apply_stripe_event(jsonb_build_object(
    'id', 'evt_' || replace(sub, '_', '') || created, 'object', 'event', 'type', 'customer.subscription.updated', 'created', created,
    'data', jsonb_build_object('object', jsonb_build_object(
      'id', sub, 'object', 'subscription', 'customer', 'cus_' || replace(ws::text, '-', ''), 'status', status,
      'items', jsonb_build_object('data', jsonb_build_array(jsonb_build_object(
        'price', jsonb_build_object('id', price),
        'current_period_start', extract(epoch from period_start)::bigint,
        'current_period_end', extract(epoch from period_start + interval '1 month')::bigint)))))))
$$;

-- `n` outbound messages already sent from `num` (as a send records them), at `at`.
create function pg_temp.sent(ws uuid, num uuid, n integer, at timestamptz default now()) returns void
language sql as $$
  with c as (select private.upsert_conversation(ws, num, private.upsert_contact(ws, '+15557770000')) as id)
  insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status, source,
                               created_at)
  select ws, c.id, 'outbound', (select e164 from public.phone_numbers where id = num), '+15557770000', 'earlier',
         'delivered', 'manual', at
    from c, generate_series(1, n)
$$;

-- The DETAIL of the P0402 a statement raises (null if it raises nothing).
create function pg_temp.limit_detail(statement text) returns jsonb language plpgsql as $$
declare
  d text;
begin
  execute statement;
  return null;
exception when sqlstate 'P0402' then
  get stacked diagnostics d = pg_exception_detail;
  return d::jsonb;
end
$$;

-- ---------------------------------------------------------------------------------------
-- Seats (free: 2)

select is((select count(*)::int from public.workspace_members where workspace_id = :'ws'), 1,
  'signup: the first owner always gets in');

-- Clients add members only by invitation: the invitee accepts.
select tests.invite(:'ws', 'alice', 'bob') as bob_token, tests.invite(:'ws', 'alice', 'carol') as carol_token \gset
select tests.authenticate_as('bob');
select lives_ok(format($$ select public.accept_workspace_invitation(%L) $$, :'bob_token'),
  'a second member joins within the free plan''s 2 seats');
select tests.authenticate_as('carol');
select throws_ok(format($$ select public.accept_workspace_invitation(%L) $$, :'carol_token'),
  'P0402', 'the Free plan allows 2 seats and this workspace has 2 members; upgrade to add more',
  'a client joining a free workspace as its third member is refused');
select tests.authenticate_as('alice');
select lives_ok($$ select public.create_workspace('Alice Team') $$,
  'create_workspace: its creator is always its first member');
select is((select count(*)::int from public.workspace_members m join public.workspaces w on w.id = m.workspace_id
            where w.name = 'Alice Team'), 1, '... as its one owner');
select tests.clear_authentication();

select tests.authenticate_as_service_role();
select throws_ok(format($$ insert into public.workspace_members (workspace_id, user_id, role) values (%L, %L, 'agent') $$,
                        :'ws', tests.user_id('carol')),
  'P0402', null, 'the service is held to the seat limit too');
select tests.clear_authentication();

select is(pg_temp.limit_detail(format($$ insert into public.workspace_members (workspace_id, user_id, role)
                                         values (%L, %L, 'agent') $$, :'ws', tests.user_id('carol'))),
  '{"limit_name": "seats", "limit": 2, "used": 2, "plan": "free"}'::jsonb,
  'so is SQL with no caller (migrations, functions), with limit, used and plan in the detail');
select lives_ok(format($$ insert into public.workspace_members (workspace_id, user_id, role) values (%L, %L, 'agent')
                          on conflict do nothing $$, :'ws', tests.user_id('bob')),
  're-adding an existing member at the limit stays a no-op');

-- A paid plan raises the limit; a downgrade removes nobody, only new additions are refused.
select is(pg_temp.subscribe(:'ws', 'sub_alice', 'price_numeraloop_starter_monthly', 'active', 1795000000) ->> 'applied',
  'true', 'alice''s workspace subscribes to Starter (5 seats)');
select lives_ok(format($$ insert into public.workspace_members (workspace_id, user_id, role) values
                            (%L, %L, 'agent'), (%L, %L, 'admin') $$,
                       :'ws', tests.user_id('carol'), :'ws', tests.user_id('dave')),
  'on Starter, a third and fourth member join');
select is(pg_temp.subscribe(:'ws', 'sub_alice', 'price_numeraloop_starter_monthly', 'canceled', 1795000100) ->> 'applied',
  'true', 'the subscription is canceled: back to free');
select is((select count(*)::int from public.workspace_members where workspace_id = :'ws'), 4,
  'a downgrade below the member count removes nobody');
select throws_ok(format($$ insert into public.workspace_members (workspace_id, user_id, role) values (%L, %L, 'agent') $$,
                        :'ws', tests.user_id('erin')),
  'P0402', 'the Free plan allows 2 seats and this workspace has 4 members; upgrade to add more',
  '... but nobody new joins until the workspace is back within its seats');

-- The database's checks choose the plan exactly as public.workspace_entitlements does.
select tests.authenticate_as('alice');
select public.workspace_entitlements(:'ws') ->> 'plan' as alice_plan \gset
select tests.clear_authentication();
select is((select plan_id from private.workspace_plan(:'ws')), :'alice_plan',
  'workspace_plan agrees with workspace_entitlements (canceled: free)');
select pg_temp.subscribe(:'ws_e', 'sub_erinTrial', 'price_numeraloop_starter_monthly', 'trialing', 1795000000,
                         '2027-01-31 10:00Z');
select pg_temp.subscribe(:'ws_e', 'sub_erinPro', 'price_numeraloop_pro_monthly', 'past_due', 1795000000,
                         '2027-01-31 10:00Z');
select tests.authenticate_as('erin');
select public.workspace_entitlements(:'ws_e') ->> 'plan' as erin_plan \gset
select tests.clear_authentication();
select is(array[(select plan_id from private.workspace_plan(:'ws_e')), :'erin_plan'], array['pro', 'pro'],
  'workspace_plan agrees with workspace_entitlements (trialing starter and past_due pro: pro)');

-- ---------------------------------------------------------------------------------------
-- The message period

select is((select row(period_start, period_end)::text from private.message_period(:'ws_e', '2027-02-15 12:00Z')),
  row('2027-01-31 10:00Z'::timestamptz, '2027-02-28 10:00Z'::timestamptz)::text,
  'paid: monthly windows anchored at the subscription''s current_period_start');
select is((select row(period_start, period_end)::text from private.message_period(:'ws_e', '2027-03-01 00:00Z')),
  row('2027-02-28 10:00Z'::timestamptz, '2027-03-31 10:00Z'::timestamptz)::text,
  '... the next window follows on with month ends clamped, as Stripe bills');
select is((select row(period_start, period_end)::text from private.message_period(:'ws_c', '2027-02-15 12:00Z')),
  row('2027-02-01 00:00Z'::timestamptz, '2027-03-01 00:00Z'::timestamptz)::text,
  'free: the calendar month in UTC');

-- ---------------------------------------------------------------------------------------
-- Monthly messages on manual sends (free: 250)

insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (:'ws_c', 'PN' || md5('carol-1'), '+15550003333')
returning id as num_c \gset
select pg_temp.sent(:'ws_c', :'num_c', 5, (date_trunc('month', now() at time zone 'UTC') at time zone 'UTC') - interval '1 second');

select tests.authenticate_as('carol');
select is(public.workspace_usage(:'ws_c') - 'workspace_id' - 'monthly_messages',
  '{"plan": "free", "plan_name": "Free", "phone_numbers": {"used": 1, "limit": 2}, "seats": {"used": 1, "limit": 2}}'::jsonb,
  'usage: numbers and seats, used and limit');
select is((public.workspace_usage(:'ws_c') -> 'monthly_messages') - 'period_start' - 'period_end',
  '{"used": 0, "limit": 250, "remaining": 250}'::jsonb,
  'usage: last month''s messages do not count in this one');
select throws_ok(format('select public.workspace_usage(%L)', :'ws_d'), '42501', null,
  'usage of another workspace is refused');
select tests.clear_authentication();

select pg_temp.sent(:'ws_c', :'num_c', 248);
select tests.user_id('carol') as carol, tests.user_id('dave') as dave \gset
-- Manual sends as the service records them for a member (private.prepare_outbound_message).
select tests.authenticate_as_service_role();
select lives_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'Number 249', null, 1, 'gsm7',
                                                                  'k-249') $$,
                       :'ws_c', :'carol', :'num_c'),
  'a manual send within the limit is recorded');
select tests.clear_authentication();

-- An inbound HELP: stored, and answered even though that reply takes the 250th message.
select is(jsonb_array_length(private.receive_inbound_message(:'ws_c', :'num_c', 'SM' || md5('carol-help-1'), '+15551230001',
                                                             '+15550003333', 'HELP', 1, '[]') -> 'replies'), 1,
  'the HELP reply is recorded');

select tests.authenticate_as_service_role();
select is(pg_temp.limit_detail(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'One more', null,
                                                                                 1, 'gsm7', 'k-251') $$,
                                      :'ws_c', :'carol', :'num_c'))
            - 'period_start' - 'period_end',
  '{"limit_name": "monthly_messages", "limit": 250, "used": 250, "reserved": 0, "remaining": 0, "plan": "free",
    "plan_name": "Free"}'::jsonb,
  'once the period''s 250 are used, a manual send is refused with P0402: limit, used and plan in the detail');
select throws_like(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230002', 'One more', null, 1, 'gsm7') $$,
                          :'ws_c', :'carol', :'num_c'),
  'the Free plan''s 250 messages for this period are used up (250 sent since % UTC; the period resets at % UTC); upgrade the plan, or resume after the reset',
  '... with a message that names the limit and when it resets');
select is((select count(*)::int from public.contacts where workspace_id = :'ws_c' and phone_e164 = '+15551230002'), 0,
  'a refused send leaves nothing behind (no contact, no conversation)');
select is(private.prepare_outbound_message(:'ws_c', :'carol', :'num_c', '+15551230001', 'Number 249', null, 1, 'gsm7', 'k-249')
            ->> 'replayed',
  'true', 'replaying an idempotency key over the limit returns the first message and sends nothing more');
select tests.clear_authentication();

select is(jsonb_array_length(private.receive_inbound_message(:'ws_c', :'num_c', 'SM' || md5('carol-help-2'), '+15551230001',
                                                             '+15550003333', 'HELP', 1, '[]') -> 'replies'), 1,
  'over the limit, HELP is still answered: automated replies are never blocked');
select is((select count(*)::int from public.messages where workspace_id = :'ws_c' and direction = 'inbound'), 2,
  'inbound messages are never limited');
select tests.authenticate_as('carol');
select is((public.workspace_usage(:'ws_c') -> 'monthly_messages') - 'period_start' - 'period_end',
  '{"used": 251, "limit": 250, "remaining": 0}'::jsonb,
  'usage: automated replies count as used, inbound does not');
select tests.clear_authentication();

-- A paid plan raises the limit (and its period starts with the subscription's).
select pg_temp.subscribe(:'ws_c', 'sub_carol', 'price_numeraloop_starter_monthly', 'active', 1795000000,
                         date_trunc('second', now()) - interval '1 hour');
select tests.authenticate_as_service_role();
select lives_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'Upgraded', null, 1, 'gsm7') $$,
                       :'ws_c', :'carol', :'num_c'),
  'on Starter the send goes through');
select is(public.workspace_usage(:'ws_c') -> 'monthly_messages',
  jsonb_build_object('used', 252, 'limit', 5000, 'remaining', 4748,
                     'period_start', date_trunc('second', now()) - interval '1 hour',
                     'period_end', date_trunc('second', now()) - interval '1 hour' + interval '1 month'),
  'usage: Starter''s 5,000 in the period that began with the subscription');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Campaigns (dave's free workspace: 247 of 250 used)

-- A number with the throughput to send them in one claim, and a window around the clock (pacing
-- and quiet hours are campaigns.test.sql's).
insert into public.phone_numbers (workspace_id, twilio_sid, e164, segments_per_second)
values (:'ws_d', 'PN' || md5('dave-1'), '+15550004444', 1000) returning id as num_d \gset
update public.workspaces set campaign_window_start = '00:00', campaign_window_end = '24:00' where id = :'ws_d';
insert into public.contacts (workspace_id, phone_e164, tags)
select :'ws_d', '+1555888000' || i, case when i <= 5 then '{spring}'::text[] else '{summer}'::text[] end
  from generate_series(1, 8) i;
select pg_temp.sent(:'ws_d', :'num_d', 247);

select tests.authenticate_as('dave');
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws_d', 'Spring', :'num_d', 'Spring sale', '{spring}', 100) returning id as spring \gset
insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate)
values (:'ws_d', 'Summer', :'num_d', 'Summer sale', '{summer}', 100) returning id as summer \gset
select throws_like(format('select public.launch_campaign(%L)', :'spring'),
  'this campaign would text 5 recipients but the Free plan has 3 of its 250 messages left for the period it starts in %',
  'launching a campaign whose audience alone exceeds what is left is refused (P0402)');
select is((select row(k.status, (select count(*) from public.campaign_recipients r where r.campaign_id = k.id))::text
             from public.campaigns k where k.id = :'spring'), row('draft', 0)::text,
  '... and leaves the draft as it was');
select is(public.launch_campaign(:'spring', (date_trunc('month', now() at time zone 'UTC') + interval '1 month 1 day')
                                            at time zone 'UTC') ->> 'status',
  'scheduled', 'scheduled into next period, it has that period''s 250 and launches');
select is(public.launch_campaign(:'summer') ->> 'status', 'sending', 'a campaign that fits what is left launches');
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select lives_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'A reply', null, 1, 'gsm7') $$,
                       :'ws_d', :'dave', :'num_d'),
  'meanwhile a manual send takes one of the 3 left');
select tests.clear_authentication();

select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_campaign_recipients(50, 60) c where c.campaign_id = :'summer'), 2,
  'the claim takes only the 2 messages left of its 3 recipients');
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select throws_ok(format($$ select private.prepare_outbound_message(%L, %L, %L, '+15551230001', 'Another', null, 1, 'gsm7') $$,
                        :'ws_d', :'dave', :'num_d'),
  'P0402', null, 'claimed campaign messages are reserved: a manual send cannot take them');
select is((public.workspace_usage(:'ws_d') -> 'monthly_messages') - 'period_start' - 'period_end',
  '{"used": 248, "limit": 250, "remaining": 0}'::jsonb, 'usage: remaining discounts the claimed ones');
select tests.clear_authentication();

select tests.authenticate_as_service_role();
select is((select count(*)::int from public.campaign_recipients r
            where r.campaign_id = :'summer' and r.status = 'claimed'
              and (private.prepare_campaign_message(r.id, r.claim_token, 'Summer sale', 1, 'gsm7') ->> 'send')::boolean), 2,
  'the worker makes the two claimed messages');
select is((select count(*)::int from private.claim_campaign_recipients(50, 60) c where c.campaign_id = :'summer'), 0,
  'with the messages used up, the next claim takes nothing');
select tests.clear_authentication();
select matches((select status || ': ' || last_error from public.campaigns where id = :'summer'),
  '^paused: the Free plan''s 250 messages for this period are used up \(250 sent since .* UTC; the period resets at .* UTC\)',
  '... and pauses the campaign with the reason in last_error');
select is((select count(*)::int from public.campaign_recipients where campaign_id = :'summer' and status = 'pending'), 1,
  'the recipient not sent waits, pending, for a resume');

select * from finish();
rollback;
