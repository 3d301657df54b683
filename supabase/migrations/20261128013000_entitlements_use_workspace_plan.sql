-- One place chooses a workspace's plan: public.workspace_entitlements now reads it from
-- private.workspace_plan (added with the limits) instead of repeating the same query, and
-- workspace_plan also returns the subscription's cancel_at_period_end, which it needed for
-- that. Same signatures for callers, same membership check, same results.

drop function private.workspace_plan(uuid);
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

create or replace function public.workspace_entitlements(p_workspace_id uuid)
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
