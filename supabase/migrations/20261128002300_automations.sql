-- Inbound SMS and what answers it: opt-out keywords (STOP/START/HELP), keyword triggers,
-- auto-reply rules with business hours and a per-contact cooldown, all decided in one
-- function the service calls for every inbound webhook.

-- ---------------------------------------------------------------------------------------
-- Business hours: {"mon": [["09:00", "17:00"]], "tue": [["09:00", "12:00"], ["13:00", "17:00"]], ...}
-- Keys mon..sun; each a list of [start, end) pairs in the workspace's timezone, "HH:MM",
-- end may be "24:00". A missing day, or an empty list, means closed all day.

create function private.business_hours_valid(p_hours jsonb) returns boolean
language plpgsql immutable
set search_path = ''
as $$
declare
  d record;
  r jsonb;
begin
  if p_hours is null or jsonb_typeof(p_hours) <> 'object' then
    return false;
  end if;
  for d in select key, value from jsonb_each(p_hours) loop
    if d.key not in ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun') or jsonb_typeof(d.value) <> 'array' then
      return false;
    end if;
    for r in select value from jsonb_array_elements(d.value) loop
      if jsonb_typeof(r) <> 'array' or jsonb_array_length(r) <> 2
         or jsonb_typeof(r -> 0) <> 'string' or jsonb_typeof(r -> 1) <> 'string'
         or (r ->> 0) !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
         or (r ->> 1) !~ '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$'
         or (r ->> 0) >= (r ->> 1) then
        return false;
      end if;
    end loop;
  end loop;
  return true;
end
$$;
comment on function private.business_hours_valid(jsonb) is
  'Whether business_hours has the shape {"mon": [["09:00","17:00"]], ...} (keys mon..sun, start < end, end up to 24:00).';

create function private.is_within_business_hours(p_hours jsonb, p_timezone text, p_at timestamptz)
returns boolean
language plpgsql stable
set search_path = ''
as $$
declare
  local_time timestamp;
  day text;
  hhmm text;
begin
  begin
    local_time := p_at at time zone coalesce(p_timezone, 'UTC');
  exception when invalid_parameter_value then
    local_time := p_at at time zone 'UTC';
  end;
  day := lower(to_char(local_time, 'Dy'));
  hhmm := to_char(local_time, 'HH24:MI');
  return exists (
    select 1 from jsonb_array_elements(case when jsonb_typeof(p_hours -> day) = 'array' then p_hours -> day
                                            else '[]'::jsonb end) r
     where hhmm >= (r ->> 0) and hhmm < (r ->> 1));
end
$$;
comment on function private.is_within_business_hours(jsonb, text, timestamptz) is
  'Whether p_at falls inside the business hours, read in p_timezone (an unknown timezone reads as UTC).';

revoke all on function private.business_hours_valid(jsonb), private.is_within_business_hours(jsonb, text, timestamptz)
  from public, anon;
-- The check constraint below runs with the writer's privileges.
grant execute on function private.business_hours_valid(jsonb) to authenticated, service_role;
grant execute on function private.is_within_business_hours(jsonb, text, timestamptz) to service_role;

-- ---------------------------------------------------------------------------------------
-- Tables

create table public.keyword_triggers (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  -- Matched against the whole inbound body, trimmed, case-insensitively. The carrier
  -- keywords (STOP, START, HELP and their synonyms) are reserved.
  keyword text not null check (
    char_length(keyword) between 1 and 50 and keyword = btrim(keyword)
    and upper(keyword) not in ('STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE',
                               'START', 'YES', 'UNSTOP', 'HELP', 'INFO')),
  reply_text text check (char_length(reply_text) <= 1600),
  add_tag text check (char_length(btrim(add_tag)) between 1 and 100),
  add_to_list_id uuid,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (workspace_id, add_to_list_id) references public.contact_lists (workspace_id, id)
    on delete set null (add_to_list_id)
);
create unique index keyword_triggers_workspace_keyword_key on public.keyword_triggers (workspace_id, upper(keyword));
comment on table public.keyword_triggers is
  'When an inbound body is exactly this keyword (any case): reply (template variables allowed), tag the contact, '
  'add them to a list. Members read; admins write. Opted-out numbers get no reply.';

create trigger tg_keyword_triggers__updated_at before update on public.keyword_triggers
  for each row execute function private.tg_set_updated_at();

create table public.auto_reply_rules (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  name text not null default '' check (char_length(name) <= 120),
  kind text not null check (kind in ('outside_business_hours', 'first_message', 'always')),
  reply_text text not null check (char_length(btrim(reply_text)) between 1 and 1600),
  business_hours jsonb not null default '{}'::jsonb check (private.business_hours_valid(business_hours)),
  -- At least a minute, so two auto-responders texting each other cannot loop quickly.
  cooldown_minutes integer not null default 60 check (cooldown_minutes between 1 and 10080),
  priority integer not null default 100,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index auto_reply_rules_workspace_idx on public.auto_reply_rules (workspace_id, priority);
comment on table public.auto_reply_rules is
  'Automatic replies to inbound texts that no keyword matched. The first active rule (by priority) whose condition '
  'holds decides: it replies unless an auto reply went to this contact within its cooldown_minutes. '
  'business_hours are read in the workspace''s timezone. Members read; admins write.';

create trigger tg_auto_reply_rules__updated_at before update on public.auto_reply_rules
  for each row execute function private.tg_set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Inbound

create function private.inbound_keyword(p_body text) returns text
language sql immutable
set search_path = ''
as $$
  select upper(regexp_replace(coalesce(p_body, ''), '^[[:space:]]+|[[:space:]]+$', '', 'g'))
$$;

comment on function private.inbound_keyword(text) is
  'An inbound body as keywords are matched: surrounding whitespace removed, upper case.';

create function private.opt_keyword_effect(p_body text) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when private.inbound_keyword(p_body) in ('STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE')
      then 'opted_out'
    when private.inbound_keyword(p_body) in ('START', 'YES', 'UNSTOP') then 'opted_in'
  end
$$;
comment on function private.opt_keyword_effect(text) is
  'opted_out for the opt-out keywords, opted_in for START/YES/UNSTOP (whole body, trimmed, any case), else null.';

create function private.inbound_result(p_message_id uuid, p_duplicate boolean) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'duplicate', p_duplicate, 'workspace_id', m.workspace_id, 'message_id', m.id,
    'conversation_id', m.conversation_id, 'contact_id', c.contact_id,
    'opt_out', private.opt_keyword_effect(m.body),
    'replies', (select coalesce(jsonb_agg(jsonb_build_object('message_id', r.id, 'body', r.body, 'source', r.source,
                                                             'status', r.status, 'twilio_sid', r.twilio_sid)
                                          order by r.created_at, r.id), '[]'::jsonb)
                  from public.messages r where r.reply_to_message_id = m.id))
  from public.messages m join public.conversations c on c.id = m.conversation_id
  where m.id = p_message_id
$$;

comment on function private.inbound_result(uuid, boolean) is
  'The jsonb receive_inbound_message returns; rebuilt from the stored rows, so a retried webhook gets the same answer.';

create function private.record_reply(p_inbound public.messages, p_body text, p_source text)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  v_body text := left(btrim(coalesce(p_body, '')), 1600);
begin
  -- Nothing is sent on behalf of an account whose processing is restricted; the inbound message
  -- is stored all the same (supabase/migrations/20261128009600_restriction_and_consent.sql).
  if v_body = '' or private.processing_restricted(p_inbound.workspace_id, null) then
    return;
  end if;
  -- Stamped with the inbound message's time, so replies sort right after what they answer.
  insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status,
                               source, reply_to_message_id, created_at, status_updated_at)
  values (p_inbound.workspace_id, p_inbound.conversation_id, 'outbound', p_inbound.to_e164, p_inbound.from_e164,
          v_body, 'queued', p_source, p_inbound.id, p_inbound.created_at, p_inbound.created_at);
  perform private.touch_conversation(p_inbound.conversation_id, p_inbound.created_at, v_body, 0, false);
end
$$;

comment on function private.record_reply(public.messages, text, text) is
  'Records an automated reply (help, keyword, auto_reply) to an inbound message as a queued outbound message; '
  'none while the workspace''s processing is restricted.';

create function private.receive_inbound_message(
  p_workspace_id uuid, p_phone_number_id uuid, p_message_sid text, p_from text, p_to text, p_body text,
  p_num_segments integer, p_media jsonb, p_received_at timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_word text := private.inbound_keyword(p_body);
  v_media jsonb := case when jsonb_typeof(p_media) = 'array' then p_media else '[]'::jsonb end;
  v_at timestamptz := coalesce(p_received_at, now());
  v_existing public.messages;
  v_workspace public.workspaces;
  v_contact uuid;
  v_conversation uuid;
  v_msg public.messages;
  v_trigger public.keyword_triggers;
  v_rule public.auto_reply_rules;
  v_applies boolean;
begin
  if p_message_sid is null then
    raise exception 'MessageSid is required' using errcode = '22023';
  end if;
  -- One webhook per SID at a time; a retry waits here, then finds the first one's message.
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.message_sid:' || p_message_sid, 0));
  select * into v_existing from public.messages where twilio_sid = p_message_sid;
  if found then
    if v_existing.workspace_id <> p_workspace_id or v_existing.direction <> 'inbound' then
      raise exception 'MessageSid % already belongs to another message', p_message_sid using errcode = '23505';
    end if;
    return private.inbound_result(v_existing.id, true);
  end if;

  if not exists (select 1 from public.phone_numbers n where n.id = p_phone_number_id and n.workspace_id = p_workspace_id) then
    raise exception 'phone number % is not one of this workspace''s', p_phone_number_id using errcode = '22023';
  end if;
  if p_from is null or p_from !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception 'the sender must be an E.164 number' using errcode = '22023';
  end if;
  select * into v_workspace from public.workspaces where id = p_workspace_id;

  v_contact := private.upsert_contact(p_workspace_id, p_from, 'inbound_message');
  v_conversation := private.upsert_conversation(p_workspace_id, p_phone_number_id, v_contact);

  insert into public.messages (workspace_id, conversation_id, direction, twilio_sid, from_e164, to_e164, body,
                               status, num_segments, num_media, created_at, status_updated_at)
  values (p_workspace_id, v_conversation, 'inbound', p_message_sid, p_from, p_to, coalesce(p_body, ''),
          'received', p_num_segments, jsonb_array_length(v_media), v_at, v_at)
  returning * into v_msg;

  insert into public.message_media (workspace_id, message_id, url, content_type, position)
  select p_workspace_id, v_msg.id, e.item ->> 'url', e.item ->> 'content_type', (e.n - 1)::integer
    from jsonb_array_elements(v_media) with ordinality as e(item, n);

  perform private.touch_conversation(v_conversation, v_at, v_msg.body, v_msg.num_media, true);

  if private.opt_keyword_effect(p_body) = 'opted_out' then
    -- No reply: Twilio answers STOP itself.
    perform private.record_opt_out(p_workspace_id, p_from, 'keyword:' || v_word, null, v_msg.id, v_at);
  elsif private.opt_keyword_effect(p_body) = 'opted_in' then
    perform private.record_opt_in(p_workspace_id, p_from, 'keyword:' || v_word, null, v_msg.id, v_at);
  elsif v_word in ('HELP', 'INFO') then
    if not exists (select 1 from public.opt_outs o where o.workspace_id = p_workspace_id and o.phone_e164 = p_from) then
      perform private.record_reply(v_msg, v_workspace.help_text, 'help');
    end if;
  else
    select * into v_trigger from public.keyword_triggers t
     where t.workspace_id = p_workspace_id and t.is_active and upper(t.keyword) = v_word;
    if found then
      if v_trigger.add_tag is not null then
        update public.contacts set tags = array_append(tags, v_trigger.add_tag)
         where id = v_contact and not (v_trigger.add_tag = any(tags));
      end if;
      if v_trigger.add_to_list_id is not null then
        insert into public.contact_list_members (workspace_id, list_id, contact_id)
        values (p_workspace_id, v_trigger.add_to_list_id, v_contact)
        on conflict do nothing;
      end if;
      if not exists (select 1 from public.opt_outs o where o.workspace_id = p_workspace_id and o.phone_e164 = p_from) then
        perform private.record_reply(v_msg, public.render_template(v_trigger.reply_text, v_contact), 'keyword');
      end if;
    elsif not exists (select 1 from public.opt_outs o where o.workspace_id = p_workspace_id and o.phone_e164 = p_from) then
      for v_rule in
        select * from public.auto_reply_rules r
         where r.workspace_id = p_workspace_id and r.is_active
         order by r.priority, r.created_at, r.id
      loop
        v_applies := case v_rule.kind
          when 'always' then true
          when 'first_message' then not exists (
            select 1 from public.messages m join public.conversations c on c.id = m.conversation_id
             where c.contact_id = v_contact and m.direction = 'inbound' and m.id <> v_msg.id)
          when 'outside_business_hours' then
            not private.is_within_business_hours(v_rule.business_hours, v_workspace.timezone, v_at)
          else false
        end;
        if v_applies then
          -- The first rule that applies decides; its cooldown counts auto replies to this
          -- contact on any of the workspace's numbers.
          if not exists (
            select 1 from public.messages m join public.conversations c on c.id = m.conversation_id
             where c.contact_id = v_contact and m.direction = 'outbound' and m.source = 'auto_reply'
               and m.created_at > v_at - make_interval(mins => v_rule.cooldown_minutes)) then
            perform private.record_reply(v_msg, public.render_template(v_rule.reply_text, v_contact), 'auto_reply');
          end if;
          exit;
        end if;
      end loop;
    end if;
  end if;

  perform private.enqueue_webhook_event(p_workspace_id, 'message.received', private.message_event_data(v_msg.id));
  return private.inbound_result(v_msg.id, false);
end
$$;
comment on function private.receive_inbound_message(uuid, uuid, text, text, text, text, integer, jsonb, timestamptz) is
  'Stores an inbound SMS/MMS (idempotent on MessageSid: a retry returns the first result with duplicate=true), '
  'threads it, handles STOP/START/HELP, keyword triggers and auto replies (cooldown per contact, never to an '
  'opted-out number), records replies as queued outbound messages and queues message.received webhooks. '
  'service_role only.';

revoke all on function private.inbound_keyword(text), private.opt_keyword_effect(text),
                       private.inbound_result(uuid, boolean), private.record_reply(public.messages, text, text),
                       private.receive_inbound_message(uuid, uuid, text, text, text, text, integer, jsonb, timestamptz)
  from public, anon, authenticated;
grant execute on function private.receive_inbound_message(uuid, uuid, text, text, text, text, integer, jsonb, timestamptz)
  to service_role;

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants

alter table public.keyword_triggers enable row level security;
alter table public.auto_reply_rules enable row level security;

create policy keyword_triggers_select_member on public.keyword_triggers for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy keyword_triggers_insert_admin on public.keyword_triggers for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy keyword_triggers_update_admin on public.keyword_triggers for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy keyword_triggers_delete_admin on public.keyword_triggers for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));

create policy auto_reply_rules_select_member on public.auto_reply_rules for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy auto_reply_rules_insert_admin on public.auto_reply_rules for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy auto_reply_rules_update_admin on public.auto_reply_rules for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy auto_reply_rules_delete_admin on public.auto_reply_rules for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));

revoke all on public.keyword_triggers, public.auto_reply_rules from anon, authenticated, service_role;

grant select, delete on public.keyword_triggers, public.auto_reply_rules to authenticated;
grant insert (workspace_id, keyword, reply_text, add_tag, add_to_list_id, is_active) on public.keyword_triggers to authenticated;
grant update (keyword, reply_text, add_tag, add_to_list_id, is_active) on public.keyword_triggers to authenticated;
grant insert (workspace_id, name, kind, reply_text, business_hours, cooldown_minutes, priority, is_active)
  on public.auto_reply_rules to authenticated;
grant update (name, kind, reply_text, business_hours, cooldown_minutes, priority, is_active)
  on public.auto_reply_rules to authenticated;

grant select, insert, update, delete on public.keyword_triggers, public.auto_reply_rules to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
