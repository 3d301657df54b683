-- Messaging: conversations (one per workspace number and contact), messages and their
-- media, canned replies, and the SQL functions the service calls to send a message and to
-- follow its delivery status. Status only moves forward; a status callback that arrives
-- before the send recorded its SID is parked and applied when the SID is recorded.

alter table public.workspaces
  add column help_text text not null
    default 'Reply STOP to unsubscribe, START to resubscribe. Msg & data rates may apply.'
    check (char_length(btrim(help_text)) between 1 and 640);
comment on column public.workspaces.help_text is
  'Reply sent when a contact texts HELP or INFO. Admins edit it.';
grant update (help_text) on public.workspaces to authenticated;

-- ---------------------------------------------------------------------------------------
-- Tables

create table public.conversations (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  phone_number_id uuid not null,
  contact_id uuid not null,
  status text not null default 'open' check (status in ('open', 'closed')),
  assigned_to uuid references auth.users (id) on delete set null,
  last_message_at timestamptz,
  last_message_preview text,
  unread_count integer not null default 0 check (unread_count >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint conversations_number_contact_key unique (phone_number_id, contact_id),
  constraint conversations_workspace_id_id_key unique (workspace_id, id),
  foreign key (workspace_id, phone_number_id) references public.phone_numbers (workspace_id, id) on delete cascade,
  foreign key (workspace_id, contact_id) references public.contacts (workspace_id, id) on delete cascade
);
-- The inbox lists a workspace's conversations newest first through PostgREST
-- (order=last_message_at.desc, supabase-js .order('last_message_at', { ascending: false })),
-- which PostgreSQL sorts DESC NULLS FIRST: the index is built in exactly that order, so an
-- inbox load is an ordered index scan that stops at the page size instead of a sort of all
-- the workspace's conversations (bench/inbox_query.py). A conversation's last_message_at is
-- set in the transaction that creates it, so nulls first or last changes no result; `.asc`
-- is served by the same index scanned backwards.
create index conversations_inbox_idx on public.conversations (workspace_id, last_message_at desc);
comment on index public.conversations_inbox_idx is
  'The inbox: a workspace''s conversations by last_message_at DESC (NULLS FIRST), the order PostgREST '
  'sends for order=last_message_at.desc.';
create index conversations_contact_idx on public.conversations (contact_id);
comment on table public.conversations is
  'The thread between one of the workspace''s numbers and one contact. Created by the messaging functions; '
  'members change only status (open/closed) and assignee; an inbound message reopens it.';

create trigger tg_conversations__updated_at before update on public.conversations
  for each row execute function private.tg_set_updated_at();

create function private.tg_conversations__assignee_is_member() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.assigned_to is not null and not exists (
       select 1 from public.workspace_members m
        where m.workspace_id = new.workspace_id and m.user_id = new.assigned_to) then
    raise exception 'a conversation can only be assigned to a member of its workspace' using errcode = '23503';
  end if;
  return new;
end
$$;
comment on function private.tg_conversations__assignee_is_member() is
  'Refuses an assignee who is not a member of the conversation''s workspace.';
create trigger tg_conversations__assignee_is_member before insert or update of assigned_to on public.conversations
  for each row execute function private.tg_conversations__assignee_is_member();

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  conversation_id uuid not null,
  direction text not null check (direction in ('inbound', 'outbound')),
  twilio_sid text unique check (twilio_sid ~ '^(SM|MM)[0-9a-f]{32}$'),
  from_e164 text not null check (char_length(from_e164) <= 64),
  to_e164 text not null check (char_length(to_e164) <= 64),
  body text not null default '' check (char_length(body) <= 10000),
  status text not null check (status in ('accepted', 'scheduled', 'queued', 'sending', 'sent', 'delivered',
                                         'undelivered', 'failed', 'canceled', 'read', 'partially_delivered',
                                         'receiving', 'received')),
  error_code integer,
  error_message text check (char_length(error_message) <= 1000),
  num_segments integer check (num_segments >= 0),
  encoding text check (encoding in ('gsm7', 'ucs2')),
  num_media integer not null default 0 check (num_media between 0 and 10),
  sent_by uuid references auth.users (id) on delete set null,
  -- Inbound messages have no source; every outbound message says what sent it.
  source text check (source in ('manual', 'auto_reply', 'keyword', 'help', 'campaign')),
  reply_to_message_id uuid references public.messages (id) on delete set null,
  idempotency_key text check (char_length(idempotency_key) between 1 and 200),
  created_at timestamptz not null default now(),
  status_updated_at timestamptz not null default now(),
  submitted_at timestamptz,
  constraint messages_source_matches_direction check ((direction = 'inbound') = (source is null)),
  constraint messages_workspace_idempotency_key unique (workspace_id, idempotency_key),
  constraint messages_workspace_id_id_key unique (workspace_id, id),
  foreign key (workspace_id, conversation_id) references public.conversations (workspace_id, id) on delete cascade
);
create index messages_conversation_created_idx on public.messages (conversation_id, created_at desc);
create index messages_workspace_created_idx on public.messages (workspace_id, created_at desc);
create index messages_reply_to_idx on public.messages (reply_to_message_id) where reply_to_message_id is not null;
comment on table public.messages is
  'Every SMS/MMS in and out. Written only by the messaging functions (members read). status follows '
  'Twilio''s and only moves forward; replies sent by automation point at the inbound message (reply_to_message_id).';
comment on column public.messages.source is
  'What sent an outbound message: manual (a member), auto_reply, keyword, help, campaign. Null for inbound.';
comment on column public.messages.num_segments is
  'SMS segments, counted by the service (GSM-7/UCS-2 rules) and passed in; null for automated replies until sent.';

create table public.message_media (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  message_id uuid not null,
  url text not null check (url ~ '^https?://' and char_length(url) <= 2000),
  content_type text check (char_length(content_type) <= 200),
  position integer not null check (position >= 0),
  created_at timestamptz not null default now(),
  constraint message_media_message_position_key unique (message_id, position),
  foreign key (workspace_id, message_id) references public.messages (workspace_id, id) on delete cascade
);
create index message_media_workspace_idx on public.message_media (workspace_id);
comment on table public.message_media is 'Attachments of an MMS, in order (position 0 = MediaUrl0). Members read.';

create table public.canned_messages (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  title text not null check (char_length(btrim(title)) between 1 and 100),
  body text not null check (char_length(btrim(body)) between 1 and 1600),
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index canned_messages_workspace_idx on public.canned_messages (workspace_id);
comment on table public.canned_messages is
  'Saved replies for the inbox; body may use template variables ({{first_name|there}}), rendered by '
  'public.render_template(). Every member creates, edits and deletes them.';

create trigger tg_canned_messages__updated_at before update on public.canned_messages
  for each row execute function private.tg_set_updated_at();

create table private.pending_message_statuses (
  id bigint generated always as identity primary key,
  account_sid text not null,
  message_sid text not null,
  status text not null,
  error_code integer,
  error_message text,
  received_at timestamptz not null default now()
);
create index pending_message_statuses_sid_idx on private.pending_message_statuses (message_sid);
create index pending_message_statuses_received_idx on private.pending_message_statuses (received_at);
comment on table private.pending_message_statuses is
  'Status callbacks that arrived before the send recorded its MessageSid. mark_message_submitted() applies and '
  'removes them; purge_pending_message_statuses() drops ones that never matched a message.';
revoke all on private.pending_message_statuses from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Status ordering

create function private.message_status_rank(p_status text) returns integer
language sql immutable
set search_path = ''
as $$
  select case p_status
    when 'scheduled' then 5
    when 'accepted' then 10 when 'queued' then 10
    when 'sending' then 20
    when 'sent' then 30 when 'receiving' then 30
    when 'delivered' then 40 when 'undelivered' then 40 when 'failed' then 40
    when 'canceled' then 40 when 'partially_delivered' then 40 when 'received' then 40
    when 'read' then 50
  end
$$;
comment on function private.message_status_rank(text) is
  'accepted/queued < sending < sent < delivered | undelivered | failed | canceled (terminal) < read. '
  'Null for a status NumeraLoop does not know.';

create function private.message_status_can_advance(p_current text, p_next text) returns boolean
language sql immutable
set search_path = ''
as $$
  select coalesce(
    (private.message_status_rank(p_current) < 40
       and private.message_status_rank(p_next) > private.message_status_rank(p_current))
    -- WhatsApp reports 'read' after 'delivered'; nothing else leaves a terminal status.
    or (p_current = 'delivered' and p_next = 'read'),
    false)
$$;
comment on function private.message_status_can_advance(text, text) is
  'Whether a message in status p_current may move to p_next: forward only, terminal statuses stay '
  '(except delivered -> read). Duplicates and late arrivals return false.';

create function private.message_event_data(p_message_id uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object('message', jsonb_build_object(
    'id', m.id, 'conversation_id', m.conversation_id, 'contact_id', c.contact_id,
    'phone_number_id', c.phone_number_id, 'direction', m.direction, 'from', m.from_e164, 'to', m.to_e164,
    'body', m.body, 'status', m.status, 'error_code', m.error_code, 'error_message', m.error_message,
    'twilio_sid', m.twilio_sid, 'num_segments', m.num_segments, 'num_media', m.num_media, 'source', m.source,
    'media', (select coalesce(jsonb_agg(jsonb_build_object('url', mm.url, 'content_type', mm.content_type)
                                        order by mm.position), '[]'::jsonb)
                from public.message_media mm where mm.message_id = m.id),
    'created_at', m.created_at, 'status_updated_at', m.status_updated_at))
  from public.messages m join public.conversations c on c.id = m.conversation_id
  where m.id = p_message_id
$$;
comment on function private.message_event_data(uuid) is 'The "data" of message.* webhook events.';

create function private.advance_message_status(p_message_id uuid, p_status text, p_error_code integer,
                                               p_error_message text, p_at timestamptz default now())
returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  m public.messages;
  moved boolean;
begin
  select * into m from public.messages where id = p_message_id for update;
  if not found then
    return false;
  end if;
  -- Twilio 21610: the recipient unsubscribed (texted STOP to Twilio). Record it even if
  -- this callback is a duplicate, so it is never missed.
  if p_error_code = 21610 and m.direction = 'outbound' and m.to_e164 ~ '^\+[1-9][0-9]{6,14}$' then
    perform private.record_opt_out(m.workspace_id, m.to_e164, 'twilio_21610', null, m.id, p_at);
  end if;
  moved := private.message_status_can_advance(m.status, p_status);
  if moved then
    update public.messages
       set status = p_status,
           error_code = coalesce(p_error_code, error_code),
           error_message = coalesce(left(p_error_message, 1000), error_message),
           status_updated_at = greatest(p_at, status_updated_at)
     where id = m.id;
    perform private.enqueue_webhook_event(m.workspace_id, 'message.status', private.message_event_data(m.id));
  end if;
  return moved;
end
$$;
comment on function private.advance_message_status(uuid, text, integer, text, timestamptz) is
  'Moves a message''s status forward (never back), stores error codes, records 21610 opt-outs and queues '
  'message.status webhooks. True if the status changed.';

-- ---------------------------------------------------------------------------------------
-- Threading helpers

create function private.upsert_contact(p_workspace_id uuid, p_phone text, p_created_from text default null)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.contacts (workspace_id, phone_e164, created_from) values (p_workspace_id, p_phone, p_created_from)
  on conflict (workspace_id, phone_e164) do nothing
  returning id into v_id;
  if v_id is null then
    select id into v_id from public.contacts where workspace_id = p_workspace_id and phone_e164 = p_phone;
  end if;
  return v_id;
end
$$;

create function private.upsert_conversation(p_workspace_id uuid, p_phone_number_id uuid, p_contact_id uuid)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.conversations (workspace_id, phone_number_id, contact_id)
  values (p_workspace_id, p_phone_number_id, p_contact_id)
  on conflict (phone_number_id, contact_id) do nothing
  returning id into v_id;
  if v_id is null then
    select id into v_id from public.conversations
     where phone_number_id = p_phone_number_id and contact_id = p_contact_id;
  end if;
  return v_id;
end
$$;

comment on function private.upsert_contact(uuid, text, text) is
  'The contact for (workspace, E.164 number), created if missing (p_created_from says when an inbound text or '
  'call created it: such a contact goes with its logs after 90 days). Safe under concurrent calls.';
comment on function private.upsert_conversation(uuid, uuid, uuid) is
  'The conversation of (number, contact), created if missing. Safe under concurrent calls.';

create function private.touch_conversation(p_conversation_id uuid, p_at timestamptz, p_body text,
                                           p_num_media integer, p_inbound boolean)
returns void
language sql security definer
set search_path = ''
as $$
  update public.conversations
     set last_message_preview = case when last_message_at is null or p_at >= last_message_at
                                     then left(coalesce(nullif(btrim(p_body), ''),
                                                        case when p_num_media > 0 then '[media]' else '' end), 160)
                                     else last_message_preview end,
         last_message_at = greatest(coalesce(last_message_at, p_at), p_at),
         unread_count = unread_count + case when p_inbound then 1 else 0 end,
         status = case when p_inbound then 'open' else status end
   where id = p_conversation_id
$$;
comment on function private.touch_conversation(uuid, timestamptz, text, integer, boolean) is
  'Bumps a conversation after a message: last_message_at/preview (newest wins), unread_count and reopening for inbound.';

-- ---------------------------------------------------------------------------------------
-- Sending: the service checks the caller (as the user, under RLS), records the message with
-- private.prepare_outbound_message as service_role, sends it through Twilio, then records
-- mark_message_submitted (accepted) or mark_message_failed (refused). Only the service records
-- outbound messages: a queued message is a promise that it goes to Twilio, and one a client
-- made (through PostgREST rpc, say) would sit queued forever, counted against the plan.

create function private.outbound_result(p_message_id uuid, p_replayed boolean) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object('replayed', p_replayed, 'message_id', m.id, 'conversation_id', m.conversation_id,
                            'contact_id', c.contact_id, 'status', m.status, 'twilio_sid', m.twilio_sid,
                            'from', m.from_e164, 'to', m.to_e164, 'body', m.body,
                            'media_urls', (select coalesce(jsonb_agg(mm.url order by mm.position), '[]'::jsonb)
                                             from public.message_media mm where mm.message_id = m.id))
    from public.messages m join public.conversations c on c.id = m.conversation_id
   where m.id = p_message_id
$$;

comment on function private.outbound_result(uuid, boolean) is
  'The jsonb prepare_outbound_message returns for a message (also on replay).';

create function private.prepare_outbound_message(
  p_workspace_id uuid, p_sent_by uuid, p_from_number_id uuid, p_to text, p_body text, p_media_urls text[],
  p_num_segments integer, p_encoding text, p_idempotency_key text default null)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_existing uuid;
  v_number public.phone_numbers;
  v_body text := coalesce(p_body, '');
  v_media text[] := coalesce(p_media_urls, '{}');
  v_contact uuid;
  v_conversation uuid;
  v_message uuid;
  v_opted_out text;
begin
  if p_sent_by is null or not exists (select 1 from public.workspace_members m
                                       where m.workspace_id = p_workspace_id and m.user_id = p_sent_by) then
    raise exception 'only a member of the workspace sends its messages' using errcode = '42501';
  end if;

  if p_idempotency_key is not null then
    if char_length(p_idempotency_key) not between 1 and 200 then
      raise exception 'idempotency key must be 1 to 200 characters' using errcode = '22023';
    end if;
    -- Two requests with one key wait for each other here; the second replays the first.
    perform pg_advisory_xact_lock(hashtextextended('numeraloop.send:' || p_workspace_id || ':' || p_idempotency_key, 0));
    select id into v_existing from public.messages
     where workspace_id = p_workspace_id and idempotency_key = p_idempotency_key;
    if v_existing is not null then
      return private.outbound_result(v_existing, true);
    end if;
  end if;

  select * into v_number from public.phone_numbers where id = p_from_number_id and workspace_id = p_workspace_id;
  if not found or v_number.status <> 'active' then
    raise exception 'the sender is not an active number of this workspace' using errcode = '22023';
  end if;
  if p_to is null or p_to !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception 'the recipient must be an E.164 number' using errcode = '22023';
  end if;
  if btrim(v_body) = '' and cardinality(v_media) = 0 then
    raise exception 'a message needs a body or media' using errcode = '22023';
  end if;
  if char_length(v_body) > 1600 then
    raise exception 'a message body is at most 1600 characters' using errcode = '22023';
  end if;
  if cardinality(v_media) > 10 or exists (select 1 from unnest(v_media) u where u is null or u !~ '^https?://') then
    raise exception 'media must be at most 10 http(s) URLs' using errcode = '22023';
  end if;
  if p_encoding is not null and p_encoding not in ('gsm7', 'ucs2') then
    raise exception 'encoding must be gsm7 or ucs2' using errcode = '22023';
  end if;
  select o.source into v_opted_out from public.opt_outs o where o.workspace_id = p_workspace_id and o.phone_e164 = p_to;
  if found then
    raise exception '%', case
        when v_opted_out like 'keyword:%' then format(
          'this recipient has opted out (they texted %s); they must text START before you can message them',
          substr(v_opted_out, 9))
        when v_opted_out = 'twilio_21610' then
          'this recipient has unsubscribed at Twilio (error 21610); they must text START before you can message them'
        else 'this recipient was opted out by a member of this workspace; lift that opt-out before messaging them'
      end
      using errcode = 'P0409', detail = '{"code": "recipient_opted_out"}';
  end if;

  v_contact := private.upsert_contact(p_workspace_id, p_to);
  v_conversation := private.upsert_conversation(p_workspace_id, p_from_number_id, v_contact);

  insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status,
                               num_segments, encoding, num_media, sent_by, source, idempotency_key)
  values (p_workspace_id, v_conversation, 'outbound', v_number.e164, p_to, v_body, 'queued',
          p_num_segments, p_encoding, cardinality(v_media), p_sent_by, 'manual', p_idempotency_key)
  returning id into v_message;

  insert into public.message_media (workspace_id, message_id, url, position)
  select p_workspace_id, v_message, u.url, (u.n - 1)::integer
    from unnest(v_media) with ordinality as u(url, n);

  perform private.touch_conversation(v_conversation, now(), v_body, cardinality(v_media), false);
  return private.outbound_result(v_message, false);
end
$$;
comment on function private.prepare_outbound_message(uuid, uuid, uuid, text, text, text[], integer, text, text) is
  'Records an outbound message (status queued, sent_by = p_sent_by) just before the service hands it to Twilio: '
  'checks that p_sent_by is a member (42501), the sender number (22023) and opt-out (P0409, detail code '
  'recipient_opted_out), threads it into the conversation. A repeated idempotency key returns the first message with '
  'replayed=true. service_role only.';

create function private.mark_message_submitted(p_message_id uuid, p_twilio_sid text, p_status text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  m public.messages;
  p record;
  sid_recorded boolean := false;
  moved boolean := false;
  pending_applied integer := 0;
begin
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.message_sid:' || p_twilio_sid, 0));
  select * into m from public.messages where id = p_message_id for update;
  if not found then
    raise exception 'no message %', p_message_id using errcode = 'P0002';
  end if;
  if m.direction <> 'outbound' then
    raise exception 'only outbound messages are submitted' using errcode = '22023';
  end if;
  if m.twilio_sid is not null and m.twilio_sid <> p_twilio_sid then
    raise exception 'message % was already submitted as %', p_message_id, m.twilio_sid using errcode = '55000';
  end if;

  if m.twilio_sid is null then
    update public.messages set twilio_sid = p_twilio_sid, submitted_at = now() where id = m.id;
    sid_recorded := true;
  end if;
  if p_status is not null then
    moved := private.advance_message_status(m.id, lower(btrim(p_status)), null, null);
  end if;

  -- Callbacks that raced ahead of this write, in arrival order; only those from the
  -- workspace's own Twilio account count.
  for p in
    select s.* from private.pending_message_statuses s
     where s.message_sid = p_twilio_sid order by s.id
  loop
    if exists (select 1 from public.twilio_accounts a
                where a.workspace_id = m.workspace_id and a.account_sid = p.account_sid) then
      moved := private.advance_message_status(m.id, p.status, p.error_code, p.error_message, p.received_at) or moved;
      pending_applied := pending_applied + 1;
    end if;
  end loop;
  delete from private.pending_message_statuses where message_sid = p_twilio_sid;

  select * into m from public.messages where id = m.id;
  return jsonb_build_object('applied', sid_recorded or moved, 'message_id', m.id, 'workspace_id', m.workspace_id,
                            'status', m.status, 'twilio_sid', m.twilio_sid, 'pending_applied', pending_applied);
end
$$;
comment on function private.mark_message_submitted(uuid, text, text) is
  'Records the MessageSid Twilio gave a send and its status (forward only), then applies status callbacks '
  'that arrived before this write. Repeating it is harmless; another SID for the same message raises 55000.';

create function private.apply_message_status(p_account_sid text, p_message_sid text, p_status text,
                                             p_error_code integer, p_error_message text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_status text := lower(btrim(p_status));
  m public.messages;
  moved boolean;
begin
  if private.message_status_rank(v_status) is null or p_message_sid is null then
    return jsonb_build_object('applied', false, 'message_id', null, 'workspace_id', null, 'status', null,
                              'reason', 'unknown_status');
  end if;
  -- Serialises with mark_message_submitted for the same SID, so a callback is either
  -- applied to the message or parked where that function will find it.
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.message_sid:' || p_message_sid, 0));

  select * into m from public.messages where twilio_sid = p_message_sid;
  if not found then
    insert into private.pending_message_statuses (account_sid, message_sid, status, error_code, error_message)
    values (p_account_sid, p_message_sid, v_status, p_error_code, left(p_error_message, 1000));
    return jsonb_build_object('applied', false, 'message_id', null, 'workspace_id', null, 'status', null,
                              'pending', true);
  end if;

  if not exists (select 1 from public.twilio_accounts a
                  where a.workspace_id = m.workspace_id and a.account_sid = p_account_sid) then
    return jsonb_build_object('applied', false, 'message_id', null, 'workspace_id', null, 'status', null,
                              'reason', 'account_mismatch');
  end if;

  moved := private.advance_message_status(m.id, v_status, p_error_code, p_error_message);
  select * into m from public.messages where id = m.id;
  return jsonb_build_object('applied', moved, 'message_id', m.id, 'workspace_id', m.workspace_id, 'status', m.status);
end
$$;
comment on function private.apply_message_status(text, text, text, integer, text) is
  'Applies a Twilio status callback: forward only (late or duplicate callbacks change nothing), stores error '
  'codes, 21610 opts the recipient out, queues message.status webhooks. The account must be the message''s '
  'workspace''s. A callback for a SID not yet recorded is parked for mark_message_submitted().';

create function private.mark_message_failed(p_message_id uuid, p_error_code integer, p_error_message text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  m public.messages;
  moved boolean;
begin
  select * into m from public.messages where id = p_message_id;
  if not found then
    raise exception 'no message %', p_message_id using errcode = 'P0002';
  end if;
  moved := private.advance_message_status(m.id, 'failed', p_error_code, p_error_message);
  select * into m from public.messages where id = m.id;
  return jsonb_build_object('applied', moved, 'message_id', m.id, 'workspace_id', m.workspace_id, 'status', m.status);
end
$$;
comment on function private.mark_message_failed(uuid, integer, text) is
  'Twilio refused the send: status failed (unless already terminal) with its error; 21610 opts the recipient out.';

create function private.purge_pending_message_statuses(p_older_than interval default '7 days')
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer;
begin
  delete from private.pending_message_statuses where received_at < now() - p_older_than;
  get diagnostics n = row_count;
  return n;
end
$$;
comment on function private.purge_pending_message_statuses(interval) is
  'Drops parked status callbacks that never matched a message (e.g. sends made outside NumeraLoop).';

-- Hourly, so the parked callbacks stay few; idempotent by job name.
select cron.schedule('numeraloop-purge-parked-statuses', '23 * * * *',
                     $$select private.purge_pending_message_statuses('7 days')$$);

create function public.mark_conversation_read(p_conversation_id uuid)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  ws uuid;
begin
  select workspace_id into ws from public.conversations where id = p_conversation_id;
  if ws is null then
    raise exception 'not a member of this conversation''s workspace' using errcode = '42501';
  end if;
  perform private.require_membership(ws);
  update public.conversations set unread_count = 0 where id = p_conversation_id and unread_count <> 0;
end
$$;
comment on function public.mark_conversation_read(uuid) is
  'Sets a conversation''s unread_count to 0. Members only (42501 otherwise, also for an unknown id).';

revoke all on function
  private.message_status_rank(text), private.message_status_can_advance(text, text),
  private.message_event_data(uuid), private.advance_message_status(uuid, text, integer, text, timestamptz),
  private.upsert_contact(uuid, text, text), private.upsert_conversation(uuid, uuid, uuid),
  private.touch_conversation(uuid, timestamptz, text, integer, boolean), private.outbound_result(uuid, boolean),
  private.mark_message_submitted(uuid, text, text), private.apply_message_status(text, text, text, integer, text),
  private.mark_message_failed(uuid, integer, text), private.purge_pending_message_statuses(interval),
  private.tg_conversations__assignee_is_member(),
  private.prepare_outbound_message(uuid, uuid, uuid, text, text, text[], integer, text, text)
  from public, anon, authenticated;
grant execute on function
  private.message_status_rank(text), private.message_status_can_advance(text, text),
  private.mark_message_submitted(uuid, text, text), private.apply_message_status(text, text, text, integer, text),
  private.mark_message_failed(uuid, integer, text), private.purge_pending_message_statuses(interval),
  private.prepare_outbound_message(uuid, uuid, uuid, text, text, text[], integer, text, text)
  to service_role;
revoke all on function public.mark_conversation_read(uuid) from public, anon;
grant execute on function public.mark_conversation_read(uuid) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants

alter table public.conversations enable row level security;
alter table public.messages enable row level security;
alter table public.message_media enable row level security;
alter table public.canned_messages enable row level security;

create policy conversations_select_member on public.conversations for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy conversations_update_member on public.conversations for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));

create policy messages_select_member on public.messages for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy message_media_select_member on public.message_media for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

create policy canned_messages_select_member on public.canned_messages for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy canned_messages_insert_member on public.canned_messages for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy canned_messages_update_member on public.canned_messages for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy canned_messages_delete_member on public.canned_messages for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

revoke all on public.conversations, public.messages, public.message_media, public.canned_messages
  from anon, authenticated, service_role;

grant select on public.conversations, public.messages, public.message_media to authenticated;
grant update (status, assigned_to) on public.conversations to authenticated;

grant select, delete on public.canned_messages to authenticated;
grant insert (workspace_id, title, body) on public.canned_messages to authenticated;
grant update (title, body) on public.canned_messages to authenticated;

grant select, insert, update, delete on public.conversations, public.messages, public.message_media,
  public.canned_messages to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
