-- Entitlement limits enforced in the database: seats, phone numbers and monthly messages.
--
-- public.plans.limits holds {phone_numbers, monthly_messages, seats}, each enforced here for every
-- writer (PostgREST clients, the service, SQL functions, the campaign workers):
--
--   seats             adding a member beyond the plan's `seats` is refused (P0402) by a trigger on
--                     public.workspace_members. The first member of a workspace (the signup trigger's
--                     owner, create_workspace()'s creator) always gets in. Only additions are checked:
--                     a downgrade below the current member count removes nobody.
--   phone_numbers     a workspace's active and releasing numbers count against the plan's
--                     `phone_numbers`: a trigger on public.phone_numbers refuses (P0402) a number
--                     added, or made active again, beyond it. Since a number is bought at Twilio
--                     before it is recorded, the service first asks
--                     private.require_phone_number_room() (same P0402), so a purchase or import past
--                     the limit never reaches Twilio; the trigger settles a race between two buys.
--                     A downgrade releases no number.
--   monthly_messages  outbound messages recorded in the workspace's message period count against
--                     the plan's `monthly_messages`. The period is
--                       * on a paid plan (an active, trialing or past_due subscription, the one
--                         private.workspace_plan chooses): monthly windows anchored at the
--                         subscription's current_period_start, which for a monthly plan is exactly
--                         its billing period (a yearly plan gets twelve monthly windows);
--                       * on free: the calendar month in UTC.
--                     Every outbound message created in the period counts (manual, campaign, and the
--                     automated replies: help, keyword, auto_reply), whatever its later delivery status.
--                     Inbound messages never count and are never limited.
--                     Enforced where messages are created for sending:
--                       * manual sends (private.prepare_outbound_message, or any insert of a 'manual'
--                         outbound message): P0402 once the period's messages are used up;
--                       * campaigns: launch is refused (P0402) when the audience alone needs more
--                         messages than are left in the period it starts in; while sending,
--                         private.claim_campaign_recipients (20261128009500_campaigns.sql, using
--                         the functions below) claims no more new messages than are left
--                         and pauses the campaign (private.halt_campaign, reason in last_error) once
--                         they are used up;
--                       * automated replies (HELP, keywords, auto reply: compliance and conversation
--                         replies sent as TwiML) are counted but never blocked, so a workspace over its
--                         limit still answers HELP and STOP confirmations.
--                     Campaign recipients claimed by a worker whose message is not made yet are
--                     "reserved": manual sends and later claims see them as taken, so concurrent
--                     campaigns and sends together stay within the limit. Creation of outbound messages
--                     and campaign claims are serialised per workspace by an advisory lock held to commit.
--                     What is used is a counter row per workspace and period (private.message_usage),
--                     moved in the same transaction as each outbound message, so a send costs the same
--                     whether the period has 10 messages or 10 million. A sent message stays used when
--                     it is later deleted (erasure, retention): the plan paid for it.
--
-- SQLSTATE P0402 ("payment required"): the message names the limit; DETAIL is a JSON object
-- {"limit_name", "limit", "used", "plan", ...} that the service returns as
-- 402 plan_limit_reached with limit, used and plan.
--
-- public.workspace_usage(workspace) shows members each limit with what is used.

-- ---------------------------------------------------------------------------------------
-- The plan's limits. Which plan applies is private.workspace_plan's choice (billing).

create function private.plan_limit(p_limits jsonb, p_name text) returns bigint
language sql immutable
set search_path = ''
as $$
  select case when jsonb_typeof(p_limits -> p_name) = 'number' then (p_limits ->> p_name)::numeric::bigint end
$$;
comment on function private.plan_limit(jsonb, text) is
  'A plan limit as a number; null (unlimited) when the plan sets it to null or leaves it out.';

-- ---------------------------------------------------------------------------------------
-- Seats

create function private.tg_workspace_members__limit_seats() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_used bigint;
  v_plan record;
  v_limit bigint;
begin
  -- Two additions at once must not both take the last seat: the second counts after the first commits.
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.seats:' || new.workspace_id, 0));
  -- An AFTER trigger: the new row is counted, so the members besides it are one fewer.
  select count(*) - 1 into v_used from public.workspace_members m where m.workspace_id = new.workspace_id;
  -- The first member (signup's owner, create_workspace()'s creator) always gets in.
  if v_used = 0 then
    return null;
  end if;
  select * into v_plan from private.workspace_plan(new.workspace_id);
  v_limit := private.plan_limit(v_plan.limits, 'seats');
  if v_limit is not null and v_used >= v_limit then
    raise exception 'the % plan allows % seats and this workspace has % members; upgrade to add more',
                    v_plan.plan_name, v_limit, v_used
      using errcode = 'P0402',
            detail = jsonb_build_object('limit_name', 'seats', 'limit', v_limit, 'used', v_used,
                                        'plan', v_plan.plan_id)::text;
  end if;
  return null;
end
$$;
comment on function private.tg_workspace_members__limit_seats() is
  'Refuses (P0402) a new member beyond the plan''s seats, for every writer. The first member always gets in; '
  'existing members are never removed by a downgrade. Runs after the row passed RLS, so a caller who may not '
  'add members to the workspace is refused by RLS and never learns its plan or member count.';

-- AFTER, not BEFORE: a BEFORE trigger runs ahead of RLS's WITH CHECK, so its P0402 would tell an
-- outsider naming another workspace that workspace's plan and member count. A row skipped by
-- ON CONFLICT DO NOTHING fires no AFTER INSERT trigger, so re-adding a member stays a no-op.
create trigger tg_workspace_members__limit_seats after insert on public.workspace_members
  for each row execute function private.tg_workspace_members__limit_seats();

-- ---------------------------------------------------------------------------------------
-- Phone numbers

create function private.phone_number_limit_error(p_workspace_id uuid, p_used bigint, p_adding integer)
returns void
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_plan record;
  v_limit bigint;
begin
  select * into v_plan from private.workspace_plan(p_workspace_id);
  v_limit := private.plan_limit(v_plan.limits, 'phone_numbers');
  if v_limit is null or p_used + p_adding <= v_limit then
    return;
  end if;
  raise exception '%', case
      when p_adding = 1 then format('the %s plan allows %s phone numbers and this workspace has %s; upgrade to add more',
                                    v_plan.plan_name, v_limit, p_used)
      else format('the %s plan allows %s phone numbers and this workspace has %s, so %s more do not fit; upgrade to '
                  'add more, or add fewer', v_plan.plan_name, v_limit, p_used, p_adding)
    end
    using errcode = 'P0402',
          detail = jsonb_build_object('limit_name', 'phone_numbers', 'limit', v_limit, 'used', p_used,
                                      'remaining', greatest(v_limit - p_used, 0), 'needed', p_adding,
                                      'plan', v_plan.plan_id)::text;
end
$$;
comment on function private.phone_number_limit_error(uuid, bigint, integer) is
  'Raises P0402 (limit, used, remaining, needed and plan in the detail) when p_adding more numbers than the '
  'p_used ones pass the plan''s phone_numbers limit.';

create function private.require_phone_number_room(p_workspace_id uuid, p_adding integer default 1)
returns void
language plpgsql stable security definer
set search_path = ''
as $$
begin
  perform private.phone_number_limit_error(
    p_workspace_id,
    (select count(*) from public.phone_numbers p
      where p.workspace_id = p_workspace_id and p.status in ('active', 'releasing')),
    greatest(coalesce(p_adding, 1), 1));
end
$$;
comment on function private.require_phone_number_room(uuid, integer) is
  'P0402 unless the workspace''s plan has room for p_adding more phone numbers. The service asks before it buys or '
  'imports numbers at Twilio; the trigger on phone_numbers is the guard that holds when two ask at once.';

create function private.tg_phone_numbers__limit_numbers() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count bigint;
begin
  if new.status not in ('active', 'releasing')
     or (tg_op = 'UPDATE' and old.status in ('active', 'releasing')) then
    return null;
  end if;
  -- Two numbers added at once must not both take the last place: the second counts after the first commits.
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.phone_numbers:' || new.workspace_id, 0));
  select count(*) into v_count from public.phone_numbers p
   where p.workspace_id = new.workspace_id and p.status in ('active', 'releasing');
  -- An AFTER trigger: the number itself is counted.
  perform private.phone_number_limit_error(new.workspace_id, v_count - 1, 1);
  return null;
end
$$;
comment on function private.tg_phone_numbers__limit_numbers() is
  'Refuses (P0402) a number added, or made active again, beyond the plan''s phone_numbers, for every writer. '
  'Numbers already there are never released by a downgrade.';

-- AFTER, like the seat limit: it runs once the row has passed the writer's privileges and RLS.
create trigger tg_phone_numbers__limit_numbers after insert or update of status on public.phone_numbers
  for each row execute function private.tg_phone_numbers__limit_numbers();

-- ---------------------------------------------------------------------------------------
-- Monthly messages

-- A period's outbound messages are counted from the messages themselves only once, when its
-- counter row is first needed (see private.message_usage): that count reads only this index.
create index messages_workspace_outbound_created_idx on public.messages (workspace_id, created_at)
  where direction = 'outbound';

create table private.message_usage (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  period_start timestamptz not null,
  period_end timestamptz not null check (period_end > period_start),
  used bigint not null check (used >= 0),
  primary key (workspace_id, period_start, period_end)
);
comment on table private.message_usage is
  'Outbound messages created per workspace and message period (private.message_period), moved by the trigger on '
  'public.messages in the same transaction as the message, under the workspace''s message allowance lock. A row '
  'is created by counting the period''s messages once, the first time a message lands in it; rows of one '
  'workspace never overlap (a plan change that redraws the period drops the rows it overlaps, to be counted again '
  'if they are ever current again), so each row is exact.';
revoke all on private.message_usage from public, anon, authenticated, service_role;

create function private.message_window(p_anchor timestamptz, p_at timestamptz)
returns table (period_start timestamptz, period_end timestamptz)
language plpgsql immutable
set search_path = ''
as $$
declare
  v_anchor timestamp;
  v_at timestamp := p_at at time zone 'UTC';
  n integer;
begin
  if p_anchor is not null and p_anchor <= p_at then
    -- Monthly windows from the billing anchor (month arithmetic clamps to month ends as Stripe does).
    v_anchor := p_anchor at time zone 'UTC';
    n := (extract(year from v_at) - extract(year from v_anchor))::integer * 12
         + (extract(month from v_at) - extract(month from v_anchor))::integer;
    if v_anchor + make_interval(months => n) > v_at then
      n := n - 1;
    end if;
    period_start := (v_anchor + make_interval(months => n)) at time zone 'UTC';
    period_end := (v_anchor + make_interval(months => n + 1)) at time zone 'UTC';
  else
    period_start := date_trunc('month', v_at) at time zone 'UTC';
    period_end := (date_trunc('month', v_at) + interval '1 month') at time zone 'UTC';
  end if;
  return next;
end
$$;
comment on function private.message_window(timestamptz, timestamptz) is
  'The message period containing p_at for a billing anchor: from the anchor on, monthly windows anchored at it; '
  'before it, or with no anchor (free), the calendar month in UTC.';

create function private.message_period(p_workspace_id uuid, p_at timestamptz default now())
returns table (period_start timestamptz, period_end timestamptz)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_plan record;
begin
  select * into v_plan from private.workspace_plan(p_workspace_id);
  -- The subscription's current_period_start anchors a paid plan's periods; free has none.
  return query select * from private.message_window(
    case when v_plan.subscription_status is not null then v_plan.current_period_start end, p_at);
end
$$;
comment on function private.message_period(uuid, timestamptz) is
  'The message period containing p_at: on a paid plan, the monthly window anchored at the subscription''s '
  'current_period_start (a monthly plan''s billing period); on free, the calendar month in UTC.';

create function private.lock_message_allowance(p_workspace_id uuid) returns void
language plpgsql
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.message_allowance:' || p_workspace_id, 0));
end
$$;
comment on function private.lock_message_allowance(uuid) is
  'Serialises, per workspace and to commit, what creates outbound messages and what claims campaign recipients '
  'against the monthly limit, so two of them never both take the last message and a period''s count is never '
  'taken while another writer''s message is uncounted. Taken after any row locks the caller holds; nothing that '
  'holds it waits for a campaign, recipient or conversation row lock.';

create function private.count_period_messages(p_workspace_id uuid, p_start timestamptz, p_end timestamptz)
returns bigint
language sql stable security definer
set search_path = ''
as $$
  select count(*) from public.messages m
   where m.workspace_id = p_workspace_id and m.direction = 'outbound'
     and m.created_at >= p_start and m.created_at < p_end
$$;
comment on function private.count_period_messages(uuid, timestamptz, timestamptz) is
  'Outbound messages of the workspace created in [p_start, p_end), counted from the messages: what a '
  'private.message_usage row starts from.';

create function private.message_allowance(p_workspace_id uuid, p_at timestamptz default now())
returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_plan record;
  v_period record;
  v_limit bigint;
  v_used bigint;
  v_reserved bigint := 0;
begin
  select * into v_plan from private.workspace_plan(p_workspace_id);
  select * into v_period from private.message_window(
    case when v_plan.subscription_status is not null then v_plan.current_period_start end, p_at);
  v_limit := private.plan_limit(v_plan.limits, 'monthly_messages');
  select u.used into v_used from private.message_usage u
   where u.workspace_id = p_workspace_id and u.period_start = v_period.period_start
     and u.period_end = v_period.period_end;
  if not found then
    -- No message landed in this period since it was drawn: counted (the trigger keeps the row once one does).
    v_used := private.count_period_messages(p_workspace_id, v_period.period_start, v_period.period_end);
  end if;
  if now() >= v_period.period_start and now() < v_period.period_end then
    -- Claimed campaign recipients whose message is not made yet will each take one.
    select count(*) into v_reserved
      from public.campaigns k join public.campaign_recipients r on r.campaign_id = k.id
     where k.workspace_id = p_workspace_id and r.status = 'claimed' and r.message_id is null;
  end if;
  return jsonb_build_object(
    'plan', v_plan.plan_id, 'plan_name', v_plan.plan_name, 'limit', v_limit, 'used', v_used,
    'reserved', v_reserved,
    'remaining', case when v_limit is not null then greatest(v_limit - v_used - v_reserved, 0) end,
    'period_start', v_period.period_start, 'period_end', v_period.period_end);
end
$$;
comment on function private.message_allowance(uuid, timestamptz) is
  'Monthly messages of the period containing p_at: limit (null = unlimited), used (outbound messages created '
  'in the period, automated replies included), reserved (claimed campaign recipients without their message yet) '
  'and remaining.';

create function private.message_limit_reason(p_allowance jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select format('the %s plan''s %s messages for this period are used up (%s sent since %s; the period resets at %s); '
                'upgrade the plan, or resume after the reset',
                p_allowance ->> 'plan_name', p_allowance ->> 'limit', p_allowance ->> 'used',
                to_char((p_allowance ->> 'period_start')::timestamptz at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                to_char((p_allowance ->> 'period_end')::timestamptz at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
$$;
comment on function private.message_limit_reason(jsonb) is
  'Why sending stopped, for an error message or a paused campaign''s last_error.';

create function private.message_usage_add(p_workspace_id uuid, p_period_start timestamptz, p_period_end timestamptz,
                                          p_added bigint)
returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  update private.message_usage u set used = u.used + p_added
   where u.workspace_id = p_workspace_id and u.period_start = p_period_start and u.period_end = p_period_end;
  if not found then
    -- The period's first counted messages, or the plan redrew the period: rows it overlaps no
    -- longer see every message of their window, and go (counted again if ever current again).
    delete from private.message_usage u
     where u.workspace_id = p_workspace_id and u.period_start < p_period_end and u.period_end > p_period_start;
    -- Counted after the statement inserted its messages (they are included) and under the
    -- workspace's allowance lock, so no other writer's message is uncounted.
    insert into private.message_usage (workspace_id, period_start, period_end, used)
    values (p_workspace_id, p_period_start, p_period_end,
            private.count_period_messages(p_workspace_id, p_period_start, p_period_end));
  end if;
end
$$;
comment on function private.message_usage_add(uuid, timestamptz, timestamptz, bigint) is
  'Adds a statement''s p_added outbound messages to the counter row of their period, or starts the row from the '
  'period''s messages. The caller holds the workspace''s allowance lock.';

create function private.tg_messages__monthly_messages() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  w record;
  v_plan record;
  v_period record;
  v_anchor timestamptz;
  v_at timestamptz;
  v_until timestamptz;
  v_starts timestamptz[];
  v_period_starts timestamptz[];
  v_period_ends timestamptz[];
  v_counts bigint[];
  v_quota jsonb;
  v_here bigint;
  v_before bigint;
  i integer;
begin
  if not exists (select 1 from new_messages n where n.direction = 'outbound') then
    return null;
  end if;
  -- Lock order: conversations, then the allowance. An inbound message touches its conversation
  -- before its reply is inserted, a send touches it after: taking it here first keeps them apart.
  perform 1 from public.conversations c
   where c.id in (select n.conversation_id from new_messages n where n.direction = 'outbound')
   order by c.id for no key update of c;

  for w in
    select n.workspace_id, count(*) as added, count(*) filter (where n.source = 'manual') as manual,
           min(n.created_at) as first_at, max(n.created_at) as last_at
      from new_messages n where n.direction = 'outbound'
     group by n.workspace_id order by n.workspace_id
  loop
    perform private.lock_message_allowance(w.workspace_id);

    -- The periods the new messages fall in: message_period is calendar months until a paid plan's
    -- anchor, then monthly windows from it, so the pieces it is constant on end at a period's end
    -- or at the anchor.
    select * into v_plan from private.workspace_plan(w.workspace_id);
    v_anchor := case when v_plan.subscription_status is not null then v_plan.current_period_start end;
    v_starts := '{}';
    v_period_starts := '{}';
    v_period_ends := '{}';
    v_at := w.first_at;
    loop
      select * into v_period from private.message_window(v_anchor, v_at);
      v_until := case when v_anchor > v_at and v_anchor < v_period.period_end then v_anchor
                      else v_period.period_end end;
      v_starts := v_starts || v_at;
      v_period_starts := v_period_starts || v_period.period_start;
      v_period_ends := v_period_ends || v_period.period_end;
      exit when v_until > w.last_at;
      v_at := v_until;
    end loop;
    if cardinality(v_starts) = 1 then
      v_counts := array[w.added];
    else
      select array_agg(coalesce(c.n, 0) order by k.k) into v_counts
        from generate_series(1, cardinality(v_starts)) k
        left join (select width_bucket(n.created_at, v_starts) as k, count(*) as n
                     from new_messages n where n.workspace_id = w.workspace_id and n.direction = 'outbound'
                    group by 1) c on c.k = k.k;
    end if;
    for i in 1 .. cardinality(v_starts) loop
      continue when v_counts[i] = 0;
      perform private.message_usage_add(w.workspace_id, v_period_starts[i], v_period_ends[i], v_counts[i]);
    end loop;

    if w.manual > 0 then
      -- A member's send is refused (and rolls back) when the period had no message left for it:
      -- what was used before this statement, plus what campaign claims reserve, reached the limit.
      v_quota := private.message_allowance(w.workspace_id);
      if (v_quota ->> 'limit') is not null then
        select count(*) into v_here from new_messages n
         where n.workspace_id = w.workspace_id and n.direction = 'outbound'
           and n.created_at >= (v_quota ->> 'period_start')::timestamptz
           and n.created_at < (v_quota ->> 'period_end')::timestamptz;
        v_before := (v_quota ->> 'used')::bigint - v_here;
        if v_before + (v_quota ->> 'reserved')::bigint + v_here > (v_quota ->> 'limit')::bigint then
          v_quota := v_quota || jsonb_build_object(
            'used', v_before,
            'remaining', greatest((v_quota ->> 'limit')::bigint - v_before - (v_quota ->> 'reserved')::bigint, 0));
          raise exception '%', private.message_limit_reason(v_quota)
            using errcode = 'P0402',
                  detail = (jsonb_build_object('limit_name', 'monthly_messages') || v_quota)::text;
        end if;
      end if;
    end if;
  end loop;
  return null;
end
$$;
comment on function private.tg_messages__monthly_messages() is
  'Counts a statement''s outbound messages in their periods'' private.message_usage rows, in the transaction that '
  'creates them (one update per workspace and period, however many rows). A statement with manual messages is '
  'refused (P0402) when they do not fit in what the period had left (used + reserved by campaign claims, against '
  'the plan''s limit); automated replies and campaign messages are counted, never refused here (the claim limits '
  'campaigns).';

-- No client role may insert messages (the missing INSERT privilege is refused before any trigger
-- runs), and the functions that do check the caller first: the refusal reveals nothing to them.
create trigger tg_messages__monthly_messages after insert on public.messages
  referencing new table as new_messages
  for each statement execute function private.tg_messages__monthly_messages();

create function private.tg_campaigns__limit_monthly_messages() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_starts timestamptz := greatest(now(), coalesce(new.scheduled_at, now()));
  v_quota jsonb;
  v_needed bigint;
begin
  select count(*) into v_needed from public.campaign_recipients r
   where r.campaign_id = new.id and r.status = 'pending';
  -- What is left in the period the campaign starts in (all of it, for a later period).
  v_quota := private.message_allowance(new.workspace_id, v_starts);
  if (v_quota ->> 'remaining')::bigint < v_needed then
    raise exception 'this campaign would text % recipients but the % plan has % of its % messages left for the period '
                    'it starts in (resets at %); upgrade the plan or narrow the audience',
                    v_needed, v_quota ->> 'plan_name', v_quota ->> 'remaining', v_quota ->> 'limit',
                    to_char((v_quota ->> 'period_end')::timestamptz at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
      using errcode = 'P0402',
            detail = (jsonb_build_object('limit_name', 'monthly_messages', 'needed', v_needed) || v_quota)::text;
  end if;
  return new;
end
$$;
comment on function private.tg_campaigns__limit_monthly_messages() is
  'At launch (draft -> sending/scheduled, after launch_campaign snapshotted the audience): P0402 when the pending '
  'recipients alone need more messages than the period the campaign starts in has left. The launch rolls back.';

-- Clients cannot update a campaign's status (no UPDATE privilege on the column), only
-- launch_campaign() can, after checking the caller: so this BEFORE trigger reveals nothing to them.
create trigger tg_campaigns__limit_monthly_messages before update of status on public.campaigns
  for each row when (old.status = 'draft' and new.status in ('sending', 'scheduled'))
  execute function private.tg_campaigns__limit_monthly_messages();

-- ---------------------------------------------------------------------------------------
-- What members see

create function public.workspace_usage(p_workspace_id uuid)
returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_plan record;
  v_quota jsonb;
begin
  if (select auth.role()) is distinct from 'service_role'
     and not (p_workspace_id = any(array(select private.workspace_ids_for_current_user()))) then
    raise exception 'not a member of this workspace' using errcode = '42501';
  end if;
  select * into v_plan from private.workspace_plan(p_workspace_id);
  v_quota := private.message_allowance(p_workspace_id);
  return jsonb_build_object(
    'workspace_id', p_workspace_id, 'plan', v_plan.plan_id, 'plan_name', v_plan.plan_name,
    'phone_numbers', jsonb_build_object(
      'used', (select count(*) from public.phone_numbers p
                where p.workspace_id = p_workspace_id and p.status in ('active', 'releasing')),
      'limit', private.plan_limit(v_plan.limits, 'phone_numbers')),
    'seats', jsonb_build_object(
      'used', (select count(*) from public.workspace_members m where m.workspace_id = p_workspace_id),
      'limit', private.plan_limit(v_plan.limits, 'seats')),
    'monthly_messages', jsonb_build_object(
      'used', v_quota -> 'used', 'limit', v_quota -> 'limit', 'remaining', v_quota -> 'remaining',
      'period_start', v_quota -> 'period_start', 'period_end', v_quota -> 'period_end'));
end
$$;
comment on function public.workspace_usage(uuid) is
  'Each plan limit with what the workspace uses of it: phone_numbers (active or releasing), seats (members), '
  'monthly_messages (outbound messages this period, automated replies included; remaining also discounts campaign '
  'messages being sent) with the period. Members only (42501).';

revoke all on function private.plan_limit(jsonb, text), private.message_window(timestamptz, timestamptz),
                       private.tg_workspace_members__limit_seats(), private.message_period(uuid, timestamptz),
                       private.phone_number_limit_error(uuid, bigint, integer),
                       private.require_phone_number_room(uuid, integer), private.tg_phone_numbers__limit_numbers(),
                       private.lock_message_allowance(uuid), private.message_allowance(uuid, timestamptz),
                       private.message_limit_reason(jsonb), private.tg_messages__monthly_messages(),
                       private.message_usage_add(uuid, timestamptz, timestamptz, bigint),
                       private.count_period_messages(uuid, timestamptz, timestamptz),
                       private.tg_campaigns__limit_monthly_messages()
  from public, anon, authenticated;
grant execute on function private.message_period(uuid, timestamptz),
                          private.message_allowance(uuid, timestamptz),
                          private.require_phone_number_room(uuid, integer)
  to service_role;
revoke all on function public.workspace_usage(uuid) from public, anon;
grant execute on function public.workspace_usage(uuid) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
