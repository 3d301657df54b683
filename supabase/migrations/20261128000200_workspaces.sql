-- Tenancy: profiles, workspaces and their members, with RLS that follows membership and role.

create type public.workspace_role as enum ('agent', 'admin', 'owner');
comment on type public.workspace_role is
  'Ordered from least to most privileged, so roles compare with < and >.';

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  full_name text not null default '' check (char_length(full_name) <= 200),
  preferences jsonb not null default '{}'::jsonb check (jsonb_typeof(preferences) = 'object'),
  age_confirmed_at timestamptz,
  last_login_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is
  'One row per auth user, created by trigger at signup. Only the user themself can read or edit it.';
comment on column public.profiles.age_confirmed_at is
  'When the user confirmed they are an adult (NumeraLoop is for adults only); set through public.confirm_adult_age().';

create table public.workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(btrim(name)) between 1 and 120),
  is_personal boolean not null default false,
  timezone text not null default 'UTC',
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.workspaces is
  'The unit of tenancy: every business row belongs to exactly one workspace.';

create table public.workspace_members (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role public.workspace_role not null default 'agent',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, user_id)
);
-- The policies look members up by user; the primary key covers lookups by workspace.
create index workspace_members_user_id_idx on public.workspace_members (user_id, workspace_id);
comment on table public.workspace_members is
  'Who belongs to which workspace, and as what. A workspace always keeps at least one owner. Rows are made by '
  'workspace creation and by accepting an invitation (public.workspace_invitations), never inserted by clients.';

-- ---------------------------------------------------------------------------------------
-- Helpers for policies. Security definer so that a policy on workspace_members can read
-- workspace_members without recursing into its own policy; search_path pinned.

create function private.workspace_ids_for_current_user(min_role public.workspace_role default 'agent')
returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select m.workspace_id
  from public.workspace_members m
  where m.user_id = (select auth.uid())
    and m.role >= min_role
$$;
comment on function private.workspace_ids_for_current_user(public.workspace_role) is
  'Workspaces the requesting user belongs to with at least min_role. Call it as '
  '`workspace_id = any(array(select private.workspace_ids_for_current_user()))` so it runs once per query.';
grant execute on function private.workspace_ids_for_current_user(public.workspace_role) to authenticated, service_role;

create function private.role_in_workspace(ws uuid)
returns public.workspace_role
language sql stable security definer
set search_path = ''
as $$
  select m.role from public.workspace_members m
  where m.workspace_id = ws and m.user_id = (select auth.uid())
$$;
grant execute on function private.role_in_workspace(uuid) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Timestamps

create function private.tg_set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create trigger tg_profiles__updated_at before update on public.profiles
  for each row execute function private.tg_set_updated_at();
create trigger tg_workspaces__updated_at before update on public.workspaces
  for each row execute function private.tg_set_updated_at();
create trigger tg_workspace_members__updated_at before update on public.workspace_members
  for each row execute function private.tg_set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Signup: every new auth user gets a profile and a personal workspace they own.

create function private.tg_auth_users__create_profile_and_workspace() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  display_name text := coalesce(nullif(btrim(new.raw_user_meta_data ->> 'full_name'), ''),
                                nullif(split_part(coalesce(new.email, ''), '@', 1), ''),
                                'My');
  ws_id uuid;
begin
  insert into public.profiles (id, email, full_name)
  values (new.id, new.email, coalesce(nullif(btrim(new.raw_user_meta_data ->> 'full_name'), ''), ''));

  insert into public.workspaces (name, is_personal, created_by)
  values (left(display_name, 100) || '''s workspace', true, new.id)
  returning id into ws_id;

  insert into public.workspace_members (workspace_id, user_id, role)
  values (ws_id, new.id, 'owner');
  return new;
end
$$;

create trigger tg_auth_users__create_profile_and_workspace after insert on auth.users
  for each row execute function private.tg_auth_users__create_profile_and_workspace();

create function private.tg_auth_users__sync_profile() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.profiles
     set email = new.email,
         last_login_at = greatest(last_login_at, new.last_sign_in_at)
   where id = new.id;
  return new;
end
$$;

create trigger tg_auth_users__sync_profile after update of email, last_sign_in_at on auth.users
  for each row execute function private.tg_auth_users__sync_profile();

-- ---------------------------------------------------------------------------------------
-- Role rules, enforced for every writer (PostgREST, the service, SQL functions):
--   * nobody raises their own role;
--   * only owners grant, change or remove the owner role;
--   * a workspace never loses its last owner (unless the workspace itself is being deleted).

create function private.tg_workspace_members__guard_roles() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  actor uuid := (select auth.uid());
  actor_role public.workspace_role;
  target public.workspace_members := case when tg_op = 'DELETE' then old else new end;
begin
  -- Requests from a signed-in user are held to the role rules; the service role and
  -- migrations (no user in the claims) are trusted callers.
  if actor is not null then
    select m.role into actor_role from public.workspace_members m
     where m.workspace_id = target.workspace_id and m.user_id = actor;

    if tg_op = 'UPDATE' and new.user_id = actor and new.role > old.role then
      raise exception 'you cannot raise your own role' using errcode = '42501';
    end if;
    -- The first member of a new workspace is its creator, as owner.
    if tg_op = 'INSERT' and new.role = 'owner' and actor_role is distinct from 'owner'
       and exists (select 1 from public.workspace_members m where m.workspace_id = new.workspace_id) then
      raise exception 'only an owner can add an owner' using errcode = '42501';
    end if;
    if tg_op = 'UPDATE' and (old.role = 'owner' or new.role = 'owner')
       and new.user_id <> actor and actor_role is distinct from 'owner' then
      raise exception 'only an owner can change an owner''s role or make someone an owner' using errcode = '42501';
    end if;
    if tg_op = 'DELETE' and old.role = 'owner' and old.user_id <> actor
       and actor_role is distinct from 'owner' then
      raise exception 'only an owner can remove an owner' using errcode = '42501';
    end if;
  end if;

  if old.role = 'owner' and (tg_op = 'DELETE' or new.role <> 'owner')
     and exists (select 1 from public.workspaces w where w.id = old.workspace_id)
     and not exists (select 1 from public.workspace_members m
                      where m.workspace_id = old.workspace_id and m.role = 'owner'
                        and m.user_id <> old.user_id) then
    raise exception 'a workspace must keep at least one owner' using errcode = '23514';
  end if;

  return target;
end
$$;

create trigger tg_workspace_members__guard_roles before insert or update or delete on public.workspace_members
  for each row execute function private.tg_workspace_members__guard_roles();

-- A member row never moves to another workspace or user; change role, or delete and add.
create function private.tg_workspace_members__immutable_keys() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.workspace_id <> old.workspace_id or new.user_id <> old.user_id then
    raise exception 'workspace_id and user_id of a membership cannot change' using errcode = '42501';
  end if;
  return new;
end
$$;

create trigger tg_workspace_members__immutable_keys before update on public.workspace_members
  for each row execute function private.tg_workspace_members__immutable_keys();

-- ---------------------------------------------------------------------------------------
-- Row-level security

alter table public.profiles enable row level security;
alter table public.workspaces enable row level security;
alter table public.workspace_members enable row level security;

create policy profiles_select_own on public.profiles for select to authenticated
  using (id = (select auth.uid()));
create policy profiles_update_own on public.profiles for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

create policy workspaces_select_member on public.workspaces for select to authenticated
  using (id = any(array(select private.workspace_ids_for_current_user())));
create policy workspaces_update_admin on public.workspaces for update to authenticated
  using (id = any(array(select private.workspace_ids_for_current_user('admin'))))
  with check (id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy workspaces_delete_owner on public.workspaces for delete to authenticated
  using (id = any(array(select private.workspace_ids_for_current_user('owner'))) and not is_personal);

create policy workspace_members_select_member on public.workspace_members for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
-- No insert policy (and no INSERT grant below): a member joins only through
-- public.accept_workspace_invitation() or as the creator of a workspace.
create policy workspace_members_update_admin on public.workspace_members for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
-- Admins remove members; anyone may leave a workspace (the last-owner rule still applies).
create policy workspace_members_delete_admin_or_self on public.workspace_members for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin')))
         or user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Grants: Supabase grants the API roles everything by default; take it back and grant
-- only what clients may touch, column by column.

revoke all on public.profiles, public.workspaces, public.workspace_members from anon, authenticated, service_role;

grant select on public.profiles to authenticated;
grant update (full_name, preferences) on public.profiles to authenticated;

grant select on public.workspaces to authenticated;
grant update (name, timezone) on public.workspaces to authenticated;
grant delete on public.workspaces to authenticated;

grant select on public.workspace_members to authenticated;
grant update (role) on public.workspace_members to authenticated;
grant delete on public.workspace_members to authenticated;

grant all on public.profiles, public.workspaces, public.workspace_members to service_role;

-- ---------------------------------------------------------------------------------------
-- Client-callable functions

-- How many workspaces one user may create. Each workspace carries its plan's free allowance
-- (numbers, messages, seats), so creating workspaces without bound would multiply it. Counted
-- by creator, not by owner: handing ownership to another account frees no slot. The personal
-- workspace counts; deleting a workspace frees its slot. Supabase Auth's app_metadata (which
-- only the service role and the dashboard can write) may raise it for one user:
-- {"max_created_workspaces": 20}.
create function private.created_workspace_limit(p_user_id uuid) returns integer
language sql stable security definer
set search_path = ''
as $$
  select coalesce(
    (select case when jsonb_typeof(u.raw_app_meta_data -> 'max_created_workspaces') = 'number'
                 then (u.raw_app_meta_data ->> 'max_created_workspaces')::numeric::integer end
       from auth.users u where u.id = p_user_id),
    5)
$$;
comment on function private.created_workspace_limit(uuid) is
  'The most workspaces the user may have created (and not deleted): 5, or app_metadata.max_created_workspaces.';
revoke all on function private.created_workspace_limit(uuid) from public, anon, authenticated;

create function public.create_workspace(workspace_name text)
returns public.workspaces
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  ws public.workspaces;
  v_limit integer;
  v_created integer;
begin
  if uid is null then
    raise exception 'sign in to create a workspace' using errcode = '42501';
  end if;
  -- Two creations at once by one user must not both take the last slot.
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.create_workspace:' || uid, 0));
  v_limit := private.created_workspace_limit(uid);
  select count(*) into v_created from public.workspaces w where w.created_by = uid;
  if v_created >= v_limit then
    raise exception 'you have created % workspaces, the most one account may; delete one to create another', v_created
      using errcode = '42501',
            detail = jsonb_build_object('code', 'workspace_limit_reached', 'limit_name', 'created_workspaces',
                                        'limit', v_limit, 'used', v_created)::text;
  end if;
  insert into public.workspaces (name, created_by) values (btrim(workspace_name), uid) returning * into ws;
  insert into public.workspace_members (workspace_id, user_id, role) values (ws.id, uid, 'owner');
  return ws;
end
$$;
comment on function public.create_workspace(text) is
  'Creates a workspace owned by the caller. Workspaces are created only through here so the creator is always its '
  'owner; a user may have created at most private.created_workspace_limit() of them (42501 beyond, with '
  'DETAIL {"code": "workspace_limit_reached", "limit", "used"}).';
-- PostgreSQL lets PUBLIC (so anon) execute a new function: only signed-in users may.
revoke all on function public.create_workspace(text) from public, anon;
grant execute on function public.create_workspace(text) to authenticated;

-- Teammates see each other's name and e-mail (to assign work, to manage members), which the
-- profiles policy (own row only) does not show; nobody sees those of people they share no
-- workspace with.
create function public.workspace_member_directory(p_workspace_id uuid)
returns table (user_id uuid, role public.workspace_role, full_name text, email text, joined_at timestamptz)
language sql stable security definer
set search_path = ''
as $$
  select m.user_id, m.role, p.full_name, p.email, m.created_at
    from public.workspace_members m
    join public.profiles p on p.id = m.user_id
   where m.workspace_id = p_workspace_id
     and p_workspace_id = any(array(select private.workspace_ids_for_current_user()))
   order by m.role desc, lower(nullif(p.full_name, '')) nulls last, p.email
$$;
comment on function public.workspace_member_directory(uuid) is
  'The members of a workspace the caller belongs to, with their name and e-mail; nothing for any other workspace.';
revoke all on function public.workspace_member_directory(uuid) from public, anon;
grant execute on function public.workspace_member_directory(uuid) to authenticated;

create function public.confirm_adult_age()
returns public.profiles
language sql security definer
set search_path = ''
as $$
  update public.profiles set age_confirmed_at = coalesce(age_confirmed_at, now())
   where id = (select auth.uid())
  returning *
$$;
comment on function public.confirm_adult_age() is
  'Records that the caller confirmed being an adult; the time is the server''s, never the client''s.';
revoke all on function public.confirm_adult_age() from public, anon;
grant execute on function public.confirm_adult_age() to authenticated;
