-- The plan's phone-number limit, enforced in the database like seats and monthly messages: a
-- number added or made active again beyond it is refused (P0402, limit/used/plan in the detail)
-- whoever writes it; the service asks private.require_phone_number_room() before it buys or
-- imports at Twilio; released and detached numbers do not count; a downgrade releases nothing.
begin;
select plan(17);

select tests.create_user('alice');    -- free: 2 numbers
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset

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

create function pg_temp.add_number(ws uuid, n integer, status text default 'active') returns text language sql as $$
  select format($f$ insert into public.phone_numbers (workspace_id, twilio_sid, e164, status)
                    values (%L, %L, %L, %L) $f$, ws, 'PN' || md5('limits-' || n), '+1555000' || lpad(n::text, 4, '0'), status)
$$;

select tests.authenticate_as_service_role();
select lives_ok($$ select private.require_phone_number_room($$ || quote_literal(:'ws') || $$) $$,
  'an empty free workspace has room');
select lives_ok(pg_temp.add_number(:'ws', 1), 'the first number');
select lives_ok(pg_temp.add_number(:'ws', 2), 'the second number');
select lives_ok(pg_temp.add_number(:'ws', 3, 'released'), 'a released number does not count');
select lives_ok(pg_temp.add_number(:'ws', 4, 'detached'), 'nor a detached one');
select throws_ok(format('select private.require_phone_number_room(%L)', :'ws'), 'P0402',
  'the Free plan allows 2 phone numbers and this workspace has 2; upgrade to add more',
  'asked before buying, a full workspace has no room');
select is(pg_temp.limit_detail(format('select private.require_phone_number_room(%L, 3)', :'ws')),
  '{"limit_name": "phone_numbers", "limit": 2, "used": 2, "remaining": 0, "needed": 3, "plan": "free"}'::jsonb,
  'the detail carries limit, used, what is needed and the plan');
select is(pg_temp.limit_detail(pg_temp.add_number(:'ws', 5)),
  '{"limit_name": "phone_numbers", "limit": 2, "used": 2, "remaining": 0, "needed": 1, "plan": "free"}'::jsonb,
  'the service storing a third number is refused too, with limit, used and plan');
select is(pg_temp.limit_detail(format($$ update public.phone_numbers set status = 'active'
                                          where workspace_id = %L and e164 = '+15550000003' $$, :'ws')) ->> 'used',
  '2', 'so is making a released number active again');
select lives_ok(format($$ update public.phone_numbers set friendly_name = 'Front desk', status = 'releasing'
                          where workspace_id = %L and e164 = '+15550000001' $$, :'ws'),
  'a counted number changes freely (renamed, releasing)');
select lives_ok(format($$ update public.phone_numbers set status = 'active' where workspace_id = %L and e164 = '+15550000001' $$,
                       :'ws'),
  '... and goes back to active when Twilio refuses the release');
select tests.clear_authentication();

select is(pg_temp.limit_detail(pg_temp.add_number(:'ws', 6)) ->> 'plan', 'free',
  'SQL with no caller (migrations, seeds) is held to it as well');

-- A paid plan raises the limit; a downgrade releases nothing.
insert into public.billing_customers (workspace_id, stripe_customer_id) values (:'ws', 'cus_limits');
insert into public.subscriptions (workspace_id, stripe_subscription_id, stripe_customer_id, plan_id, status,
                                  current_period_start, current_period_end, stripe_updated)
values (:'ws', 'sub_limits', 'cus_limits', 'starter', 'active', now() - interval '1 day', now() + interval '29 days', now());
select lives_ok(pg_temp.add_number(:'ws', 7), 'on Starter (5), a third number goes in');
update public.subscriptions set status = 'canceled' where stripe_subscription_id = 'sub_limits';
select is((select count(*)::int from public.phone_numbers where workspace_id = :'ws' and status = 'active'), 3,
  'back on free, the 3 numbers stay');
select throws_ok(pg_temp.add_number(:'ws', 8), 'P0402', null, '... and a fourth is refused');

-- Clients neither ask nor add.
select tests.authenticate_as('alice');
select throws_ok(format('select private.require_phone_number_room(%L)', :'ws'), '42501', null,
  'the room check is the service''s');
select tests.clear_authentication();
select tests.authenticate_as('mallory');
select is(tests.attempt(pg_temp.add_number(:'ws', 9)), 'denied',
  'an outsider adding a number to the workspace is refused without its plan or count');
select tests.clear_authentication();

select * from finish();
rollback;
