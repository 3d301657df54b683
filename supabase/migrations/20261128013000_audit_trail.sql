-- The audit trail of what clients change directly. The service and the SQL functions audit their
-- own operations (numbers bought, Twilio connected, invitations, campaigns, deletions); what a
-- signed-in user writes straight into a table, through PostgREST or the web application, is
-- audited here by triggers, in the writing transaction, so no path around them exists:
--   members           role changes and removals (also by the service and the deletion job)
--   webhook endpoints created, changed (their signing secret rotated: never the secret itself),
--                     deleted
--   numbers           forwarding, whisper and voicemail (recording) settings
--   routing rules     created, changed, deleted
--   workspaces        deleted (the row is detached: the workspace it names is gone)
--   exports           one row per workspace of the exporting member, so its admins see who
--                     took its data
-- Rows name columns, never their values (a forwarding number, a URL, a secret). A write that is
-- part of its workspace's deletion (a cascade) is covered by the workspace's own row.

create function private.audit_changed_columns(p_old jsonb, p_new jsonb, p_columns text[])
returns text[]
language sql immutable
set search_path = ''
as $$
  select coalesce(array_agg(c order by c), '{}')
    from unnest(p_columns) c
   where p_old -> c is distinct from p_new -> c
$$;
comment on function private.audit_changed_columns(jsonb, jsonb, text[]) is
  'Which of p_columns differ between two row images: what an audit row names of a change.';

create function private.audit_workspace_exists(p_workspace_id uuid)
returns boolean
language sql stable
set search_path = ''
as $$
  -- Inside a cascade from the workspace's deletion the row is already gone.
  select exists (select 1 from public.workspaces w where w.id = p_workspace_id)
$$;

-- ---------------------------------------------------------------------------------------
-- Members

create function private.tg_workspace_members__audit() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  actor uuid := (select auth.uid());
begin
  if not private.audit_workspace_exists(old.workspace_id) then
    return null;
  end if;
  if tg_op = 'UPDATE' then
    if new.role is distinct from old.role then
      perform private.write_audit_log(new.workspace_id, actor, 'member.role_changed', 'user', new.user_id::text,
                                      jsonb_build_object('from', old.role, 'to', new.role), null);
    end if;
  else
    perform private.write_audit_log(old.workspace_id, actor, 'member.removed', 'user', old.user_id::text,
                                    jsonb_build_object('role', old.role, 'left', actor is not distinct from old.user_id),
                                    null);
  end if;
  return null;
end
$$;

create trigger tg_workspace_members__audit after update or delete on public.workspace_members
  for each row execute function private.tg_workspace_members__audit();

-- ---------------------------------------------------------------------------------------
-- Webhook endpoints, numbers' call settings, routing rules: what signed-in users write.

create function private.tg_audit_client_write() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  actor uuid := (select auth.uid());
  workspace uuid := case when tg_op = 'DELETE' then old.workspace_id else new.workspace_id end;
  old_row jsonb := case when tg_op = 'INSERT' then null else to_jsonb(old) end;
  new_row jsonb := case when tg_op = 'DELETE' then null else to_jsonb(new) end;
  -- tg_argv: the audit row's noun, then the columns whose changes are audited.
  noun text := tg_argv[0];
  watched text[] := tg_argv[1:];
  changed text[];
  target text := coalesce(new_row, old_row) ->> case when noun = 'phone_number' then 'twilio_sid' else 'id' end;
  details jsonb;
begin
  -- The service and the jobs audit their own operations; a cascade is its workspace's deletion.
  if actor is null or not private.audit_workspace_exists(workspace) then
    return null;
  end if;
  if tg_op = 'UPDATE' then
    changed := private.audit_changed_columns(old_row, new_row, watched);
    if cardinality(changed) = 0 then
      return null;
    end if;
    details := jsonb_build_object('fields', to_jsonb(changed));
  else
    details := '{}'::jsonb;
  end if;
  if noun = 'webhook_endpoint' and tg_op = 'UPDATE' and 'secret' = any(changed) then
    perform private.write_audit_log(workspace, actor, 'webhook_endpoint.secret_rotated', noun, target,
                                    jsonb_build_object('secret_rotated', true), null);
    changed := array_remove(changed, 'secret');
    if cardinality(changed) = 0 then
      return null;
    end if;
    details := jsonb_build_object('fields', to_jsonb(changed));
  end if;
  if noun = 'phone_number' and 'voicemail_enabled' = any(changed) then
    details := details || jsonb_build_object('voicemail_enabled', new_row -> 'voicemail_enabled');
  end if;
  perform private.write_audit_log(
    workspace, actor,
    noun || '.' || case tg_op when 'INSERT' then 'created' when 'DELETE' then 'deleted'
                              else case when noun = 'phone_number' then 'settings_changed' else 'updated' end end,
    noun, target, details, null);
  return null;
end
$$;
comment on function private.tg_audit_client_write() is
  'Audits a signed-in user''s insert, update (of the columns named after the noun in the trigger''s arguments) '
  'or delete: names the columns changed, never their values.';

create trigger tg_webhook_endpoints__audit after insert or update or delete on public.webhook_endpoints
  for each row execute function private.tg_audit_client_write(
    'webhook_endpoint', 'url', 'description', 'events', 'is_active', 'secret');
create trigger tg_phone_numbers__audit after update on public.phone_numbers
  for each row execute function private.tg_audit_client_write(
    'phone_number', 'forward_to', 'whisper_text', 'voicemail_enabled');
create trigger tg_call_routing_rules__audit after insert or update or delete on public.call_routing_rules
  for each row execute function private.tg_audit_client_write(
    'call_routing_rule', 'name', 'priority', 'condition', 'caller_prefix', 'business_hours', 'action', 'forward_to',
    'whisper_text', 'timeout_seconds', 'is_active');

-- ---------------------------------------------------------------------------------------
-- Workspace deletion: one detached row with what went (counts only).

create function private.tg_workspaces__audit_deletion() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.write_audit_log(null, (select auth.uid()), 'workspace.deleted', 'workspace', old.id::text,
    jsonb_build_object(
      'personal', old.is_personal,
      'members', (select count(*) from public.workspace_members m where m.workspace_id = old.id),
      'phone_numbers', (select count(*) from public.phone_numbers n where n.workspace_id = old.id),
      'contacts', (select count(*) from public.contacts c where c.workspace_id = old.id),
      'messages', (select count(*) from public.messages m where m.workspace_id = old.id),
      'calls', (select count(*) from public.calls c where c.workspace_id = old.id)),
    null);
  return old;
end
$$;

create trigger tg_workspaces__audit_deletion before delete on public.workspaces
  for each row execute function private.tg_workspaces__audit_deletion();

-- ---------------------------------------------------------------------------------------
-- Exports: the exporting member's workspaces each get a row their admins read.

create function private.tg_data_requests__audit_export() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.write_audit_log(m.workspace_id, new.user_id, 'data.workspace_export', 'data_request', new.id::text,
                                  jsonb_build_object('role', m.role), null)
     from public.workspace_members m where m.user_id = new.user_id;
  return null;
end
$$;

create trigger tg_data_requests__audit_export after insert on public.data_requests
  for each row when (new.kind = 'export' and new.user_id is not null)
  execute function private.tg_data_requests__audit_export();

revoke all on function
  private.audit_changed_columns(jsonb, jsonb, text[]), private.audit_workspace_exists(uuid),
  private.tg_workspace_members__audit(), private.tg_audit_client_write(), private.tg_workspaces__audit_deletion(),
  private.tg_data_requests__audit_export()
  from public, anon, authenticated;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
