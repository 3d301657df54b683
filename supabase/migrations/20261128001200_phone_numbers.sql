-- Phone numbers a workspace owns at Twilio, and how their calls are routed.

create table public.phone_numbers (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  twilio_account_id uuid references public.twilio_accounts (id) on delete set null,
  twilio_sid text not null check (twilio_sid ~ '^PN[0-9a-f]{32}$'),
  e164 text not null check (e164 ~ '^\+[1-9][0-9]{6,14}$'),
  friendly_name text check (char_length(friendly_name) <= 64),
  capabilities jsonb not null default '{}'::jsonb,
  number_type text not null default 'local' check (number_type in ('local', 'toll_free', 'mobile', 'other')),
  -- Call forwarding, edited by admins through PostgREST.
  forward_to text[] not null default '{}'
    check (array_position(forward_to, null) is null and cardinality(forward_to) <= 10),
  whisper_text text check (char_length(whisper_text) <= 500),
  -- Off until an admin turns it on: NumeraLoop records nothing by default (see the calls migration).
  voicemail_enabled boolean not null default false,
  status text not null default 'active' check (status in ('active', 'releasing', 'released', 'detached')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  released_at timestamptz,
  -- Target of composite foreign keys, so a row elsewhere (a routing rule, a conversation, a
  -- call, a campaign) can only name a number of its own workspace.
  constraint phone_numbers_workspace_id_id_key unique (workspace_id, id)
);
-- An active number belongs to one workspace at a time; inbound webhooks look it up by E.164.
create unique index phone_numbers_active_e164_key on public.phone_numbers (e164) where status = 'active';
create unique index phone_numbers_workspace_sid_key on public.phone_numbers (workspace_id, twilio_sid);
create index phone_numbers_workspace_idx on public.phone_numbers (workspace_id);
comment on table public.phone_numbers is
  'Twilio numbers owned by a workspace. Twilio-side changes (buy, import, release) go through '
  'the service; members read, admins edit the workspace-side settings.';

create function private.is_e164_list(numbers text[]) returns boolean
language sql immutable
set search_path = ''
as $$
  select coalesce(bool_and(n ~ '^\+[1-9][0-9]{6,14}$'), true) from unnest(numbers) n
$$;
alter table public.phone_numbers add constraint phone_numbers_forward_to_e164 check (private.is_e164_list(forward_to));

create trigger tg_phone_numbers__updated_at before update on public.phone_numbers
  for each row execute function private.tg_set_updated_at();

create table public.call_routing_rules (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  phone_number_id uuid not null,
  name text not null default '' check (char_length(name) <= 120),
  priority integer not null default 100,
  -- When the rule applies: always, inside or outside business hours, or by caller prefix.
  condition text not null default 'always' check (condition in ('always', 'business_hours', 'after_hours', 'caller_prefix')),
  caller_prefix text check (caller_prefix ~ '^\+[0-9]{1,15}$'),
  business_hours jsonb not null default '{}'::jsonb,
  -- What it does: forward (with optional whisper), ring browser clients, or take a voicemail.
  action text not null check (action in ('forward', 'browser', 'voicemail')),
  forward_to text[] not null default '{}' check (private.is_e164_list(forward_to)),
  whisper_text text check (char_length(whisper_text) <= 500),
  timeout_seconds integer not null default 20 check (timeout_seconds between 5 and 120),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (condition <> 'caller_prefix' or caller_prefix is not null),
  check (action <> 'forward' or cardinality(forward_to) > 0),
  -- The rule's number must be in the rule's workspace. A foreign key, not a BEFORE trigger: a
  -- trigger runs before RLS, so its error would tell a non-member whether a number id belongs
  -- to a workspace; a foreign key is checked after RLS has already refused the row.
  constraint call_routing_rules_phone_number_in_workspace foreign key (workspace_id, phone_number_id)
    references public.phone_numbers (workspace_id, id) on delete cascade
);
create index call_routing_rules_number_idx on public.call_routing_rules (phone_number_id, priority);
create index call_routing_rules_workspace_idx on public.call_routing_rules (workspace_id);
comment on table public.call_routing_rules is
  'Inbound call routing per number, first matching active rule by priority wins. Admins edit through PostgREST.';

create trigger tg_call_routing_rules__updated_at before update on public.call_routing_rules
  for each row execute function private.tg_set_updated_at();

alter table public.phone_numbers enable row level security;
alter table public.call_routing_rules enable row level security;

create policy phone_numbers_select_member on public.phone_numbers for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy phone_numbers_update_admin on public.phone_numbers for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));

create policy call_routing_rules_select_member on public.call_routing_rules for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy call_routing_rules_insert_admin on public.call_routing_rules for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy call_routing_rules_update_admin on public.call_routing_rules for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy call_routing_rules_delete_admin on public.call_routing_rules for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));

revoke all on public.phone_numbers, public.call_routing_rules from anon, authenticated, service_role;
grant select on public.phone_numbers to authenticated;
-- Only workspace-side settings; the Twilio side (sid, number, status) changes through the service.
grant update (friendly_name, forward_to, whisper_text, voicemail_enabled) on public.phone_numbers to authenticated;
grant select, delete on public.call_routing_rules to authenticated;
grant insert (workspace_id, phone_number_id, name, priority, condition, caller_prefix, business_hours, action,
              forward_to, whisper_text, timeout_seconds, is_active) on public.call_routing_rules to authenticated;
grant update (name, priority, condition, caller_prefix, business_hours, action,
              forward_to, whisper_text, timeout_seconds, is_active) on public.call_routing_rules to authenticated;
grant select, insert, update, delete on public.phone_numbers, public.call_routing_rules to service_role;

-- Check constraints run with the writer's privileges, so the writers need this helper.
grant execute on function private.is_e164_list(text[]) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
