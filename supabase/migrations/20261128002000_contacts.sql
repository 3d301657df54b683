-- Contacts, contact lists and opt-outs: who a workspace texts, and who asked not to be texted.
-- Also the one template renderer ({{first_name|there}}) that canned messages, keyword
-- replies and campaigns share.

-- ---------------------------------------------------------------------------------------
-- Membership check for security-definer functions that API callers run as themselves.

create function private.require_membership(p_workspace_id uuid, p_min_role public.workspace_role default 'agent')
returns void
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_role public.workspace_role;
begin
  select m.role into v_role from public.workspace_members m
   where m.workspace_id = p_workspace_id and m.user_id = (select auth.uid());
  if v_role is null then
    raise exception 'not a member of this workspace' using errcode = '42501';
  end if;
  -- A member learns which role they lack; anyone else only that they are not a member.
  if v_role < p_min_role then
    raise exception 'this needs the % role in this workspace; you are %', p_min_role, v_role using errcode = '42501';
  end if;
end
$$;
comment on function private.require_membership(uuid, public.workspace_role) is
  'Raises 42501 unless the requesting user (auth.uid()) belongs to the workspace with at least p_min_role. '
  'Called first by every public security-definer function.';
revoke all on function private.require_membership(uuid, public.workspace_role) from public, anon, authenticated;
grant execute on function private.require_membership(uuid, public.workspace_role) to service_role;

-- ---------------------------------------------------------------------------------------
-- Contacts

create table public.contacts (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  phone_e164 text not null check (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
  first_name text check (char_length(first_name) <= 100),
  last_name text check (char_length(last_name) <= 100),
  email text check (char_length(email) <= 320 and email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  tags text[] not null default '{}'
    check (array_position(tags, null) is null and cardinality(tags) <= 100),
  custom_fields jsonb not null default '{}'::jsonb check (jsonb_typeof(custom_fields) = 'object'),
  consent_source text check (char_length(consent_source) <= 200),
  consent_at timestamptz,
  -- Set when an inbound text or call created the contact (null: a member, an import or a send did).
  -- Such a contact that nobody has since given a name, e-mail, tag, field, consent or list goes with
  -- its last conversation and call, after 90 days (private.purge_expired_logs).
  created_from text check (created_from in ('inbound_message', 'inbound_call')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint contacts_workspace_phone_key unique (workspace_id, phone_e164),
  -- Target of composite foreign keys, so a row elsewhere can only name a contact of its own workspace.
  constraint contacts_workspace_id_id_key unique (workspace_id, id)
);
create index contacts_tags_idx on public.contacts using gin (tags);
comment on table public.contacts is
  'People a workspace texts, one per (workspace, E.164 number). A shared inbox: every member reads and edits. '
  'The number is fixed once created (conversations thread on it); delete and re-create to change it.';
comment on column public.contacts.custom_fields is
  'Free-form attributes, rendered in templates as {{custom.<key>}}.';

create trigger tg_contacts__updated_at before update on public.contacts
  for each row execute function private.tg_set_updated_at();

create table public.contact_lists (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  name text not null check (char_length(btrim(name)) between 1 and 120),
  description text check (char_length(description) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint contact_lists_workspace_name_key unique (workspace_id, name),
  constraint contact_lists_workspace_id_id_key unique (workspace_id, id)
);
comment on table public.contact_lists is 'Named groups of contacts (campaign audiences, keyword sign-ups). Members edit.';

create trigger tg_contact_lists__updated_at before update on public.contact_lists
  for each row execute function private.tg_set_updated_at();

create table public.contact_list_members (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  list_id uuid not null,
  contact_id uuid not null,
  added_at timestamptz not null default now(),
  primary key (list_id, contact_id),
  foreign key (workspace_id, list_id) references public.contact_lists (workspace_id, id) on delete cascade,
  foreign key (workspace_id, contact_id) references public.contacts (workspace_id, id) on delete cascade
);
create index contact_list_members_workspace_idx on public.contact_list_members (workspace_id);
create index contact_list_members_contact_idx on public.contact_list_members (contact_id);
comment on table public.contact_list_members is
  'Which contacts are on which list. Composite foreign keys keep list and contact in the row''s workspace.';

-- ---------------------------------------------------------------------------------------
-- Opt-outs. `opt_outs` is the current state (a row = do not text this number); re-opting
-- in deletes the row. Every change is also appended to `opt_out_events`, so the history
-- (who, when, how: keyword, Twilio error 21610, manual, import, documented consent) survives
-- re-opt-ins.
--
-- Who may lift an opt-out depends on who made it. One the person made (an opt-out keyword such
-- as STOP, or Twilio's 21610 after they unsubscribed at Twilio) is lifted only by the person
-- (START and its synonyms, inbound), or by an admin recording the person's documented consent
-- again (public.record_opt_in_consent, with the evidence, audited). One a member made (manual,
-- import) any member may lift with public.opt_in. If the person opts out over a member's
-- opt-out, the row becomes theirs.

create table public.opt_outs (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  phone_e164 text not null check (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
  source text not null check (source ~ '^(keyword:[A-Z]+|twilio_21610|manual|import)$'),
  opted_out_at timestamptz not null default now(),
  message_id uuid,
  created_by uuid references auth.users (id) on delete set null,
  primary key (workspace_id, phone_e164)
);
comment on table public.opt_outs is
  'Numbers that must not be texted by this workspace (current state; re-opt-in deletes the row, '
  'history stays in opt_out_events). Written only through opt_out()/opt_in() and the messaging functions.';
comment on column public.opt_outs.source is
  '''keyword:<WORD>'' (the recipient texted e.g. STOP), ''twilio_21610'' (Twilio refused: unsubscribed), ''manual'' or ''import''. '
  'The first two are the person''s own: only their START or an admin''s record_opt_in_consent() lifts them.';

create table public.opt_out_events (
  id bigint generated always as identity primary key,
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  phone_e164 text not null,
  action text not null check (action in ('opted_out', 'opted_in')),
  -- 'consent': an admin recorded the person's documented consent (record_opt_in_consent).
  source text not null check (source ~ '^(keyword:[A-Z]+|twilio_21610|manual|import|consent)$'),
  message_id uuid,
  actor_user_id uuid references auth.users (id) on delete set null,
  evidence text check (char_length(evidence) between 1 and 1000),
  occurred_at timestamptz not null default now(),
  check ((source = 'consent') = (evidence is not null))
);
create index opt_out_events_workspace_phone_idx on public.opt_out_events (workspace_id, phone_e164, occurred_at desc);
create index opt_out_events_message_idx on public.opt_out_events (message_id) where message_id is not null;
comment on table public.opt_out_events is
  'Append-only history of opt-outs and re-opt-ins (consent records). Members read; nobody edits.';
comment on column public.opt_out_events.evidence is
  'For source ''consent'': how and when the person agreed again, as the admin who recorded it documented it.';

create function private.opt_out_is_personal(p_source text) returns boolean
language sql immutable
set search_path = ''
as $$
  select p_source like 'keyword:%' or p_source = 'twilio_21610'
$$;
comment on function private.opt_out_is_personal(text) is
  'Whether an opt-out came from the person (an opt-out keyword, Twilio''s 21610) rather than from a member.';

create function private.record_opt_out(p_workspace_id uuid, p_phone text, p_source text,
                                       p_actor uuid default null, p_message_id uuid default null,
                                       p_at timestamptz default now())
returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_new boolean;
begin
  insert into public.opt_outs (workspace_id, phone_e164, source, opted_out_at, message_id, created_by)
  values (p_workspace_id, p_phone, p_source, p_at, p_message_id, p_actor)
  on conflict (workspace_id, phone_e164) do nothing;
  v_new := found;
  if not v_new then
    -- The person opting out over a member's opt-out makes it theirs, so no member can lift it.
    update public.opt_outs
       set source = p_source, message_id = p_message_id, created_by = p_actor
     where workspace_id = p_workspace_id and phone_e164 = p_phone
       and private.opt_out_is_personal(p_source) and not private.opt_out_is_personal(source);
    if not found then
      return false;
    end if;
  end if;
  insert into public.opt_out_events (workspace_id, phone_e164, action, source, message_id, actor_user_id, occurred_at)
  values (p_workspace_id, p_phone, 'opted_out', p_source, p_message_id, p_actor, p_at);
  return v_new;
end
$$;
comment on function private.record_opt_out(uuid, text, text, uuid, uuid, timestamptz) is
  'Opts a number out (idempotent) and records the change in opt_out_events. True if it was not opted out before. '
  'The person''s own opt-out (keyword, 21610) replaces a member''s (manual, import) on the same number.';

create function private.record_opt_in(p_workspace_id uuid, p_phone text, p_source text,
                                      p_actor uuid default null, p_message_id uuid default null,
                                      p_at timestamptz default now())
returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  delete from public.opt_outs where workspace_id = p_workspace_id and phone_e164 = p_phone;
  if not found then
    return false;
  end if;
  insert into public.opt_out_events (workspace_id, phone_e164, action, source, message_id, actor_user_id, occurred_at)
  values (p_workspace_id, p_phone, 'opted_in', p_source, p_message_id, p_actor, p_at);
  return true;
end
$$;
comment on function private.record_opt_in(uuid, text, text, uuid, uuid, timestamptz) is
  'Removes an opt-out (idempotent) and records the re-opt-in in opt_out_events. True if the number was opted out. '
  'Whatever the opt-out''s source: callers decide who may lift which (public.opt_in, the inbound START).';

revoke all on function private.record_opt_out(uuid, text, text, uuid, uuid, timestamptz),
                       private.record_opt_in(uuid, text, text, uuid, uuid, timestamptz)
  from public, anon, authenticated;
grant execute on function private.record_opt_out(uuid, text, text, uuid, uuid, timestamptz),
                          private.record_opt_in(uuid, text, text, uuid, uuid, timestamptz)
  to service_role;

create function public.opt_out(p_workspace_id uuid, p_phone text, p_source text default 'manual')
returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.require_membership(p_workspace_id);
  if p_phone is null or p_phone !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception 'phone must be an E.164 number' using errcode = '22023';
  end if;
  if p_source is null or p_source not in ('manual', 'import') then
    raise exception 'source must be manual or import' using errcode = '22023';
  end if;
  return private.record_opt_out(p_workspace_id, p_phone, p_source, (select auth.uid()));
end
$$;
comment on function public.opt_out(uuid, text, text) is
  'A member marks a number as opted out (source manual or import). True if it changed state.';

create function public.opt_in(p_workspace_id uuid, p_phone text, p_source text default 'manual')
returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_source text;
begin
  perform private.require_membership(p_workspace_id);
  if p_phone is null or p_phone !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception 'phone must be an E.164 number' using errcode = '22023';
  end if;
  if p_source is null or p_source not in ('manual', 'import') then
    raise exception 'source must be manual or import' using errcode = '22023';
  end if;
  -- Locked, so a STOP arriving meanwhile is not lifted along with the member's opt-out.
  select o.source into v_source from public.opt_outs o
   where o.workspace_id = p_workspace_id and o.phone_e164 = p_phone for update;
  if private.opt_out_is_personal(v_source) then
    raise exception 'this number opted itself out (%); only the person texting START lifts that, or an admin '
                    'recording their documented consent', case when v_source = 'twilio_21610'
                                                               then 'unsubscribed at Twilio, error 21610'
                                                               else 'texted ' || substr(v_source, 9) end
      using errcode = '42501',
            hint = 'An admin records renewed consent with public.record_opt_in_consent(workspace, phone, evidence).';
  end if;
  return private.record_opt_in(p_workspace_id, p_phone, p_source, (select auth.uid()));
end
$$;
comment on function public.opt_in(uuid, text, text) is
  'A member lifts an opt-out a member made (manual, import). True if it was opted out. History is kept. '
  'An opt-out the person made (keyword, 21610) is refused (42501): only their START lifts it, or '
  'record_opt_in_consent().';

create function public.record_opt_in_consent(p_workspace_id uuid, p_phone text, p_evidence text)
returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_evidence text := btrim(p_evidence);
  v_opt_out public.opt_outs;
  v_event bigint;
begin
  perform private.require_membership(p_workspace_id, 'admin');
  if p_phone is null or p_phone !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception 'phone must be an E.164 number' using errcode = '22023';
  end if;
  if v_evidence is null or v_evidence = '' or char_length(v_evidence) > 1000 then
    raise exception 'say how and when the person agreed again to be texted (the evidence, 1 to 1000 characters)'
      using errcode = '22023';
  end if;
  delete from public.opt_outs o where o.workspace_id = p_workspace_id and o.phone_e164 = p_phone
  returning * into v_opt_out;
  if not found then
    return false;
  end if;
  insert into public.opt_out_events (workspace_id, phone_e164, action, source, actor_user_id, evidence)
  values (p_workspace_id, p_phone, 'opted_in', 'consent', v_uid, v_evidence)
  returning id into v_event;
  perform private.write_audit_log(p_workspace_id, v_uid, 'opt_out.consent_recorded', 'opt_out_event', v_event::text,
                                  jsonb_build_object('previous_source', v_opt_out.source, 'evidence', v_evidence));
  return true;
end
$$;
comment on function public.record_opt_in_consent(uuid, text, text) is
  'An admin lifts any opt-out, the person''s own included, on the person''s documented renewed consent: '
  'p_evidence (required) says how and when they agreed. Recorded in opt_out_events (source consent) and the '
  'audit log (opt_out.consent_recorded). True if the number was opted out.';

create function public.is_opted_out(p_workspace_id uuid, p_phone text)
returns boolean
language plpgsql stable security definer
set search_path = ''
as $$
begin
  perform private.require_membership(p_workspace_id);
  return exists (select 1 from public.opt_outs o where o.workspace_id = p_workspace_id and o.phone_e164 = p_phone);
end
$$;
comment on function public.is_opted_out(uuid, text) is 'Whether the workspace must not text this number. Members only.';

revoke all on function public.opt_out(uuid, text, text), public.opt_in(uuid, text, text),
                       public.is_opted_out(uuid, text), public.record_opt_in_consent(uuid, text, text)
  from public, anon;
grant execute on function public.opt_out(uuid, text, text), public.opt_in(uuid, text, text),
                          public.is_opted_out(uuid, text)
  to authenticated, service_role;
grant execute on function public.record_opt_in_consent(uuid, text, text) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Templates: {{first_name}}, {{last_name}}, {{full_name}}, {{phone}}, {{email}},
-- {{custom.<key>}}, any key of p_extra (which wins over contact fields), and a fallback
-- after a bar: {{first_name|there}}. Whitespace inside the braces is ignored. A missing or
-- empty value renders its fallback, or ''. Security invoker: the caller's RLS applies, so a
-- contact of another workspace renders exactly like an unknown contact (fallbacks/'').
-- Values are substituted once: a value containing {{...}} is not expanded again.

create function public.render_template(p_template text, p_contact_id uuid, p_extra jsonb default '{}'::jsonb)
returns text
language plpgsql stable
set search_path = ''
as $$
declare
  c public.contacts;
  parts text[];
  tokens text[];
  inner_text text;
  key text;
  fallback text;
  val text;
  bar integer;
  rendered text;
begin
  if p_template is null then
    return null;
  end if;
  if p_contact_id is not null then
    select * into c from public.contacts where id = p_contact_id;
  end if;
  p_extra := case when jsonb_typeof(p_extra) = 'object' then p_extra else '{}'::jsonb end;

  parts := regexp_split_to_array(p_template, '\{\{[^{}]*\}\}');
  select coalesce(array_agg(m[1] order by n), '{}') into tokens
    from regexp_matches(p_template, '\{\{([^{}]*)\}\}', 'g') with ordinality as t(m, n);

  rendered := parts[1];
  for i in 1 .. coalesce(array_length(tokens, 1), 0) loop
    inner_text := tokens[i];
    bar := strpos(inner_text, '|');
    if bar > 0 then
      key := btrim(left(inner_text, bar - 1));
      fallback := btrim(substr(inner_text, bar + 1));
    else
      key := btrim(inner_text);
      fallback := '';
    end if;

    if p_extra ? key and jsonb_typeof(p_extra -> key) <> 'null' then
      val := p_extra ->> key;
    elsif lower(key) = 'first_name' then
      val := c.first_name;
    elsif lower(key) = 'last_name' then
      val := c.last_name;
    elsif lower(key) = 'full_name' then
      val := nullif(concat_ws(' ', nullif(btrim(c.first_name), ''), nullif(btrim(c.last_name), '')), '');
    elsif lower(key) = 'phone' then
      val := c.phone_e164;
    elsif lower(key) = 'email' then
      val := c.email;
    elsif lower(key) like 'custom.%' and c.custom_fields is not null then
      val := c.custom_fields ->> substr(key, 8);
    else
      val := null;
    end if;

    rendered := rendered || coalesce(nullif(val, ''), fallback) || coalesce(parts[i + 1], '');
  end loop;
  return rendered;
end
$$;
comment on function public.render_template(text, uuid, jsonb) is
  'Renders {{first_name}}, {{last_name}}, {{full_name}}, {{phone}}, {{email}}, {{custom.<key>}} and p_extra keys, '
  'with {{key|fallback}}. Missing values render the fallback or ''''. Runs with the caller''s rights: a contact '
  'the caller cannot see renders as unknown.';
revoke all on function public.render_template(text, uuid, jsonb) from public, anon;
grant execute on function public.render_template(text, uuid, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants

alter table public.contacts enable row level security;
alter table public.contact_lists enable row level security;
alter table public.contact_list_members enable row level security;
alter table public.opt_outs enable row level security;
alter table public.opt_out_events enable row level security;

create policy contacts_select_member on public.contacts for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contacts_insert_member on public.contacts for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contacts_update_member on public.contacts for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contacts_delete_member on public.contacts for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

create policy contact_lists_select_member on public.contact_lists for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contact_lists_insert_member on public.contact_lists for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contact_lists_update_member on public.contact_lists for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contact_lists_delete_member on public.contact_lists for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

create policy contact_list_members_select_member on public.contact_list_members for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contact_list_members_insert_member on public.contact_list_members for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy contact_list_members_delete_member on public.contact_list_members for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

create policy opt_outs_select_member on public.opt_outs for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy opt_out_events_select_member on public.opt_out_events for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

revoke all on public.contacts, public.contact_lists, public.contact_list_members,
              public.opt_outs, public.opt_out_events
  from anon, authenticated, service_role;

grant select, delete on public.contacts to authenticated;
grant insert (workspace_id, phone_e164, first_name, last_name, email, tags, custom_fields, consent_source, consent_at)
  on public.contacts to authenticated;
grant update (first_name, last_name, email, tags, custom_fields, consent_source, consent_at)
  on public.contacts to authenticated;

grant select, delete on public.contact_lists to authenticated;
grant insert (workspace_id, name, description) on public.contact_lists to authenticated;
grant update (name, description) on public.contact_lists to authenticated;

grant select, delete on public.contact_list_members to authenticated;
grant insert (workspace_id, list_id, contact_id) on public.contact_list_members to authenticated;

-- Opt-outs change only through opt_out()/opt_in()/record_opt_in_consent() and the messaging
-- functions, which keep the history and decide who may lift which opt-out.
grant select on public.opt_outs, public.opt_out_events to authenticated;

grant select, insert, update, delete on public.contacts, public.contact_lists, public.contact_list_members,
  public.opt_outs to service_role;
grant select on public.opt_out_events to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
