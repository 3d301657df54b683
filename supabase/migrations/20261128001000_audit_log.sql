-- Audit log: who did what sensitive thing, when. Append-only; written by the service.

create table public.audit_log (
  id bigint generated always as identity primary key,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  actor_user_id uuid references auth.users (id) on delete set null,
  action text not null check (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
  target_type text,
  target_id text,
  details jsonb not null default '{}'::jsonb,
  request_id text,
  created_at timestamptz not null default now()
);
create index audit_log_workspace_created_idx on public.audit_log (workspace_id, created_at desc);
comment on table public.audit_log is
  'Sensitive operations (credentials connected, numbers bought or released, exports, deletions). '
  'Never holds secrets. Admins of the workspace can read it; nobody can change it.';

alter table public.audit_log enable row level security;

create policy audit_log_select_admin on public.audit_log for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));

revoke all on public.audit_log from anon, authenticated, service_role;
grant select on public.audit_log to authenticated;
grant select, insert on public.audit_log to service_role;

create function private.write_audit_log(
  p_workspace_id uuid, p_actor uuid, p_action text,
  p_target_type text default null, p_target_id text default null,
  p_details jsonb default '{}'::jsonb, p_request_id text default null)
returns bigint
language sql security definer
set search_path = ''
as $$
  insert into public.audit_log (workspace_id, actor_user_id, action, target_type, target_id, details, request_id)
  values (p_workspace_id, p_actor, p_action, p_target_type, p_target_id, coalesce(p_details, '{}'::jsonb), p_request_id)
  returning id
$$;
comment on function private.write_audit_log(uuid, uuid, text, text, text, jsonb, text) is
  'The one way rows enter audit_log. Callers pass no secrets in details.';
revoke all on function private.write_audit_log(uuid, uuid, text, text, text, jsonb, text)
  from public, anon, authenticated;
grant execute on function private.write_audit_log(uuid, uuid, text, text, text, jsonb, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here, also from the tenancy migration's policy helpers and
-- triggers (created before this file); a role calls only what is granted to it by name.
revoke execute on all functions in schema private from public, anon;
