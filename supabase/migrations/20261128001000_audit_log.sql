-- Audit log: who did what sensitive thing, when. Written by the service, the SQL functions and, for
-- what clients change through PostgREST, triggers (20261128013000_audit_trail.sql).
--
-- Append-only for every role: anon, authenticated and service_role hold no UPDATE, DELETE or
-- TRUNCATE on it, and for the owner a trigger refuses them, with two exceptions:
--   * the retention job (private.purge_expired_audit_log) removes rows after 12 months;
--   * a row whose workspace or actor is deleted is detached (the link set null by its foreign key)
--     and keeps only the numbers and booleans of its details: its text, which could name a person
--     (an invitee's e-mail, an admin's note), goes with the link. The row itself stays.

create table public.audit_log (
  id bigint generated always as identity primary key,
  workspace_id uuid references public.workspaces (id) on delete set null,
  actor_user_id uuid references auth.users (id) on delete set null,
  action text not null check (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
  target_type text,
  target_id text,
  details jsonb not null default '{}'::jsonb,
  request_id text,
  created_at timestamptz not null default now()
);
create index audit_log_workspace_created_idx on public.audit_log (workspace_id, created_at desc);
create index audit_log_created_idx on public.audit_log (created_at);
comment on table public.audit_log is
  'Sensitive operations (credentials connected, numbers bought or released, members and settings changed, '
  'exports, deletions). Never holds secrets. Admins of the workspace can read it; nobody can change it: kept '
  '12 months, then purged; detached (no workspace, no actor, numbers-only details) when its workspace or actor '
  'is deleted.';

create function private.audit_numbers_only(p_details jsonb)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
  kept jsonb := '{}'::jsonb;
  e record;
begin
  if jsonb_typeof(p_details) is distinct from 'object' then
    return kept;
  end if;
  for e in select * from jsonb_each(p_details) loop
    if jsonb_typeof(e.value) in ('number', 'boolean') then
      kept := kept || jsonb_build_object(e.key, e.value);
    elsif jsonb_typeof(e.value) = 'object' then
      kept := kept || jsonb_build_object(e.key, private.audit_numbers_only(e.value));
    end if;
  end loop;
  return kept;
end
$$;
comment on function private.audit_numbers_only(jsonb) is
  'The numbers and booleans of an audit row''s details (nested objects kept, filtered alike): what a detached '
  'row keeps. Strings and lists go, since any of them could name a person.';

create function private.tg_audit_log__append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and current_setting('numeraloop.audit_log_purge', true) = 'on' then
    return old;
  end if;
  -- Detaching: the workspace or the actor is being deleted and its foreign key sets the link null.
  if tg_op = 'UPDATE'
     and (new.workspace_id is null or new.workspace_id = old.workspace_id)
     and (new.actor_user_id is null or new.actor_user_id = old.actor_user_id)
     and (new.workspace_id is distinct from old.workspace_id or new.actor_user_id is distinct from old.actor_user_id)
     and (new.id, new.action, new.target_type, new.target_id, new.details, new.request_id, new.created_at)
         is not distinct from (old.id, old.action, old.target_type, old.target_id, old.details, old.request_id,
                               old.created_at) then
    new.details := private.audit_numbers_only(old.details);
    return new;
  end if;
  raise exception 'audit_log is append-only: rows are never changed or deleted (% refused)', lower(tg_op)
    using errcode = '42501';
end
$$;
comment on function private.tg_audit_log__append_only() is
  'Refuses UPDATE, DELETE and TRUNCATE on audit_log for every role, the owner included, except the retention '
  'job''s DELETE (numeraloop.audit_log_purge set by private.purge_expired_audit_log) and the foreign keys'' '
  'detaching of a row whose workspace or actor is deleted.';

create trigger tg_audit_log__append_only before update or delete on public.audit_log
  for each row execute function private.tg_audit_log__append_only();
create trigger tg_audit_log__no_truncate before truncate on public.audit_log
  for each statement execute function private.tg_audit_log__append_only();

alter table public.audit_log enable row level security;

create policy audit_log_select_admin on public.audit_log for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));

revoke all on public.audit_log from public, anon, authenticated, service_role;
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
-- Retention: 12 months.

create function private.purge_expired_audit_log(p_now timestamptz default now())
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer;
begin
  -- The one delete the append-only trigger lets through, for this statement only.
  perform set_config('numeraloop.audit_log_purge', 'on', true);
  delete from public.audit_log where created_at < p_now - interval '12 months';
  get diagnostics n = row_count;
  perform set_config('numeraloop.audit_log_purge', 'off', true);
  if n > 0 then
    perform private.write_audit_log(null, null, 'retention.purge_audit_log', null, null,
                                    jsonb_build_object('audit_log', n), null);
  end if;
  return n;
end
$$;
comment on function private.purge_expired_audit_log(timestamptz) is
  'Deletes audit_log rows older than 12 months (and records how many). Run nightly by pg_cron '
  '(job numeraloop-audit-log-retention).';
revoke all on function private.purge_expired_audit_log(timestamptz) from public, anon, authenticated;
grant execute on function private.purge_expired_audit_log(timestamptz) to service_role;

select cron.schedule('numeraloop-audit-log-retention', '37 3 * * *', $$select private.purge_expired_audit_log()$$);

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here, also from the tenancy migration's policy helpers and
-- triggers (created before this file); a role calls only what is granted to it by name.
revoke execute on all functions in schema private from public, anon;
