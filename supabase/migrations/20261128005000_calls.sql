-- Calls: the call log, inbound routing (rules → forward with whisper / browser clients /
-- voicemail / reject), outbound calls placed from the browser, and Twilio's call status
-- callbacks. Every write goes through the service_role functions below; members read.
--
-- Nothing is recorded unless an admin turned voicemail on for the number (phone_numbers.
-- voicemail_enabled, off by default): without it a rule's voicemail action, or an unanswered
-- ring, rejects the call instead. Of a voicemail only its Recording SID and duration are kept
-- here; the audio stays at Twilio and is deleted there (private.provider_cleanup, drained by the
-- worker) when its call is purged after 90 days or its workspace is deleted.

create table public.calls (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  phone_number_id uuid,
  twilio_sid text not null check (twilio_sid ~ '^CA[0-9a-f]{32}$'),
  direction text not null check (direction in ('inbound', 'outbound')),
  -- As Twilio gave them: usually E.164, but a withheld caller arrives as e.g. 'anonymous'.
  from_e164 text not null check (char_length(from_e164) between 1 and 128),
  to_e164 text not null check (char_length(to_e164) between 1 and 128),
  contact_id uuid,
  -- The member who placed an outbound browser call.
  placed_by uuid references auth.users (id) on delete set null,
  status text not null check (status in ('queued', 'ringing', 'in-progress', 'completed', 'busy', 'failed',
                                         'no-answer', 'canceled')),
  -- What inbound routing decided, with what it rang: E.164 numbers (forward) or
  -- 'client:user_<uuid>' identities (browser). Null for outbound calls.
  routed_action text check (routed_action in ('forward', 'browser', 'voicemail', 'reject')),
  routing_rule_id uuid references public.call_routing_rules (id) on delete set null,
  forwarded_to text[] not null default '{}',
  whisper_text text check (char_length(whisper_text) <= 500),
  ring_timeout_seconds integer check (ring_timeout_seconds between 5 and 120),
  -- Outcome of the <Dial> (DialCallStatus): whether a forwarded/browser ring was answered.
  dial_status text check (dial_status in ('completed', 'answered', 'busy', 'no-answer', 'failed', 'canceled')),
  duration_seconds integer check (duration_seconds >= 0),
  -- The voicemail, if one was left: Twilio's Recording SID (the audio stays at Twilio) and its length.
  recording_sid text check (recording_sid ~ '^RE[0-9a-f]{32}$'),
  recording_duration_seconds integer check (recording_duration_seconds >= 0),
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint calls_workspace_sid_key unique (workspace_id, twilio_sid),
  foreign key (workspace_id, phone_number_id) references public.phone_numbers (workspace_id, id)
    on delete set null (phone_number_id),
  foreign key (workspace_id, contact_id) references public.contacts (workspace_id, id)
    on delete set null (contact_id)
);
create index calls_workspace_created_idx on public.calls (workspace_id, created_at desc);
create index calls_twilio_sid_idx on public.calls (twilio_sid);
create index calls_contact_idx on public.calls (contact_id) where contact_id is not null;
create index calls_phone_number_idx on public.calls (phone_number_id) where phone_number_id is not null;
comment on table public.calls is
  'The call log: inbound calls (and how they were routed) and outbound calls placed from the browser. '
  'Status follows Twilio''s call statuses and only moves forward; a terminal status never changes. '
  'Members read; only the service writes, through the private.*call* functions.';

create trigger tg_calls__updated_at before update on public.calls
  for each row execute function private.tg_set_updated_at();

create table private.pending_call_statuses (
  id bigint generated always as identity primary key,
  account_sid text not null,
  call_sid text not null,
  status text not null,
  duration_seconds integer,
  occurred_at timestamptz not null,
  received_at timestamptz not null default now()
);
create index pending_call_statuses_sid_idx on private.pending_call_statuses (call_sid);
create index pending_call_statuses_received_idx on private.pending_call_statuses (received_at);
comment on table private.pending_call_statuses is
  'Call status callbacks for a CallSid with no call row yet (a callback that beat the webhook''s write, or a call '
  'made outside NumeraLoop). Applied and removed when the row is created; purge_pending_call_statuses() drops the rest.';
revoke all on private.pending_call_statuses from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Status ordering

create function private.call_status_rank(p_status text) returns integer
language sql immutable
set search_path = ''
as $$
  select case p_status
    when 'queued' then 10
    when 'ringing' then 20
    when 'in-progress' then 30
    when 'completed' then 40 when 'busy' then 40 when 'failed' then 40 when 'no-answer' then 40
    when 'canceled' then 40
  end
$$;
comment on function private.call_status_rank(text) is
  'Order of Twilio call statuses; the terminal ones (completed, busy, failed, no-answer, canceled) share the top rank, '
  'so none replaces another. Null for an unknown status.';

create function private.advance_call_status(p_call_id uuid, p_status text, p_duration integer, p_at timestamptz)
returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  c public.calls;
  v_rank integer := private.call_status_rank(p_status);
begin
  select * into c from public.calls where id = p_call_id for update;
  if not found or v_rank is null then
    return false;
  end if;
  if v_rank > private.call_status_rank(c.status) then
    update public.calls
       set status = p_status,
           duration_seconds = coalesce(greatest(p_duration, 0), duration_seconds),
           ended_at = case when v_rank = 40 then coalesce(p_at, now()) else ended_at end
     where id = c.id;
    return true;
  end if;
  -- The same terminal status again (a retried callback) may only fill in a missing duration.
  if p_status = c.status and v_rank = 40 and c.duration_seconds is null and p_duration is not null then
    update public.calls set duration_seconds = greatest(p_duration, 0) where id = c.id;
  end if;
  return false;
end
$$;
comment on function private.advance_call_status(uuid, text, integer, timestamptz) is
  'Moves a call''s status forward only (true when it moved), recording the duration and, for a terminal status, ended_at.';

create function private.apply_pending_call_statuses(p_call_id uuid) returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  c public.calls;
  s record;
begin
  select * into c from public.calls where id = p_call_id;
  for s in
    select p.* from private.pending_call_statuses p
     where p.call_sid = c.twilio_sid
       and exists (select 1 from public.twilio_accounts a
                    where a.workspace_id = c.workspace_id and a.account_sid = p.account_sid)
     order by p.id
  loop
    perform private.advance_call_status(c.id, s.status, s.duration_seconds, s.occurred_at);
    delete from private.pending_call_statuses where id = s.id;
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------
-- Inbound routing

create function private.call_routing_result(p_call_id uuid, p_duplicate boolean) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'duplicate', p_duplicate, 'call_id', c.id, 'workspace_id', c.workspace_id, 'action', c.routed_action,
    'forward_to', case when c.routed_action = 'forward' then to_jsonb(c.forwarded_to) else '[]'::jsonb end,
    'clients', case when c.routed_action = 'browser'
                    then (select coalesce(jsonb_agg(substr(t, 8) order by n), '[]'::jsonb)
                            from unnest(c.forwarded_to) with ordinality as u(t, n))
                    else '[]'::jsonb end,
    'whisper_text', c.whisper_text, 'timeout_seconds', c.ring_timeout_seconds,
    'voicemail_enabled', coalesce(p.voicemail_enabled, false),
    'greeting', 'You have reached ' || w.name || '.')
  from public.calls c
  join public.workspaces w on w.id = c.workspace_id
  left join public.phone_numbers p on p.id = c.phone_number_id
  where c.id = p_call_id
$$;
comment on function private.call_routing_result(uuid, boolean) is
  'The jsonb route_inbound_call returns, rebuilt from the stored call, so a retried webhook is answered the same way.';

create function private.route_inbound_call(p_workspace_id uuid, p_phone_number_id uuid, p_call_sid text,
                                           p_from text, p_to text, p_at timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_at timestamptz := coalesce(p_at, now());
  v_existing public.calls;
  v_number public.phone_numbers;
  v_workspace public.workspaces;
  v_rule public.call_routing_rules;
  v_matched boolean := false;
  v_action text;
  v_targets text[] := '{}';
  v_whisper text;
  v_timeout integer := 20;
  v_rule_id uuid;
  v_contact uuid;
  v_call uuid;
begin
  if p_call_sid is null or p_call_sid !~ '^CA[0-9a-f]{32}$' then
    raise exception 'a CallSid is required' using errcode = '22023';
  end if;
  -- One webhook per CallSid at a time; a retry waits here, then finds the first one's call.
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.call_sid:' || p_call_sid, 0));
  select * into v_existing from public.calls where twilio_sid = p_call_sid and workspace_id = p_workspace_id;
  if found then
    if v_existing.direction <> 'inbound' then
      raise exception 'CallSid % already belongs to another call', p_call_sid using errcode = '23505';
    end if;
    return private.call_routing_result(v_existing.id, true);
  end if;

  select * into v_number from public.phone_numbers n where n.id = p_phone_number_id and n.workspace_id = p_workspace_id;
  if not found then
    raise exception 'phone number % is not one of this workspace''s', p_phone_number_id using errcode = '22023';
  end if;
  select * into v_workspace from public.workspaces where id = p_workspace_id;

  for v_rule in
    select * from public.call_routing_rules r
     where r.phone_number_id = p_phone_number_id and r.workspace_id = p_workspace_id and r.is_active
     order by r.priority, r.created_at, r.id
  loop
    v_matched := case v_rule.condition
      when 'always' then true
      when 'business_hours' then private.is_within_business_hours(v_rule.business_hours, v_workspace.timezone, v_at)
      when 'after_hours' then not private.is_within_business_hours(v_rule.business_hours, v_workspace.timezone, v_at)
      when 'caller_prefix' then coalesce(starts_with(p_from, v_rule.caller_prefix), false)
      else false
    end;
    if v_matched then
      v_action := v_rule.action;
      v_rule_id := v_rule.id;
      v_timeout := v_rule.timeout_seconds;
      v_whisper := coalesce(v_rule.whisper_text, v_number.whisper_text);
      -- Never ring the number that was called: that would loop back here.
      v_targets := array(select t from unnest(v_rule.forward_to) t where t <> v_number.e164);
      exit;
    end if;
  end loop;

  if not v_matched then
    v_targets := array(select t from unnest(v_number.forward_to) t where t <> v_number.e164);
    v_whisper := v_number.whisper_text;
    v_action := case when cardinality(v_targets) > 0 then 'forward'
                     when v_number.voicemail_enabled then 'voicemail'
                     else 'reject' end;
  end if;
  if v_action = 'forward' and cardinality(v_targets) = 0 then
    v_action := case when v_number.voicemail_enabled then 'voicemail' else 'reject' end;
  end if;
  -- A rule may say voicemail; the number's setting decides whether anything is recorded.
  if v_action = 'voicemail' and not v_number.voicemail_enabled then
    v_action := 'reject';
  end if;
  if v_action = 'browser' then
    -- Every member's browser rings; <Dial> takes at most 10 nouns, owners and admins first.
    v_targets := array(select 'client:user_' || m.user_id::text from public.workspace_members m
                        where m.workspace_id = p_workspace_id
                        order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, m.created_at, m.user_id
                        limit 10);
  end if;
  if v_action not in ('forward', 'browser') then
    v_targets := '{}';
    v_whisper := null;
  end if;

  if p_from ~ '^\+[1-9][0-9]{6,14}$' then
    v_contact := private.upsert_contact(p_workspace_id, p_from, 'inbound_call');
  end if;

  insert into public.calls (workspace_id, phone_number_id, twilio_sid, direction, from_e164, to_e164, contact_id,
                            status, routed_action, routing_rule_id, forwarded_to, whisper_text, ring_timeout_seconds,
                            started_at, created_at)
  values (p_workspace_id, p_phone_number_id, p_call_sid, 'inbound', left(coalesce(nullif(p_from, ''), 'unknown'), 128),
          left(coalesce(nullif(p_to, ''), v_number.e164), 128), v_contact,
          case when v_action = 'reject' then 'busy' else 'ringing' end,
          v_action, v_rule_id, v_targets, v_whisper,
          case when v_action in ('forward', 'browser') then v_timeout end, v_at, v_at)
  returning id into v_call;
  if v_action = 'reject' then
    update public.calls set ended_at = v_at where id = v_call;
  end if;
  perform private.apply_pending_call_statuses(v_call);
  return private.call_routing_result(v_call, false);
end
$$;
comment on function private.route_inbound_call(uuid, uuid, text, text, text, timestamptz) is
  'Records an inbound call (idempotent on CallSid: a retry gets the first decision with duplicate=true), upserts the '
  'caller as a contact when From is E.164, and decides its routing: the number''s first active rule by priority '
  'whose condition holds (always; business_hours/after_hours read in the workspace timezone; caller_prefix) decides; '
  'without one, the number''s forward_to, else voicemail when enabled, else reject. Voicemail (a rule''s or the '
  'fallback) only when the number has it enabled, else reject. Returns {action, forward_to, clients, whisper_text, '
  'timeout_seconds, call_id, greeting, voicemail_enabled, ...}. service_role only.';

-- ---------------------------------------------------------------------------------------
-- Status callbacks, dial outcomes, voicemail, whisper

create function private.apply_call_status(p_account_sid text, p_call_sid text, p_status text, p_duration integer,
                                          p_at timestamptz)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_status text := lower(btrim(coalesce(p_status, '')));
  c public.calls;
  moved boolean;
begin
  if v_status = 'initiated' then
    v_status := 'queued';
  end if;
  if private.call_status_rank(v_status) is null or p_call_sid is null then
    return jsonb_build_object('applied', false, 'call_id', null, 'status', null, 'reason', 'unknown_status');
  end if;
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.call_sid:' || p_call_sid, 0));

  select k.* into c from public.calls k
   where k.twilio_sid = p_call_sid
     and exists (select 1 from public.twilio_accounts a
                  where a.workspace_id = k.workspace_id and a.account_sid = p_account_sid)
   order by k.created_at limit 1;
  if not found then
    if exists (select 1 from public.calls k where k.twilio_sid = p_call_sid) then
      return jsonb_build_object('applied', false, 'call_id', null, 'status', null, 'reason', 'account_mismatch');
    end if;
    insert into private.pending_call_statuses (account_sid, call_sid, status, duration_seconds, occurred_at)
    values (p_account_sid, p_call_sid, v_status, p_duration, coalesce(p_at, now()));
    return jsonb_build_object('applied', false, 'call_id', null, 'status', null, 'pending', true);
  end if;

  moved := private.advance_call_status(c.id, v_status, p_duration, p_at);
  select * into c from public.calls where id = c.id;
  return jsonb_build_object('applied', moved, 'call_id', c.id, 'workspace_id', c.workspace_id, 'status', c.status,
                            'duration_seconds', c.duration_seconds);
end
$$;
comment on function private.apply_call_status(text, text, text, integer, timestamptz) is
  'Applies a Twilio call status callback: forward only (a late or repeated callback changes nothing), records '
  'CallDuration and ended_at. The account must be the call''s workspace''s. An unknown CallSid is parked in '
  'private.pending_call_statuses and applied if a call row for it is created later (calls are never created from '
  'a callback: it does not say which number or member the call belongs to).';

create function private.apply_dial_result(p_account_sid text, p_call_id uuid, p_call_sid text, p_dial_status text,
                                          p_dial_duration integer, p_at timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_dial text := lower(btrim(coalesce(p_dial_status, '')));
  c public.calls;
  v_answered boolean;
  v_voicemail boolean := false;
begin
  select k.* into c from public.calls k
   where k.id = p_call_id and k.twilio_sid = p_call_sid
     and exists (select 1 from public.twilio_accounts a
                  where a.workspace_id = k.workspace_id and a.account_sid = p_account_sid)
   for update;
  if not found then
    return jsonb_build_object('found', false, 'next', 'hangup');
  end if;
  if v_dial not in ('completed', 'answered', 'busy', 'no-answer', 'failed', 'canceled') then
    v_dial := 'failed';
  end if;
  v_answered := v_dial in ('completed', 'answered');
  if c.dial_status is null then
    update public.calls set dial_status = v_dial where id = c.id;
  end if;

  if c.direction = 'outbound' then
    -- A browser call's row follows the dialed leg: its outcome is the call's outcome.
    perform private.advance_call_status(c.id, case when v_answered then 'completed' else v_dial end,
                                        case when v_answered then p_dial_duration end, p_at);
  else
    v_voicemail := not v_answered and c.dial_status is null and c.routed_action in ('forward', 'browser')
                   and exists (select 1 from public.phone_numbers p where p.id = c.phone_number_id and p.voicemail_enabled);
  end if;
  return private.call_routing_result(c.id, false)
         || jsonb_build_object('found', true, 'dial_status', v_dial, 'next', case when v_voicemail then 'voicemail' else 'hangup' end);
end
$$;
comment on function private.apply_dial_result(text, uuid, text, text, integer, timestamptz) is
  'The <Dial> action callback: stores DialCallStatus; an unanswered forward/browser ring goes to voicemail when the '
  'number has it enabled (next = voicemail), otherwise next = hangup. For an outbound browser call the dialed leg''s '
  'outcome and DialCallDuration become the call''s status and duration.';

create function private.record_voicemail(p_account_sid text, p_call_id uuid, p_call_sid text, p_recording_sid text,
                                         p_recording_duration integer)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  if p_recording_sid is null or p_recording_sid !~ '^RE[0-9a-f]{32}$' then
    return jsonb_build_object('recorded', false, 'reason', 'invalid_recording_sid');
  end if;
  update public.calls k
     set recording_sid = p_recording_sid, recording_duration_seconds = greatest(p_recording_duration, 0)
   where k.id = p_call_id and k.twilio_sid = p_call_sid and k.recording_sid is null
     and exists (select 1 from public.twilio_accounts a
                  where a.workspace_id = k.workspace_id and a.account_sid = p_account_sid)
  returning k.id into v_id;
  return jsonb_build_object('recorded', v_id is not null, 'call_id', v_id);
end
$$;
comment on function private.record_voicemail(text, uuid, text, text, integer) is
  'The <Record> action callback: stores the voicemail''s RecordingSid and duration once (a retry changes nothing); '
  'never its URL or audio, which stay at Twilio.';

-- A call's recording is deleted at Twilio when the call goes (purged after 90 days, or with its
-- workspace): queued here, in the deleting transaction, and done by the worker. A workspace being
-- deleted has queued its recordings already, with its account (gone by the time its calls
-- cascade), so a task queued twice is one task.
create function private.tg_calls__queue_recording_deletion() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.queue_provider_cleanup(
    'delete_recording', old.recording_sid,
    (select a.account_sid from public.twilio_accounts a where a.workspace_id = old.workspace_id),
    old.workspace_id, 'retention');
  return old;
end
$$;

create trigger tg_calls__queue_recording_deletion before delete on public.calls
  for each row when (old.recording_sid is not null) execute function private.tg_calls__queue_recording_deletion();

create function private.call_whisper(p_account_sid text, p_call_id uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select coalesce(
    (select jsonb_build_object('found', true, 'whisper_text', k.whisper_text)
       from public.calls k
      where k.id = p_call_id and k.routed_action = 'forward'
        and exists (select 1 from public.twilio_accounts a
                     where a.workspace_id = k.workspace_id and a.account_sid = p_account_sid)),
    jsonb_build_object('found', false, 'whisper_text', null))
$$;
comment on function private.call_whisper(text, uuid) is
  'The whisper to play to whoever answers a forwarded call (chosen when the call was routed), if the call belongs '
  'to a workspace connected to this account.';

-- ---------------------------------------------------------------------------------------
-- Outbound calls from the browser (the TwiML App's Voice URL)

create function private.start_browser_call(p_account_sid text, p_application_sid text, p_call_sid text,
                                           p_user_id uuid, p_caller_id text, p_to text, p_at timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_at timestamptz := coalesce(p_at, now());
  v_workspace uuid;
  v_number public.phone_numbers;
  v_existing public.calls;
  v_call uuid;
begin
  if p_call_sid is null or p_call_sid !~ '^CA[0-9a-f]{32}$' then
    return jsonb_build_object('refused', 'invalid_call_sid');
  end if;
  -- The TwiML app is created per workspace at connect time, so (account, app) names the workspace.
  select a.workspace_id into v_workspace from public.twilio_accounts a
   where a.account_sid = p_account_sid and a.twiml_app_sid = p_application_sid;
  if v_workspace is null then
    return jsonb_build_object('refused', 'unknown_application');
  end if;
  if p_user_id is null or not exists (select 1 from public.workspace_members m
                                       where m.workspace_id = v_workspace and m.user_id = p_user_id) then
    return jsonb_build_object('refused', 'not_a_member');
  end if;
  if p_to is null or p_to !~ '^\+[1-9][0-9]{6,14}$' then
    return jsonb_build_object('refused', 'invalid_to');
  end if;
  if p_caller_id is not null then
    select * into v_number from public.phone_numbers n
     where n.workspace_id = v_workspace and n.e164 = p_caller_id and n.status = 'active';
  else
    select * into v_number from public.phone_numbers n
     where n.workspace_id = v_workspace and n.status = 'active' order by n.created_at, n.id limit 1;
  end if;
  if v_number.id is null then
    return jsonb_build_object('refused', 'invalid_caller_id');
  end if;

  perform pg_advisory_xact_lock(hashtextextended('numeraloop.call_sid:' || p_call_sid, 0));
  select * into v_existing from public.calls where twilio_sid = p_call_sid and workspace_id = v_workspace;
  if found then
    if v_existing.direction <> 'outbound' or v_existing.placed_by is distinct from p_user_id then
      return jsonb_build_object('refused', 'call_sid_in_use');
    end if;
    return jsonb_build_object('duplicate', true, 'call_id', v_existing.id, 'workspace_id', v_workspace,
                              'caller_id', v_existing.from_e164, 'to', v_existing.to_e164);
  end if;

  insert into public.calls (workspace_id, phone_number_id, twilio_sid, direction, from_e164, to_e164, contact_id,
                            placed_by, status, started_at, created_at)
  values (v_workspace, v_number.id, p_call_sid, 'outbound', v_number.e164, p_to,
          private.upsert_contact(v_workspace, p_to), p_user_id, 'queued', v_at, v_at)
  returning id into v_call;
  perform private.apply_pending_call_statuses(v_call);
  return jsonb_build_object('duplicate', false, 'call_id', v_call, 'workspace_id', v_workspace,
                            'caller_id', v_number.e164, 'to', p_to);
end
$$;
comment on function private.start_browser_call(text, text, text, uuid, text, text, timestamptz) is
  'Records an outbound call placed from the browser (idempotent on CallSid). The workspace is the one whose TwiML app '
  'made the request; the caller must be its member and the caller ID one of its active numbers (default: its oldest). '
  'Returns {call_id, caller_id, to} or {refused: reason}; calls are not subject to SMS opt-outs.';

create function private.purge_pending_call_statuses(p_older_than interval default '7 days')
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer;
begin
  delete from private.pending_call_statuses where received_at < now() - p_older_than;
  get diagnostics n = row_count;
  return n;
end
$$;
comment on function private.purge_pending_call_statuses(interval) is
  'Drops parked call status callbacks that never matched a call (child legs, calls made outside NumeraLoop).';

-- Hourly, like the parked message statuses: idempotent by job name.
select cron.schedule('numeraloop-purge-parked-call-statuses', '29 * * * *',
                     $$select private.purge_pending_call_statuses('7 days')$$);

revoke all on function
  private.call_status_rank(text), private.advance_call_status(uuid, text, integer, timestamptz),
  private.apply_pending_call_statuses(uuid), private.call_routing_result(uuid, boolean),
  private.route_inbound_call(uuid, uuid, text, text, text, timestamptz),
  private.apply_call_status(text, text, text, integer, timestamptz),
  private.apply_dial_result(text, uuid, text, text, integer, timestamptz),
  private.record_voicemail(text, uuid, text, text, integer), private.call_whisper(text, uuid),
  private.start_browser_call(text, text, text, uuid, text, text, timestamptz),
  private.purge_pending_call_statuses(interval)
  from public, anon, authenticated;
grant execute on function
  private.route_inbound_call(uuid, uuid, text, text, text, timestamptz),
  private.apply_call_status(text, text, text, integer, timestamptz),
  private.apply_dial_result(text, uuid, text, text, integer, timestamptz),
  private.record_voicemail(text, uuid, text, text, integer), private.call_whisper(text, uuid),
  private.start_browser_call(text, text, text, uuid, text, text, timestamptz),
  private.purge_pending_call_statuses(interval)
  to service_role;

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants: members read; nobody writes from a client.

alter table public.calls enable row level security;

create policy calls_select_member on public.calls for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

revoke all on public.calls from anon, authenticated, service_role;
grant select on public.calls to authenticated;
grant select on public.calls to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
