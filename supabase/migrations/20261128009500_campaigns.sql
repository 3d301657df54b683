-- Bulk SMS campaigns: a templated message sent from one of the workspace's numbers to an
-- audience (contact lists and/or tags, minus excluded tags), at a bounded rate, with a
-- delivery report. Admins write drafts through PostgREST (column-listed grants, drafts only);
-- launch_campaign() snapshots the audience into campaign_recipients (opted-out numbers are
-- kept as skipped_opted_out so the report counts them); any number of workers claim due
-- recipients through private.claim_campaign_recipients() (skip locked, a lease, an owner token
-- and a per-campaign pace shared by all workers), create each message as an ordinary outbound
-- message (source 'campaign') in the contact's conversation, send it, and record the outcome.
-- Delivery statuses arrive through the same status callbacks as every other message.
-- Campaigns count against the plan's monthly messages: launch is refused, and the claim pauses
-- a campaign, when they run out (the allowance functions are in 20261128011000_entitlement_limits.sql).

-- ---------------------------------------------------------------------------------------
-- Tables

create table public.campaigns (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  name text not null check (char_length(btrim(name)) between 1 and 120),
  phone_number_id uuid not null,
  body text not null default '' check (char_length(body) <= 1600),
  media_urls text[] not null default '{}'
    check (cardinality(media_urls) <= 10 and array_position(media_urls, null) is null),
  list_ids uuid[] not null default '{}'
    check (cardinality(list_ids) <= 50 and array_position(list_ids, null) is null),
  include_tags text[] not null default '{}'
    check (cardinality(include_tags) <= 50 and array_position(include_tags, null) is null),
  exclude_tags text[] not null default '{}'
    check (cardinality(exclude_tags) <= 50 and array_position(exclude_tags, null) is null),
  status text not null default 'draft'
    check (status in ('draft', 'scheduled', 'sending', 'paused', 'completed', 'canceled')),
  scheduled_at timestamptz,
  send_rate numeric(7, 2) not null default 1 check (send_rate between 0.1 and 10000),
  -- The sending window in each recipient's local time; null: the workspace's (09:00-20:00 by default).
  send_window_start time,
  send_window_end time,
  -- Swap characters that force UCS-2 for their GSM-7 look-alikes when the message is made.
  transliterate boolean not null default false,
  -- bulk: an audience; single: one message a member scheduled from the inbox ("send later"), sent by the
  -- same claims, leases and quiet hours (public.schedule_message).
  kind text not null default 'bulk' check (kind in ('bulk', 'single')),
  -- Sent through this Twilio Messaging Service (its pool of numbers, Twilio choosing the sender, sticky
  -- per recipient) instead of from phone_number_id alone, which stays its conversations' number.
  messaging_service_sid text check (messaging_service_sid ~ '^MG[0-9a-f]{32}$'),
  -- Carrier filtering defence: paused once more than this share of its latest delivery outcomes are 30007.
  filtered_pause_share numeric(4, 3) not null default 0.05 check (filtered_pause_share between 0 and 1),
  -- The pace shared by every worker: the earliest time the next message is due (see the claim).
  next_send_at timestamptz not null default now(),
  recipients_total integer not null default 0 check (recipients_total >= 0),
  last_error text check (char_length(last_error) <= 500),
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  launched_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  launched_at timestamptz,
  started_at timestamptz,
  paused_at timestamptz,
  completed_at timestamptz,
  canceled_at timestamptz,
  constraint campaigns_workspace_id_id_key unique (workspace_id, id),
  foreign key (workspace_id, phone_number_id) references public.phone_numbers (workspace_id, id) on delete cascade
);
create index campaigns_workspace_created_idx on public.campaigns (workspace_id, created_at desc);
create index campaigns_phone_number_idx on public.campaigns (phone_number_id);
create index campaigns_due_idx on public.campaigns (next_send_at) where status in ('scheduled', 'sending');
comment on table public.campaigns is
  'Bulk SMS campaigns. Members read; admins create, edit and delete drafts through PostgREST (only the columns '
  'granted). Everything after the draft goes through launch/pause/resume/cancel_campaign(); the workers send.';
comment on column public.campaigns.send_rate is
  'SMS segments per second the campaign sends at most, 0.1 to 10000, shared by all workers together; the sender '
  'number''s own rate (phone_numbers.segments_per_second) applies as well.';
comment on column public.campaigns.send_window_start is
  'With send_window_end: the local time of each recipient the campaign sends in; null takes the workspace''s.';
comment on column public.campaigns.next_send_at is
  'Pacing state written by private.claim_campaign_recipients(): when the campaign has used its allowance up to.';
comment on column public.campaigns.last_error is
  'Why a worker paused the campaign (Twilio disconnected, sender number released...). Cleared on resume.';
comment on column public.campaigns.recipients_total is
  'Recipients snapshotted at launch, skipped ones included.';

create trigger tg_campaigns__updated_at before update on public.campaigns
  for each row execute function private.tg_set_updated_at();

create function private.tg_campaigns__validate() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if exists (select 1 from unnest(new.media_urls) u where u !~ '^https?://' or char_length(u) > 2000) then
    raise exception 'media_urls must be http(s) URLs' using errcode = '22023';
  end if;
  if exists (select 1 from unnest(new.list_ids) l
              where not exists (select 1 from public.contact_lists cl
                                 where cl.id = l and cl.workspace_id = new.workspace_id)) then
    raise exception 'list_ids must name lists of the campaign''s workspace' using errcode = '23503';
  end if;
  return null;
end
$$;
comment on function private.tg_campaigns__validate() is
  'Media are http(s) URLs and every audience list belongs to the campaign''s workspace. Runs after RLS accepted '
  'the row, so it never tells a caller outside the workspace whether a list id is one of the workspace''s.';
-- AFTER, not BEFORE: a BEFORE trigger runs ahead of RLS's WITH CHECK, so an outsider inserting a
-- campaign into another workspace would learn from 23503 (instead of 42501) which list ids are its.
create trigger tg_campaigns__validate after insert or update of media_urls, list_ids on public.campaigns
  for each row execute function private.tg_campaigns__validate();

create table public.campaign_recipients (
  id bigint generated always as identity primary key,
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  campaign_id uuid not null,
  contact_id uuid,
  phone_e164 text not null check (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
  status text not null default 'pending'
    check (status in ('pending', 'claimed', 'uncertain', 'sent', 'failed', 'skipped_opted_out', 'skipped_removed',
                      'skipped_unreachable', 'canceled')),
  message_id uuid,
  error_code integer,
  error_message text check (char_length(error_message) <= 1000),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  claimed_until timestamptz,
  claim_token uuid,
  -- Set when a send's outcome became unknown (a worker stopped, or Twilio did not answer): the
  -- next claim of the recipient first looks for the message at Twilio before sending anything.
  reconcile boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  sent_at timestamptz,
  constraint campaign_recipients_campaign_phone_key unique (campaign_id, phone_e164),
  foreign key (workspace_id, campaign_id) references public.campaigns (workspace_id, id) on delete cascade,
  -- A contact deleted after launch is not texted (skipped_removed); a message purged by
  -- retention leaves the recipient's outcome without its delivery status.
  foreign key (workspace_id, contact_id) references public.contacts (workspace_id, id) on delete set null (contact_id),
  foreign key (workspace_id, message_id) references public.messages (workspace_id, id) on delete set null (message_id)
);
create index campaign_recipients_campaign_status_idx on public.campaign_recipients (campaign_id, status);
create index campaign_recipients_pending_idx on public.campaign_recipients (campaign_id, id) where status = 'pending';
create index campaign_recipients_claimed_idx on public.campaign_recipients (campaign_id, claimed_until)
  where status = 'claimed';
create index campaign_recipients_uncertain_idx on public.campaign_recipients (campaign_id, next_attempt_at)
  where status = 'uncertain';
create index campaign_recipients_messaged_idx on public.campaign_recipients (campaign_id, id)
  where message_id is not null;
create index campaign_recipients_claim_token_idx on public.campaign_recipients (claim_token)
  where claim_token is not null;
create index campaign_recipients_workspace_idx on public.campaign_recipients (workspace_id);
create index campaign_recipients_contact_idx on public.campaign_recipients (contact_id) where contact_id is not null;
create index campaign_recipients_message_idx on public.campaign_recipients (message_id) where message_id is not null;
comment on table public.campaign_recipients is
  'The audience of a launched campaign, one row per number (snapshotted at launch), and what happened to each: '
  'pending -> claimed (a worker holds it until claimed_until, renewing the lease while it lives) -> sent | failed; '
  'uncertain (the worker stopped or Twilio did not answer after the message was handed over: settled by the '
  'message''s first status callback, or by the next claim, which looks the message up at Twilio before sending); '
  'skipped_opted_out (at launch or since), skipped_removed (contact deleted), skipped_unreachable (its number '
  'was found unreachable: 30003, 30005, 30006), canceled. Members read; only the campaign functions write.';
comment on column public.campaign_recipients.status is
  '''sent'' means Twilio accepted the message; its delivery status is the linked message''s.';
comment on column public.campaign_recipients.claim_token is
  'The current claim''s owner token, fresh at each claim and cleared when the claim ends. Every worker call for '
  'the recipient presents it, so a worker whose lease ran out cannot act for the one that claimed it since.';

create trigger tg_campaign_recipients__updated_at before update on public.campaign_recipients
  for each row execute function private.tg_set_updated_at();

-- ---------------------------------------------------------------------------------------
-- Sending rules carriers enforce: segments, pace per sender, the recipient's local time

-- Per number: what it may send, in SMS segments per second. Admins override it (a number
-- Twilio gave more throughput) and record the rate its registered A2P 10DLC tier grants.
alter table public.phone_numbers
  add column segments_per_second numeric(8, 2) check (segments_per_second between 0.1 and 100000),
  add column a2p_10dlc_segments_per_second numeric(8, 2)
    check (a2p_10dlc_segments_per_second between 0.1 and 100000);
comment on column public.phone_numbers.segments_per_second is
  'Override of the SMS segments per second this number sends (campaign pacing); null: its 10DLC tier''s rate, '
  'else the default for its type (long code 1, toll-free 3, short code 100).';
comment on column public.phone_numbers.a2p_10dlc_segments_per_second is
  'The segments per second the number''s registered A2P 10DLC campaign tier grants; null when not registered.';
grant update (segments_per_second, a2p_10dlc_segments_per_second) on public.phone_numbers to authenticated;

-- Per workspace: the default sending window of its campaigns, in each recipient's local time.
alter table public.workspaces
  add column campaign_window_start time not null default '09:00',
  add column campaign_window_end time not null default '20:00';
comment on column public.workspaces.campaign_window_start is
  'Campaigns send from this local time of each recipient (their number''s time zone) unless the campaign sets its '
  'own window; with campaign_window_end, 09:00-20:00 by default. An end before the start spans midnight.';
grant update (campaign_window_start, campaign_window_end) on public.workspaces to authenticated;

create function private.sender_segments_per_second(p_number public.phone_numbers) returns numeric
language sql immutable
set search_path = ''
as $$
  select coalesce(p_number.segments_per_second, p_number.a2p_10dlc_segments_per_second,
                  case p_number.number_type when 'toll_free' then 3 when 'short_code' then 100 else 1 end)
$$;
comment on function private.sender_segments_per_second(public.phone_numbers) is
  'The SMS segments per second a sender may send: its override, else its 10DLC tier''s rate, else the default '
  'for its type (long code 1, toll-free 3, short code 100).';

create function private.account_mms_per_second() returns numeric
language sql immutable
set search_path = ''
as $$ select 25::numeric $$;
comment on function private.account_mms_per_second() is 'MMS a Twilio account sends per second at most.';

create function private.pace_margin() returns numeric
language sql immutable
set search_path = ''
as $$ select 0.95 $$;
comment on function private.pace_margin() is
  'Each pace runs this share of its rate: carriers meter by the second where messages arrive, and they arrive a '
  'few tens of milliseconds after their slot, unevenly; 5% under the rate keeps every second within it.';

create function private.campaign_reconcile_grace() returns interval
language sql immutable
set search_path = ''
as $$ select interval '2 seconds' $$;
comment on function private.campaign_reconcile_grace() is
  'How long after a lease ran out an uncertain send is looked up at Twilio: the stopped worker''s request has '
  'landed (or never will) by then.';

-- Pace state shared by every claimer: the time each pace is used up to (GCRA's theoretical arrival time).
create table private.send_pace (
  key text primary key,
  tat timestamptz not null default '-infinity'
);
comment on table private.send_pace is
  'One row per pace campaigns draw on (number:<phone_numbers.id>, mms:<twilio_accounts.id>): when it is used up '
  'to. Written only by private.claim_campaign_recipients().';
revoke all on private.send_pace from public, anon, authenticated, service_role;

create function private.sms_segment_count(p_body text) returns integer
language plpgsql immutable
set search_path = ''
as $$
declare
  -- GSM 03.38's default alphabet and its extension table (two septets each); as messaging/segments.py.
  v_basic constant text := E'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&''()*+,-./0123456789:;<=>?'
                           '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
  v_extension constant text := E'^{}\\[~]|€\f';
  v_body text := coalesce(p_body, '');
  v_len integer := char_length(v_body);
  v_wide integer;
  v_single integer;
  v_multi integer;
  v_segments integer := 1;
  v_used integer := 0;
  v_size integer;
  ch text;
begin
  if translate(v_body, v_basic || v_extension, '') = '' then
    v_single := 160; v_multi := 153;
    v_wide := v_len - char_length(translate(v_body, v_extension, ''));
  else
    v_single := 70; v_multi := 67;
    v_wide := regexp_count(v_body, '[\U00010000-\U0010FFFF]');  -- surrogate pairs
  end if;
  if v_len + v_wide <= v_single then
    return 1;
  end if;
  if v_wide = 0 then
    return ceil(v_len::numeric / v_multi)::integer;
  end if;
  -- An escape pair or a surrogate pair is never split across two segments.
  foreach ch in array regexp_split_to_array(v_body, '') loop
    v_size := case when v_single = 160 then (case when strpos(v_extension, ch) > 0 then 2 else 1 end)
                   else (case when ascii(ch) > 65535 then 2 else 1 end) end;
    if v_used + v_size > v_multi then
      v_segments := v_segments + 1;
      v_used := 0;
    end if;
    v_used := v_used + v_size;
  end loop;
  return v_segments;
end
$$;
comment on function private.sms_segment_count(text) is
  'SMS segments of a body, as carriers count them (and messaging/segments.py): GSM-7 160/153 septets with '
  'extension characters taking two, else UCS-2 70/67 units with astral characters taking two; pairs never split.';

create function private.gsm7_transliterate(p_body text) returns text
language sql immutable
set search_path = ''
as $$
  -- The single-character replacements of messaging/segments.py's GSM7_REPLACEMENTS, then the ellipsis.
  select replace(translate(p_body,
                           E'\u2018\u2019\u201a\u201b\u2032\u201c\u201d\u201e\u2033\u00ab\u00bb\u2013\u2014\u2012'
                           || E'\u2212\u2010\u2011\u00a0\u2009\u200a\u202f\u2022\u00e1\u00ed\u00f3\u00fa\u00e2\u00ea'
                           || E'\u00ee\u00f4\u00fb\u00e7\u00e3\u00f5\u00eb\u00ef\u00c1\u00cd\u00d3\u00da\u00c2\u00ca\u00c8',
                           E'''''''''''""""""------    -aiouaeioucaoeiAIOUAEE'),
                 E'\u2026', '...')
$$;
comment on function private.gsm7_transliterate(text) is
  'The body with each character that forces UCS-2 and has a GSM-7 look-alike replaced by it (curly quotes, dashes, '
  'ellipsis, accented vowels...): the transliteration a campaign may ask for, as messaging/segments.py does it.';

-- phonenumbers' time-zone data (prefix of the E.164 digits -> zones), loaded by the worker from
-- the package it runs with (campaigns/time_zones.py): third-party data, never in a migration.
create table private.phone_time_zones (
  prefix text primary key check (prefix ~ '^[0-9]{1,15}$'),
  time_zones text[] not null
);
create table private.phone_time_zones_source (
  only_row boolean primary key default true check (only_row),
  version text not null,
  loaded_at timestamptz not null default now()
);
comment on table private.phone_time_zones is
  'Time zones by number prefix (longest match wins), from the phonenumbers package; loaded by '
  'private.load_phone_time_zones().';
revoke all on private.phone_time_zones, private.phone_time_zones_source from public, anon, authenticated, service_role;

create function private.load_phone_time_zones(p_version text, p_data jsonb) returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer;
begin
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.phone_time_zones', 0));
  if exists (select 1 from private.phone_time_zones_source where version = p_version) then
    return 0;
  end if;
  delete from private.phone_time_zones;
  -- Only zones PostgreSQL knows ('Etc/Unknown' is phonenumbers' "no idea"): checked once here, not per send.
  insert into private.phone_time_zones (prefix, time_zones)
  select d.key, array(select z from jsonb_array_elements_text(d.value) z
                       where z in (select name from pg_catalog.pg_timezone_names))
    from jsonb_each(p_data) d;
  get diagnostics n = row_count;
  insert into private.phone_time_zones_source (version) values (p_version)
  on conflict (only_row) do update set version = excluded.version, loaded_at = now();
  return n;
end
$$;
comment on function private.load_phone_time_zones(text, jsonb) is
  'Replaces the prefix -> time zones table with phonenumbers'' data {"1201": ["America/New_York"], ...} unless this '
  'version is already loaded. service_role only.';

create function private.time_zones_for_number(p_e164 text) returns text[]
language sql stable
set search_path = ''
as $$
  select t.time_zones from private.phone_time_zones t
   where t.prefix in (select left(substr(p_e164, 2), n) from generate_series(1, 9) n)
   order by char_length(t.prefix) desc
   limit 1
$$;
comment on function private.time_zones_for_number(text) is
  'The time zones of an E.164 number by its longest known prefix (phonenumbers'' data); null when unknown.';

create function private.in_send_window(p_zones text[], p_start time, p_end time, p_at timestamptz) returns boolean
language sql immutable
set search_path = ''
as $$
  select coalesce(bool_and(case when p_start < p_end
                                then (p_at at time zone z)::time >= p_start and (p_at at time zone z)::time < p_end
                                else (p_at at time zone z)::time >= p_start or (p_at at time zone z)::time < p_end
                           end), true)
    from unnest(p_zones) z
$$;
comment on function private.in_send_window(text[], time, time, timestamptz) is
  'Whether p_at is inside [p_start, p_end) local time in every one of the zones (an end before the start spans '
  'midnight; equal bounds: always).';

create function private.valid_time_zone(p_zone text) returns text
language plpgsql stable
set search_path = ''
as $$
begin
  perform now() at time zone p_zone;
  return p_zone;
exception when others then  -- workspaces.timezone is free text
  return 'UTC';
end
$$;
comment on function private.valid_time_zone(text) is 'p_zone when PostgreSQL knows it, else UTC.';

create function private.send_window_opens(p_zones text[], p_start time, p_end time, p_now timestamptz,
                                          p_fallback_zone text)
returns timestamptz
language plpgsql stable
set search_path = ''
as $$
declare
  v_zones text[] := p_zones;
  v_best timestamptz;
  v_candidate timestamptz;
  z text;
  d integer;
begin
  -- Several zones: the window must hold in each (the most restrictive). A long list is a
  -- country-wide guess (a toll-free number: every zone of the country) whose windows rarely
  -- overlap; the workspace's own time zone stands in for it, as for an unknown number.
  if v_zones is null or cardinality(v_zones) = 0 or cardinality(v_zones) > 6 then
    v_zones := array[coalesce(p_fallback_zone, 'UTC')];
  end if;
  if private.in_send_window(v_zones, p_start, p_end, p_now) then
    return p_now;
  end if;
  foreach z in array v_zones loop
    for d in 0..2 loop
      v_candidate := (((p_now at time zone z)::date + d) + p_start) at time zone z;
      if v_candidate > p_now and (v_best is null or v_candidate < v_best)
         and private.in_send_window(v_zones, p_start, p_end, v_candidate) then
        v_best := v_candidate;
      end if;
    end loop;
  end loop;
  if v_best is null and cardinality(v_zones) > 1 then  -- the zones' windows never overlap
    return private.send_window_opens(null, p_start, p_end, p_now, p_fallback_zone);
  end if;
  return coalesce(v_best, p_now + interval '1 hour');
end
$$;
comment on function private.send_window_opens(text[], time, time, timestamptz, text) is
  'p_now when p_now is inside the sending window in every zone, else the next moment it is. Zones: the '
  'recipient''s (time_zones_for_number); none known, or a country-wide list of more than 6, reads as '
  'p_fallback_zone (the workspace''s, checked by valid_time_zone). Pass the clock as p_now (tests cross time zones and DST changes).';

-- ---------------------------------------------------------------------------------------
-- Carrier filtering defence: Twilio's error codes, permanent or transient

-- A number a carrier reported unreachable (30003 unreachable handset, 30005 unknown number,
-- 30006 landline): later campaigns skip it until a member clears the mark.
alter table public.contacts
  add column unreachable_code integer,
  add column unreachable_at timestamptz;
comment on column public.contacts.unreachable_at is
  'When a carrier reported the number unreachable (unreachable_code 30003, 30005 or 30006); campaigns skip it '
  '(skipped_unreachable) until a member sets it back to null.';
grant update (unreachable_code, unreachable_at) on public.contacts to authenticated;

create function private.twilio_error_class(p_code integer) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when p_code = 21610 then 'opted_out'                        -- the person texted STOP: never again
    when p_code in (30003, 30005, 30006) then 'unreachable'     -- the number: mark the contact
    when p_code = 30007 then 'filtered'                         -- the content or sender: watch the share
    when p_code in (20429, 30001, 30008, 30009, 30010) then 'transient'  -- try again later
    when p_code is null then null
    else 'permanent'
  end
$$;
comment on function private.twilio_error_class(integer) is
  'What a Twilio error code means for the campaign: opted_out (21610), unreachable (30003, 30005, 30006: the contact '
  'is marked), filtered (30007: the campaign pauses past its filtered_pause_share), transient (rate limits, queue '
  'overflow, unknown carrier errors) or permanent.';

create function private.tg_messages__campaign_delivery_error() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_class text := private.twilio_error_class(new.error_code);
  k public.campaigns;
  v_final integer;
  v_filtered integer;
begin
  if v_class = 'unreachable' then
    update public.contacts set unreachable_code = new.error_code, unreachable_at = now()
     where workspace_id = new.workspace_id and phone_e164 = new.to_e164;
  elsif v_class = 'filtered' then
    select c.* into k from public.campaign_recipients r join public.campaigns c on c.id = r.campaign_id
     where r.message_id = new.id;
    if found and k.status = 'sending' then
      -- The window: the campaign's latest 200 messages; judged once 20 of them have an outcome.
      select count(*) filter (where m.status in ('delivered', 'undelivered', 'failed')),
             count(*) filter (where m.error_code = 30007)
        into v_final, v_filtered
        from (select r.message_id from public.campaign_recipients r
               where r.campaign_id = k.id and r.message_id is not null
               order by r.id desc limit 200) w
        join public.messages m on m.id = w.message_id;
      if v_final >= 20 and v_filtered > k.filtered_pause_share * v_final then
        perform private.halt_campaign(k.id, format(
          'carriers filtered %s of the last %s messages with an outcome (30007, %s%%, over the campaign''s %s%%): '
          'review the content and the sender''s registration before resuming', v_filtered, v_final,
          round(100.0 * v_filtered / v_final), round(100 * k.filtered_pause_share, 1)));
      end if;
    end if;
  end if;
  return null;
end
$$;
comment on function private.tg_messages__campaign_delivery_error() is
  'A campaign message''s delivery error: an unreachable number marks its contact; a 30007 (filtered) pauses the '
  'campaign, with the reason, once filtered messages exceed its filtered_pause_share of its latest outcomes.';
create trigger tg_messages__campaign_delivery_error after update of error_code on public.messages
  for each row when (new.error_code is not null and old.error_code is distinct from new.error_code
                     and new.source = 'campaign')
  execute function private.tg_messages__campaign_delivery_error();

-- ---------------------------------------------------------------------------------------
-- Helpers

create function private.campaign_for_caller(p_campaign_id uuid, p_min_role public.workspace_role)
returns public.campaigns
language plpgsql security definer
set search_path = ''
as $$
declare
  k public.campaigns;
begin
  select * into k from public.campaigns where id = p_campaign_id for update;
  -- Unknown and someone else's look the same: nothing to enumerate.
  if not found or not (k.workspace_id = any(array(select private.workspace_ids_for_current_user()))) then
    raise exception 'no such campaign' using errcode = 'P0002';
  end if;
  perform private.require_membership(k.workspace_id, p_min_role);
  return k;
end
$$;
comment on function private.campaign_for_caller(uuid, public.workspace_role) is
  'The campaign, locked, if the caller may act on it: P0002 when it does not exist or is another workspace''s, '
  '42501 when the caller''s role is below p_min_role.';

create function private.campaign_state(p_campaign_id uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'campaign_id', k.id, 'status', k.status, 'scheduled_at', k.scheduled_at, 'send_rate', k.send_rate,
    'recipients_total', k.recipients_total,
    'pending', (select count(*) from public.campaign_recipients r where r.campaign_id = k.id and r.status = 'pending'),
    'skipped_opted_out', (select count(*) from public.campaign_recipients r
                           where r.campaign_id = k.id and r.status = 'skipped_opted_out'),
    'last_error', k.last_error)
  from public.campaigns k where k.id = p_campaign_id
$$;
comment on function private.campaign_state(uuid) is 'What launch/pause/resume/cancel_campaign() return.';

create function private.complete_campaign_if_done(p_campaign_id uuid) returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.campaigns k
     set status = 'completed', completed_at = now()
   where k.id = p_campaign_id and k.status = 'sending'
     and not exists (select 1 from public.campaign_recipients r
                      where r.campaign_id = p_campaign_id and r.status in ('pending', 'claimed', 'uncertain'));
  return found;
end
$$;
comment on function private.complete_campaign_if_done(uuid) is
  'Marks a sending campaign completed once no recipient is pending, claimed or uncertain. Called after each outcome (those '
  'are serialised per campaign) and by every claim, which catches a completion an outcome raced with.';

create function private.lock_campaign_outcomes(p_recipient_id bigint) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  -- Held to commit. Taken before any row lock, so it cannot close a cycle with the row locks.
  perform pg_advisory_xact_lock(hashtextextended(
    'numeraloop.campaign_outcomes:' || (select r.campaign_id from public.campaign_recipients r where r.id = p_recipient_id),
    0));
end
$$;
comment on function private.lock_campaign_outcomes(bigint) is
  'Serialises the recording of outcomes within one campaign, so the last outcome recorded always sees the others '
  'and completes the campaign (two concurrent last outcomes would otherwise each see the other still claimed).';

create function private.campaign_audience(k public.campaigns)
returns table (contact_id uuid, phone_e164 text, opted_out boolean, unreachable boolean)
language sql stable security definer
set search_path = ''
as $$
  -- Contacts on any of the lists or carrying any included tag, minus those carrying an excluded
  -- tag; one row per number (contacts are unique per number), oldest contact first.
  select c.id, c.phone_e164,
         exists (select 1 from public.opt_outs o where o.workspace_id = k.workspace_id and o.phone_e164 = c.phone_e164),
         c.unreachable_at is not null
    from public.contacts c
   where c.workspace_id = k.workspace_id
     and (c.tags && k.include_tags
          or c.id in (select m.contact_id from public.contact_list_members m
                       where m.workspace_id = k.workspace_id and m.list_id = any(k.list_ids)))
     and not (c.tags && k.exclude_tags)
   order by c.created_at, c.id
$$;
comment on function private.campaign_audience(public.campaigns) is
  'Who a campaign''s audience is now (what launch snapshots and the estimate counts), who of them opted out and '
  'whose number was found unreachable.';

-- ---------------------------------------------------------------------------------------
-- Admin actions (PostgREST RPC or the service's /api/v1/campaigns/{id}/...)

create function public.launch_campaign(p_campaign_id uuid, p_scheduled_at timestamptz default null)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  k public.campaigns;
  v_at timestamptz;
  v_number public.phone_numbers;
  v_total integer;
  v_pending integer;
  v_status text;
begin
  k := private.campaign_for_caller(p_campaign_id, 'admin');
  if k.status = 'canceled' then
    raise exception 'a canceled campaign cannot be launched' using errcode = '55000';
  end if;
  if k.status <> 'draft' then
    -- Launching again changes nothing: the audience was snapshotted once.
    return private.campaign_state(k.id) || jsonb_build_object('already_launched', true);
  end if;

  select * into v_number from public.phone_numbers where id = k.phone_number_id;
  if v_number.status is distinct from 'active' then
    raise exception 'the campaign''s sender number is not active' using errcode = '22023';
  end if;
  if btrim(k.body) = '' and cardinality(k.media_urls) = 0 then
    raise exception 'a campaign needs a body or media' using errcode = '22023';
  end if;
  if cardinality(k.list_ids) = 0 and cardinality(k.include_tags) = 0 then
    raise exception 'choose the audience: list_ids and/or include_tags' using errcode = '22023';
  end if;
  if exists (select 1 from unnest(k.list_ids) l
              where not exists (select 1 from public.contact_lists cl where cl.id = l and cl.workspace_id = k.workspace_id)) then
    raise exception 'an audience list no longer exists' using errcode = '22023';
  end if;

  insert into public.campaign_recipients (workspace_id, campaign_id, contact_id, phone_e164, status)
  select k.workspace_id, k.id, a.contact_id, a.phone_e164,
         case when a.opted_out then 'skipped_opted_out' when a.unreachable then 'skipped_unreachable'
              else 'pending' end
    from private.campaign_audience(k) a
  on conflict (campaign_id, phone_e164) do nothing;

  select count(*), count(*) filter (where status = 'pending') into v_total, v_pending
    from public.campaign_recipients where campaign_id = k.id;
  if v_total = 0 then
    raise exception 'the audience has no contacts' using errcode = '22023';
  end if;

  v_at := coalesce(p_scheduled_at, k.scheduled_at);
  v_status := case when v_pending = 0 then 'completed'
                   when v_at > now() then 'scheduled'
                   else 'sending' end;
  update public.campaigns
     set status = v_status, scheduled_at = v_at, recipients_total = v_total,
         launched_by = (select auth.uid()), launched_at = now(),
         started_at = case when v_status <> 'scheduled' then now() end,
         completed_at = case when v_status = 'completed' then now() end,
         next_send_at = greatest(now(), coalesce(v_at, now()))
   where id = k.id;
  perform private.write_audit_log(k.workspace_id, (select auth.uid()), 'campaign.launched', 'campaign', k.id::text,
                                  jsonb_build_object('recipients', v_total, 'pending', v_pending,
                                                     'scheduled_at', v_at, 'status', v_status));
  return private.campaign_state(k.id) || jsonb_build_object('already_launched', false);
end
$$;
comment on function public.launch_campaign(uuid, timestamptz) is
  'Admins: snapshots a draft''s audience into campaign_recipients (lists and/or include_tags, minus exclude_tags, '
  'one per number; numbers opted out now are recorded as skipped_opted_out) and starts it: sending, or scheduled '
  'when p_scheduled_at (else the draft''s scheduled_at) is in the future. Launching again returns the state and '
  'changes nothing. P0002 unknown campaign, 42501 not an admin, 55000 canceled, 22023 nothing to send.';

create function public.pause_campaign(p_campaign_id uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  k public.campaigns;
begin
  k := private.campaign_for_caller(p_campaign_id, 'admin');
  if k.status in ('sending', 'scheduled') then
    update public.campaigns set status = 'paused', paused_at = now() where id = k.id;
    perform private.write_audit_log(k.workspace_id, (select auth.uid()), 'campaign.paused', 'campaign', k.id::text);
  elsif k.status <> 'paused' then
    raise exception 'only a sending or scheduled campaign can be paused (this one is %)', k.status using errcode = '55000';
  end if;
  return private.campaign_state(k.id);
end
$$;
comment on function public.pause_campaign(uuid) is
  'Admins: stops claiming new recipients (messages already handed to a worker finish). Pausing a paused campaign '
  'changes nothing; 55000 for a draft, completed or canceled one.';

create function public.resume_campaign(p_campaign_id uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  k public.campaigns;
begin
  k := private.campaign_for_caller(p_campaign_id, 'admin');
  if k.status = 'paused' then
    update public.campaigns
       set status = case when scheduled_at > now() then 'scheduled' else 'sending' end,
           started_at = coalesce(started_at, case when scheduled_at > now() then null else now() end),
           paused_at = null, last_error = null, next_send_at = greatest(next_send_at, now())
     where id = k.id;
    perform private.write_audit_log(k.workspace_id, (select auth.uid()), 'campaign.resumed', 'campaign', k.id::text);
    perform private.complete_campaign_if_done(k.id);
  elsif k.status not in ('sending', 'scheduled') then
    raise exception 'only a paused campaign can be resumed (this one is %)', k.status using errcode = '55000';
  end if;
  return private.campaign_state(k.id);
end
$$;
comment on function public.resume_campaign(uuid) is
  'Admins: a paused campaign sends again (or waits for its scheduled time). Resuming a running one changes nothing.';

create function public.cancel_campaign(p_campaign_id uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  k public.campaigns;
  r record;
  n integer := 0;
begin
  k := private.campaign_for_caller(p_campaign_id, 'agent');
  if k.kind = 'bulk' then
    perform private.require_membership(k.workspace_id, 'admin');
  end if;
  if k.status = 'completed' then
    raise exception 'a completed campaign cannot be canceled' using errcode = '55000';
  end if;
  if k.status <> 'canceled' then
    update public.campaigns set status = 'canceled', canceled_at = now() where id = k.id;
    -- Recipients not yet handed to Twilio. One whose message a worker is sending right now
    -- (claimed, message row made) is left to that worker to record.
    for r in
      update public.campaign_recipients
         set status = 'canceled', claimed_until = null, claim_token = null
       where campaign_id = k.id and (status = 'pending' or (status = 'claimed' and message_id is null))
      returning id, message_id
    loop
      n := n + 1;
      if r.message_id is not null then  -- waiting to retry after a rate limit: its message never left
        perform private.advance_message_status(r.message_id, 'canceled', null, 'campaign canceled');
      end if;
    end loop;
    perform private.write_audit_log(k.workspace_id, (select auth.uid()), 'campaign.canceled', 'campaign', k.id::text,
                                    jsonb_build_object('recipients_canceled', n));
  end if;
  return private.campaign_state(k.id);
end
$$;
comment on function public.cancel_campaign(uuid) is
  'Admins (any member for a scheduled single message): stops a campaign for good; recipients not yet sent become canceled. Canceling again changes nothing; '
  '55000 for a completed campaign.';

create function public.schedule_message(p_workspace_id uuid, p_phone_number_id uuid, p_to text, p_body text,
                                        p_send_at timestamptz)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_number public.phone_numbers;
  v_contact uuid;
  v_id uuid;
  v_at timestamptz := greatest(coalesce(p_send_at, now()), now());
begin
  perform private.require_membership(p_workspace_id, 'agent');
  select * into v_number from public.phone_numbers where id = p_phone_number_id and workspace_id = p_workspace_id;
  if not found or v_number.status <> 'active' then
    raise exception 'the sender is not an active number of this workspace' using errcode = '22023';
  end if;
  if p_to is null or p_to !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception 'the recipient must be an E.164 number' using errcode = '22023';
  end if;
  if btrim(coalesce(p_body, '')) = '' or char_length(p_body) > 1600 then
    raise exception 'a message body is 1 to 1600 characters' using errcode = '22023';
  end if;
  if exists (select 1 from public.opt_outs o where o.workspace_id = p_workspace_id and o.phone_e164 = p_to) then
    raise exception 'recipient has opted out' using errcode = 'P0409', detail = 'recipient_opted_out';
  end if;
  v_contact := private.upsert_contact(p_workspace_id, p_to);
  -- Its body is sent as written ({{...}} is no template here: the claim renders bulk bodies only).
  insert into public.campaigns (workspace_id, name, phone_number_id, body, kind, status, scheduled_at,
                                recipients_total, created_by, launched_by, launched_at, next_send_at)
  values (p_workspace_id, 'Scheduled message', v_number.id, p_body, 'single',
          case when v_at > now() then 'scheduled' else 'sending' end, v_at, 1, (select auth.uid()),
          (select auth.uid()), now(), v_at)
  returning id into v_id;
  update public.campaigns set started_at = now() where id = v_id and status = 'sending';
  insert into public.campaign_recipients (workspace_id, campaign_id, contact_id, phone_e164, status)
  values (p_workspace_id, v_id, v_contact, p_to, 'pending');
  perform private.write_audit_log(p_workspace_id, (select auth.uid()), 'message.scheduled', 'campaign', v_id::text,
                                  jsonb_build_object('send_at', v_at));
  return private.campaign_state(v_id) || jsonb_build_object('kind', 'single', 'to', p_to);
end
$$;
comment on function public.schedule_message(uuid, uuid, text, text, timestamptz) is
  'Members: "send later" from the inbox. One message to p_to from one of the workspace''s numbers at p_send_at (now '
  'when past), a campaign of kind single: the same claims, leases, reconciliation and quiet hours (the '
  'workspace''s window, in the recipient''s local time) as campaigns; its message is a manual one sent by the '
  'caller. Cancel it with cancel_campaign. 22023 bad input, P0409 recipient_opted_out, 42501 not a member.';
revoke all on function public.schedule_message(uuid, uuid, text, text, timestamptz) from public, anon;
grant execute on function public.schedule_message(uuid, uuid, text, text, timestamptz) to authenticated;

-- ---------------------------------------------------------------------------------------
-- The report (members)

create function public.campaign_report(p_campaign_id uuid) returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  k public.campaigns;
  v_recipients jsonb;
  v_delivery jsonb;
  v_errors jsonb;
  v_segments bigint;
begin
  select * into k from public.campaigns where id = p_campaign_id;
  if not found or not (k.workspace_id = any(array(select private.workspace_ids_for_current_user()))) then
    raise exception 'no such campaign' using errcode = 'P0002';
  end if;

  select jsonb_build_object(
           'pending', count(*) filter (where status = 'pending'),
           'claimed', count(*) filter (where status = 'claimed'),
           'uncertain', count(*) filter (where status = 'uncertain'),
           'sent', count(*) filter (where status = 'sent'),
           'failed', count(*) filter (where status = 'failed'),
           'skipped_opted_out', count(*) filter (where status = 'skipped_opted_out'),
           'skipped_removed', count(*) filter (where status = 'skipped_removed'),
           'skipped_unreachable', count(*) filter (where status = 'skipped_unreachable'),
           'canceled', count(*) filter (where status = 'canceled'))
    into v_recipients
    from public.campaign_recipients where campaign_id = k.id;

  -- Delivery: the linked messages' own statuses, as the status callbacks left them.
  select coalesce(jsonb_object_agg(s.status, s.n), '{}'::jsonb), coalesce(sum(s.segments), 0)
    into v_delivery, v_segments
    from (select m.status, count(*) as n, sum(m.num_segments) as segments
            from public.campaign_recipients r join public.messages m on m.id = r.message_id
           where r.campaign_id = k.id
           group by m.status) s;

  -- Error codes: the message's (Twilio's delivery error) or, for a send Twilio refused
  -- before any message went out, the recipient's.
  select coalesce(jsonb_agg(jsonb_build_object('error_code', e.code, 'count', e.n) order by e.n desc, e.code), '[]'::jsonb)
    into v_errors
    from (select coalesce(m.error_code, r.error_code) as code, count(*) as n
            from public.campaign_recipients r left join public.messages m on m.id = r.message_id
           where r.campaign_id = k.id and r.status in ('sent', 'failed')
             and coalesce(m.error_code, r.error_code) is not null
           group by 1) e;

  return jsonb_build_object(
    'campaign_id', k.id, 'name', k.name, 'status', k.status, 'send_rate', k.send_rate,
    'scheduled_at', k.scheduled_at, 'launched_at', k.launched_at, 'started_at', k.started_at,
    'completed_at', k.completed_at, 'canceled_at', k.canceled_at, 'last_error', k.last_error,
    'recipients_total', k.recipients_total, 'recipients', v_recipients,
    'delivery', jsonb_build_object('queued', 0, 'sending', 0, 'sent', 0, 'delivered', 0, 'undelivered', 0,
                                   'failed', 0) || v_delivery,
    'segments', v_segments, 'errors', v_errors);
end
$$;
comment on function public.campaign_report(uuid) is
  'Members: recipients by outcome, their messages by delivery status (queued/sent/delivered/undelivered/failed, '
  'from the status callbacks) and the error codes seen, most frequent first. P0002 unknown or another workspace''s.';

-- ---------------------------------------------------------------------------------------
-- The estimate (members): what a campaign would send, per recipient, for /api/v1/campaigns/{id}/estimate

-- What one SMS segment (and one MMS) costs, per destination country. Rows without a workspace are
-- the defaults every workspace sees; a workspace's own rows (admins write them) win. The defaults
-- shipped here are round examples, not a carrier's price list: set the prices your account pays.
create table public.message_prices (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid references public.workspaces (id) on delete cascade,
  country text not null check (country ~ '^[A-Z]{2}$'),
  per_segment numeric(10, 5) not null check (per_segment >= 0),
  per_mms numeric(10, 5) check (per_mms >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index message_prices_workspace_country_key
  on public.message_prices (coalesce(workspace_id, '00000000-0000-0000-0000-000000000000'::uuid), country);
create index message_prices_workspace_idx on public.message_prices (workspace_id);
comment on table public.message_prices is
  'Per-country prices of an SMS segment and an MMS, for campaign estimates. workspace_id null: defaults (examples '
  'to replace); a workspace''s own row for a country wins. Members read; admins write their workspace''s.';
create trigger tg_message_prices__updated_at before update on public.message_prices
  for each row execute function private.tg_set_updated_at();
insert into public.message_prices (country, per_segment, per_mms) values
  ('US', 0.0083, 0.0220), ('CA', 0.0083, 0.0220), ('GB', 0.0450, null), ('AU', 0.0550, null);

alter table public.message_prices enable row level security;
create policy message_prices_select_member on public.message_prices for select to authenticated
  using (workspace_id is null or workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy message_prices_insert_admin on public.message_prices for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy message_prices_update_admin on public.message_prices for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))))
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
create policy message_prices_delete_admin on public.message_prices for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
revoke all on public.message_prices from anon, authenticated, service_role;
grant select, delete on public.message_prices to authenticated;
grant insert (workspace_id, country, per_segment, per_mms, currency) on public.message_prices to authenticated;
grant update (per_segment, per_mms, currency) on public.message_prices to authenticated;
grant select on public.message_prices to service_role;

create function public.campaign_estimate_rows(p_campaign_id uuid)
returns table (phone_e164 text, status text, body text)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  k public.campaigns;
begin
  select * into k from public.campaigns where id = p_campaign_id;
  if not found or not (k.workspace_id = any(array(select private.workspace_ids_for_current_user()))) then
    raise exception 'no such campaign' using errcode = 'P0002';
  end if;
  if k.status = 'draft' then  -- who would be snapshotted if it were launched now
    return query select a.phone_e164,
                        case when a.opted_out then 'skipped_opted_out' when a.unreachable then 'skipped_unreachable'
                             else 'pending' end,
                        public.render_template(k.body, a.contact_id)
                   from private.campaign_audience(k) a;
  else
    return query select r.phone_e164, r.status,
                        coalesce(m.body, case when k.kind = 'single' then k.body
                                              else public.render_template(k.body, r.contact_id) end)
                   from public.campaign_recipients r left join public.messages m on m.id = r.message_id
                  where r.campaign_id = k.id
                  order by r.id;
  end if;
end
$$;
comment on function public.campaign_estimate_rows(uuid) is
  'Members: each recipient of a campaign (a draft''s audience as launching it now would snapshot it, else the '
  'snapshot) with its outcome so far and its body rendered with public.render_template, for the estimate. '
  'P0002 unknown or another workspace''s.';
revoke all on function public.campaign_estimate_rows(uuid), private.campaign_audience(public.campaigns)
  from public, anon;
grant execute on function public.campaign_estimate_rows(uuid) to authenticated;

-- ---------------------------------------------------------------------------------------
-- The workers (service_role)

create function private.make_campaign_messages(p_claims jsonb)
returns table (recipient_id bigint, message_id uuid, created_at timestamptz)
language plpgsql security definer
set search_path = ''
as $$
declare
  e jsonb;
  r public.campaign_recipients;
  k public.campaigns;
  v_number public.phone_numbers;
  v_body text;
  v_conversation uuid;
  v_message uuid;
begin
  -- One recipient after another in id order: the order every claimer and recorder takes them in.
  for e in select x from jsonb_array_elements(p_claims) x order by (x ->> 'recipient_id')::bigint loop
    select * into r from public.campaign_recipients cr where cr.id = (e ->> 'recipient_id')::bigint for update;
    -- Only the claim's holder makes it, once, while the lease holds.
    continue when not found or r.status <> 'claimed' or r.claim_token is distinct from (e ->> 'claim_token')::uuid
               or r.claimed_until < now() or r.message_id is not null;
    if k.id is distinct from r.campaign_id then
      select * into k from public.campaigns where id = r.campaign_id;
      select * into v_number from public.phone_numbers where id = k.phone_number_id;
    end if;
    v_body := coalesce(e ->> 'body', '');
    v_conversation := private.upsert_conversation(r.workspace_id, v_number.id, r.contact_id);
    insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status,
                                 num_segments, encoding, num_media, sent_by, source)
    values (r.workspace_id, v_conversation, 'outbound', v_number.e164, r.phone_e164, v_body, 'queued',
            (e ->> 'segments')::integer, e ->> 'encoding', cardinality(k.media_urls), k.launched_by,
            case when k.kind = 'single' then 'manual' else 'campaign' end)
    returning id into v_message;
    insert into public.message_media (workspace_id, message_id, url, position)
    select r.workspace_id, v_message, u.url, (u.n - 1)::integer
      from unnest(k.media_urls) with ordinality as u(url, n);
    perform private.touch_conversation(v_conversation, now(), v_body, cardinality(k.media_urls), false);
    update public.campaign_recipients cr set message_id = v_message where cr.id = r.id;
    recipient_id := r.id; message_id := v_message; created_at := now();
    return next;
  end loop;
end
$$;
comment on function private.make_campaign_messages(jsonb) is
  'A worker records the messages of the recipients it just claimed, in one transaction and before it calls '
  'Twilio, so a status callback or a reconciliation always finds them: [{"recipient_id", "claim_token", "body", '
  '"segments", "encoding"}], each an ordinary outbound message (queued, source campaign) in the contact''s '
  'conversation. Only the claim''s holder, while its lease holds; a recipient that already has one is skipped. '
  'Returns the messages made. service_role only.';

create function private.claim_campaign_recipients(p_limit integer, p_lease_seconds integer default 6,
                                                  p_now timestamptz default now())
returns table (recipient_id bigint, campaign_id uuid, workspace_id uuid, phone_number_id uuid, from_e164 text,
               to_e164 text, contact_id uuid, body text, media_urls text[], attempts integer, claim_token uuid,
               segments integer, send_at timestamptz, reconcile boolean, message_id uuid,
               message_created_at timestamptz, messaging_service_sid text)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_left integer := greatest(coalesce(p_limit, 0), 0);
  v_lease interval := make_interval(secs => greatest(coalesce(p_lease_seconds, 6), 1));
  v_now timestamptz := coalesce(p_now, now());
  v_horizon timestamptz := v_now + interval '1 second';  -- pace: at most one second's worth is handed out ahead
  k public.campaigns;
  v_number public.phone_numbers;
  v_ws public.workspaces;
  x record;
  c record;
  v_sender_key text;
  v_mms_key text;
  v_sender_rate numeric;
  v_tat_campaign timestamptz;
  v_tat_sender timestamptz;
  v_tat_mms timestamptz;
  v_start time;
  v_end time;
  v_fallback_zone text;
  v_opens timestamptz;
  v_slot timestamptz;
  v_body text;
  v_segments integer;
  v_ids bigint[];
  v_new integer;
  v_room bigint;
  v_quota jsonb;
  v_admitted bigint[] := '{}';
  v_slots timestamptz[] := '{}';
  v_bodies text[] := '{}';
  v_counts integer[] := '{}';
begin
  -- Scheduled campaigns whose time has come start sending.
  update public.campaigns s set status = 'sending', started_at = coalesce(s.started_at, v_now)
   where s.id in (select d.id from public.campaigns d
                   where d.status = 'scheduled' and d.scheduled_at <= v_now
                     for update skip locked);

  -- One claimer per campaign at a time (skip locked): the pace below is shared by all workers.
  for k in
    select * from public.campaigns d
     where d.status = 'sending' and d.next_send_at <= v_horizon
     order by d.next_send_at, d.id
       for update skip locked
  loop
    exit when v_left = 0;

    -- Leases that ran out. Without a message nothing was sent: back to pending. With one whose
    -- SID a status callback already linked, Twilio has it: sent. Otherwise nobody knows yet:
    -- uncertain, looked up at Twilio by the next claim once the stopped worker's send has had
    -- time to land there.
    for x in
      select r.id, r.message_id, m.twilio_sid from public.campaign_recipients r
        left join public.messages m on m.id = r.message_id
       where r.campaign_id = k.id and r.status = 'claimed' and r.claimed_until < v_now
         for update of r skip locked
    loop
      if x.message_id is null then
        update public.campaign_recipients set status = 'pending', claimed_until = null, claim_token = null
         where id = x.id;
      elsif x.twilio_sid is not null then
        update public.campaign_recipients
           set status = 'sent', claimed_until = null, claim_token = null, reconcile = false,
               sent_at = coalesce(sent_at, v_now)
         where id = x.id;
      else
        update public.campaign_recipients
           set status = 'uncertain', claimed_until = null, claim_token = null, reconcile = true,
               next_attempt_at = v_now + private.campaign_reconcile_grace()
         where id = x.id;
      end if;
    end loop;

    if private.complete_campaign_if_done(k.id) then
      continue;
    end if;

    select * into v_number from public.phone_numbers where id = k.phone_number_id;
    if v_number.status is distinct from 'active' then
      perform private.halt_campaign(k.id, 'the campaign''s sender number is no longer active');
      continue;
    end if;
    select * into v_ws from public.workspaces where id = k.workspace_id;
    v_start := coalesce(k.send_window_start, v_ws.campaign_window_start);
    v_end := coalesce(k.send_window_end, v_ws.campaign_window_end);
    v_fallback_zone := private.valid_time_zone(v_ws.timezone);

    -- The pace of the sender number (shared by every campaign it sends) and, for MMS, of the
    -- Twilio account; each claimer holds them while it hands out slots.
    v_sender_key := 'number:' || v_number.id;
    v_sender_rate := private.sender_segments_per_second(v_number);
    insert into private.send_pace (key) values (v_sender_key) on conflict do nothing;
    select p.tat into v_tat_sender from private.send_pace p where p.key = v_sender_key for update skip locked;
    continue when not found;  -- another campaign of this number is being claimed right now
    v_tat_mms := null;
    if cardinality(k.media_urls) > 0 then
      v_mms_key := 'mms:' || coalesce(v_number.twilio_account_id::text, k.workspace_id::text);
      insert into private.send_pace (key) values (v_mms_key) on conflict do nothing;
      select p.tat into v_tat_mms from private.send_pace p where p.key = v_mms_key for update skip locked;
      continue when not found;
      v_tat_mms := greatest(v_tat_mms, v_now);
    end if;
    v_tat_campaign := greatest(k.next_send_at, v_now);
    v_tat_sender := greatest(v_tat_sender, v_now);
    continue when greatest(v_tat_campaign, v_tat_sender, coalesce(v_tat_mms, v_now)) >= v_horizon;

    -- Candidates: due recipients, fresh or waiting to be reconciled, in order.
    select array_agg(p.id order by p.id) into v_ids
      from (select r.id from public.campaign_recipients r
             where r.campaign_id = k.id and r.status in ('pending', 'uncertain') and r.next_attempt_at <= v_now
             order by r.id
             limit least(v_left, 1000)
               for update skip locked) p;
    continue when v_ids is null;

    -- Opted out since launch, or the contact was deleted: skipped, never sent.
    update public.campaign_recipients r set status = 'skipped_opted_out', reconcile = false
     where r.id = any(v_ids) and r.status = 'pending'
       and exists (select 1 from public.opt_outs o where o.workspace_id = k.workspace_id and o.phone_e164 = r.phone_e164);
    update public.campaign_recipients r set status = 'skipped_removed'
     where r.id = any(v_ids) and r.status = 'pending' and r.contact_id is null and r.message_id is null;

    -- Monthly messages (the functions are in 20261128011000_entitlement_limits.sql): a recipient
    -- whose message is not made yet will take one of the plan's messages, so no more of them are
    -- claimed than are left (a retry or a reconciliation already has its message and is not
    -- counted again). Once the period's messages are used up, the campaign is paused with the reason.
    select count(*) into v_new from public.campaign_recipients r
     where r.id = any(v_ids) and r.status = 'pending' and r.message_id is null;
    if v_new > 0 then
      perform private.lock_message_allowance(k.workspace_id);
      v_quota := private.message_allowance(k.workspace_id);
      v_room := (v_quota ->> 'remaining')::bigint;
      if v_room is not null and v_room < v_new then
        if v_room = 0 and (v_quota ->> 'used')::bigint >= (v_quota ->> 'limit')::bigint then
          perform private.halt_campaign(k.id, private.message_limit_reason(v_quota));
          continue;
        end if;
        select array_agg(q.id order by q.id) into v_ids
          from (select r.id, r.message_id,
                       row_number() over (partition by r.message_id is null order by r.id) as n
                  from public.campaign_recipients r
                 where r.id = any(v_ids) and r.status in ('pending', 'uncertain')) q
         where q.message_id is not null or q.n <= v_room;
        continue when v_ids is null;
      end if;
    end if;

    -- Each recipient: inside its sending window (its local time, from its number), then a slot
    -- on every pace it draws on, costing its segments (carriers meter segments, not messages).
    v_admitted := '{}'; v_slots := '{}'; v_bodies := '{}'; v_counts := '{}';
    for c in
      select r.id, r.phone_e164, r.contact_id, r.message_id, m.body as message_body
        from public.campaign_recipients r left join public.messages m on m.id = r.message_id
       where r.id = any(v_ids) and r.status in ('pending', 'uncertain')
       order by r.id
    loop
      exit when v_left = 0;
      v_opens := private.send_window_opens(private.time_zones_for_number(c.phone_e164), v_start, v_end, v_now,
                                           v_fallback_zone);
      if v_opens > v_now then
        update public.campaign_recipients set next_attempt_at = v_opens where id = c.id;
        continue;
      end if;
      v_slot := greatest(v_tat_campaign, v_tat_sender, coalesce(v_tat_mms, v_now));
      exit when v_slot >= v_horizon;
      v_body := coalesce(c.message_body, case when k.kind = 'single' then k.body
                                              else public.render_template(k.body, c.contact_id) end);
      if k.transliterate and c.message_body is null then
        v_body := private.gsm7_transliterate(v_body);
      end if;
      if c.message_body is null and (char_length(v_body) > 1600 or (btrim(v_body) = '' and cardinality(k.media_urls) = 0))
      then
        update public.campaign_recipients
           set status = 'failed', error_message = case when char_length(v_body) > 1600
                                                       then 'the rendered body is over 1600 characters'
                                                       else 'the rendered message is empty' end
         where id = c.id;
        continue;
      end if;
      v_segments := case when cardinality(k.media_urls) > 0 then 1 else private.sms_segment_count(v_body) end;
      v_tat_campaign := v_slot + make_interval(secs => v_segments / (k.send_rate * private.pace_margin()));
      v_tat_sender := v_slot + make_interval(secs => v_segments / (v_sender_rate * private.pace_margin()));
      if v_tat_mms is not null then
        v_tat_mms := v_slot + make_interval(secs => 1 / (private.account_mms_per_second() * private.pace_margin()));
      end if;
      v_admitted := v_admitted || c.id;
      v_slots := v_slots || v_slot;
      v_bodies := v_bodies || v_body;
      v_counts := v_counts || v_segments;
      v_left := v_left - 1;
    end loop;

    if cardinality(v_admitted) > 0 then
      update public.campaign_recipients r
         set status = 'claimed', claimed_until = v_now + v_lease, attempts = r.attempts + 1,
             claim_token = gen_random_uuid()
       where r.id = any(v_admitted);
      return query
      select r.id, k.id, k.workspace_id, k.phone_number_id, v_number.e164, r.phone_e164, r.contact_id,
             a.body, k.media_urls, r.attempts, r.claim_token, a.segments, a.slot, r.reconcile, r.message_id,
             m.created_at, k.messaging_service_sid
        from unnest(v_admitted, v_slots, v_bodies, v_counts) as a(id, slot, body, segments)
        join public.campaign_recipients r on r.id = a.id
        left join public.messages m on m.id = r.message_id
       order by r.id;
      update public.campaigns set next_send_at = v_tat_campaign where id = k.id;
      update private.send_pace set tat = v_tat_sender where key = v_sender_key;
      if v_tat_mms is not null then
        update private.send_pace set tat = v_tat_mms where key = v_mms_key;
      end if;
    end if;
    perform private.complete_campaign_if_done(k.id);  -- all of them were skipped
  end loop;
end
$$;
comment on function private.claim_campaign_recipients(integer, integer, timestamptz) is
  'Claims up to p_limit due recipients of sending campaigns for p_lease_seconds (skip locked: no two workers get '
  'one recipient; the worker records their messages, make_campaign_messages, before it calls Twilio; the worker renews the lease while it lives, renew_campaign_claims). Each recipient gets a '
  'send_at slot on every pace it draws on: its campaign''s send_rate, its sender number''s segments per second '
  '(sender_segments_per_second) and, for MMS, the account''s MMS per second, charged its segments, at most one '
  'second ahead, so all workers together keep every rate. Recipients outside their sending window (their local '
  'time, from their number''s time zones) wait for it to open. Starts due scheduled campaigns, skips recipients '
  'opted out since launch, settles expired leases (back to pending, sent when a callback linked the SID, else '
  'uncertain: the claim after the reconcile grace returns it with reconcile = true and its message, to be looked '
  'up at Twilio before anything is sent), completes finished campaigns, claims no more new messages than the '
  'workspace''s monthly messages have left and pauses a campaign once they are used up or its sender is gone. '
  'p_now is the clock (tests pass one). service_role only.';

create function private.prepare_campaign_message(p_recipient_id bigint, p_claim_token uuid, p_body text,
                                                 p_num_segments integer, p_encoding text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  r public.campaign_recipients;
  k public.campaigns;
  v_number public.phone_numbers;
  v_body text := coalesce(p_body, '');
  v_conversation uuid;
  v_message uuid;
begin
  select * into r from public.campaign_recipients where id = p_recipient_id for update;
  if not found then
    raise exception 'no campaign recipient %', p_recipient_id using errcode = 'P0002';
  end if;
  if r.status <> 'claimed' then
    return jsonb_build_object('send', false, 'reason', 'recipient_' || r.status);
  end if;
  if r.claim_token is distinct from p_claim_token then  -- another worker holds it now
    return jsonb_build_object('send', false, 'reason', 'claim_lost');
  end if;
  -- Out of time: the next claim may settle the recipient (re-queue it) while this worker sends.
  if r.claimed_until < now() then
    return jsonb_build_object('send', false, 'reason', 'claim_expired');
  end if;
  select * into k from public.campaigns where id = r.campaign_id;
  if k.status <> 'sending' then  -- paused since the claim: back in the queue
    update public.campaign_recipients set status = 'pending', claimed_until = null, claim_token = null
     where id = r.id;
    return jsonb_build_object('send', false, 'reason', 'campaign_' || k.status);
  end if;
  if exists (select 1 from public.opt_outs o where o.workspace_id = r.workspace_id and o.phone_e164 = r.phone_e164) then
    update public.campaign_recipients set status = 'skipped_opted_out', claimed_until = null, claim_token = null
     where id = r.id;
    return jsonb_build_object('send', false, 'reason', 'opted_out');
  end if;
  if r.message_id is not null then
    -- A retry after a rate limit, or a reconciliation that did not find the message at Twilio:
    -- its message row is reused, unless a status callback has linked its SID since (Twilio has it).
    if exists (select 1 from public.messages m where m.id = r.message_id and m.twilio_sid is not null) then
      perform private.lock_campaign_outcomes(r.id);
      update public.campaign_recipients
         set status = 'sent', claimed_until = null, claim_token = null, reconcile = false, sent_at = coalesce(sent_at, now())
       where id = r.id;
      perform private.complete_campaign_if_done(r.campaign_id);
      return jsonb_build_object('send', false, 'reason', 'already_sent', 'message_id', r.message_id);
    end if;
    return jsonb_build_object('send', true, 'message_id', r.message_id);
  end if;
  if r.contact_id is null then
    update public.campaign_recipients set status = 'skipped_removed', claimed_until = null, claim_token = null
     where id = r.id;
    return jsonb_build_object('send', false, 'reason', 'contact_removed');
  end if;
  select * into v_number from public.phone_numbers where id = k.phone_number_id;
  if v_number.status is distinct from 'active' then
    raise exception 'the campaign''s sender number is not active' using errcode = '22023';
  end if;
  if char_length(v_body) > 1600 or (btrim(v_body) = '' and cardinality(k.media_urls) = 0) then
    update public.campaign_recipients
       set status = 'failed', claimed_until = null, claim_token = null,
           error_message = case when char_length(v_body) > 1600 then 'the rendered body is over 1600 characters'
                                else 'the rendered message is empty' end
     where id = r.id;
    return jsonb_build_object('send', false, 'reason', 'invalid_body');
  end if;

  v_conversation := private.upsert_conversation(r.workspace_id, k.phone_number_id, r.contact_id);
  insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status,
                               num_segments, encoding, num_media, sent_by, source)
  values (r.workspace_id, v_conversation, 'outbound', v_number.e164, r.phone_e164, v_body, 'queued',
          p_num_segments, p_encoding, cardinality(k.media_urls), k.launched_by, 'campaign')
  returning id into v_message;
  insert into public.message_media (workspace_id, message_id, url, position)
  select r.workspace_id, v_message, u.url, (u.n - 1)::integer
    from unnest(k.media_urls) with ordinality as u(url, n);
  perform private.touch_conversation(v_conversation, now(), v_body, cardinality(k.media_urls), false);
  update public.campaign_recipients set message_id = v_message where id = r.id;
  return jsonb_build_object('send', true, 'message_id', v_message);
end
$$;
comment on function private.prepare_campaign_message(bigint, uuid, text, integer, text) is
  'Before a worker calls Twilio: re-checks the claim (the owner token and the lease: otherwise "claim_lost" or '
  '"claim_expired", changing nothing), the campaign (paused -> recipient back to pending) and the opt-out, then '
  'records the message (queued, source campaign) in the contact''s conversation, or reuses the recipient''s (a '
  'retry, a reconciliation; one whose SID a callback linked is sent already: "already_sent"). {"send": true, '
  '"message_id"} or {"send": false, "reason"}. 22023 when the sender number is no longer active. service_role only.';

create function private.record_campaign_send(p_recipient_id bigint, p_claim_token uuid, p_twilio_sid text,
                                             p_status text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  r public.campaign_recipients;
begin
  perform private.lock_campaign_outcomes(p_recipient_id);
  select * into r from public.campaign_recipients where id = p_recipient_id for update;
  if found and (r.status <> 'claimed' or r.claim_token is distinct from p_claim_token) then
    return jsonb_build_object('recipient_id', r.id, 'campaign_id', r.campaign_id, 'status', 'claim_lost',
                              'campaign_completed', false);
  end if;
  if not found or r.message_id is null then
    raise exception 'campaign recipient % has no message to record', p_recipient_id using errcode = 'P0002';
  end if;
  perform private.mark_message_submitted(r.message_id, p_twilio_sid, p_status);
  update public.campaign_recipients
     set status = 'sent', claimed_until = null, claim_token = null, reconcile = false, sent_at = now(),
         error_code = null, error_message = null
   where id = r.id;
  return jsonb_build_object('recipient_id', r.id, 'campaign_id', r.campaign_id, 'status', 'sent',
                            'campaign_completed', private.complete_campaign_if_done(r.campaign_id));
end
$$;
comment on function private.record_campaign_send(bigint, uuid, text, text) is
  'Twilio accepted the recipient''s message: records its SID and status (mark_message_submitted) and the recipient '
  'as sent; completes the campaign when it was the last. Changes nothing and answers status "claim_lost" unless '
  'p_claim_token is the current claim''s. service_role only.';

create function private.record_campaign_failure(p_recipient_id bigint, p_claim_token uuid, p_error_code integer,
                                                p_error_message text, p_retry_after_seconds integer default null)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  max_attempts constant integer := 8;
  r public.campaign_recipients;
  v_campaign_status text;
  v_status text;
begin
  perform private.lock_campaign_outcomes(p_recipient_id);
  -- The campaign first, then the recipient: the order cancel_campaign() and halt_campaign() lock in, so a
  -- cancel in progress is waited for (a retried recipient of a canceled campaign is not left pending).
  select k.status into v_campaign_status
    from public.campaigns k
   where k.id = (select r2.campaign_id from public.campaign_recipients r2 where r2.id = p_recipient_id)
     for no key update;
  select * into r from public.campaign_recipients where id = p_recipient_id for update;
  if not found then
    raise exception 'no campaign recipient %', p_recipient_id using errcode = 'P0002';
  end if;
  if r.status <> 'claimed' or r.claim_token is distinct from p_claim_token then
    return jsonb_build_object('recipient_id', r.id, 'campaign_id', r.campaign_id, 'status', 'claim_lost',
                              'attempts', r.attempts, 'campaign_completed', false);
  end if;

  if p_retry_after_seconds is not null and r.attempts < max_attempts and v_campaign_status <> 'canceled' then
    v_status := 'pending';
    update public.campaign_recipients
       set status = 'pending', claimed_until = null, claim_token = null, error_code = p_error_code,
           error_message = left(p_error_message, 1000),
           next_attempt_at = now() + make_interval(secs => greatest(p_retry_after_seconds, 1))
     where id = r.id;
  elsif p_retry_after_seconds is not null and v_campaign_status = 'canceled' then
    v_status := 'canceled';
    update public.campaign_recipients set status = 'canceled', claimed_until = null, claim_token = null
     where id = r.id;
    if r.message_id is not null then
      perform private.advance_message_status(r.message_id, 'canceled', null, 'campaign canceled');
    end if;
  else
    v_status := 'failed';
    update public.campaign_recipients
       set status = 'failed', claimed_until = null, claim_token = null, error_code = p_error_code,
           error_message = left(p_error_message, 1000)
     where id = r.id;
    if r.message_id is not null then  -- 21610 also records the opt-out here
      perform private.mark_message_failed(r.message_id, p_error_code, left(p_error_message, 1000));
    elsif p_error_code = 21610 then
      perform private.record_opt_out(r.workspace_id, r.phone_e164, 'twilio_21610');
    end if;
  end if;
  return jsonb_build_object('recipient_id', r.id, 'campaign_id', r.campaign_id, 'status', v_status,
                            'attempts', r.attempts,
                            'campaign_completed', private.complete_campaign_if_done(r.campaign_id));
end
$$;
comment on function private.record_campaign_failure(bigint, uuid, integer, text, integer) is
  'A send did not go out. With p_retry_after_seconds (Twilio rate limit) the recipient goes back to pending after '
  'that wait, up to 8 attempts; otherwise it fails with the error, its message fails too (21610 records the '
  'opt-out). Changes nothing and answers status "claim_lost" unless p_claim_token is the current claim''s. '
  'service_role only.';

create function private.record_campaign_sends(p_sends jsonb) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  e jsonb;
  v_result jsonb;
  v_sent integer := 0;
  v_lost integer := 0;
  v_completed boolean := false;
begin
  -- One campaign's outcomes after another (the order every recorder locks them in).
  for e in
    select x from jsonb_array_elements(p_sends) x
      join public.campaign_recipients r on r.id = (x ->> 'recipient_id')::bigint
     order by r.campaign_id, r.id
  loop
    v_result := private.record_campaign_send((e ->> 'recipient_id')::bigint, (e ->> 'claim_token')::uuid,
                                             e ->> 'twilio_sid', e ->> 'status');
    if v_result ->> 'status' = 'sent' then
      v_sent := v_sent + 1;
      -- Through a Messaging Service Twilio chose the sender: the message moves to the contact's
      -- conversation with that number when it is one of the workspace's.
      if e ->> 'from' is not null then
        update public.messages m
           set from_e164 = n.e164,
               conversation_id = private.upsert_conversation(m.workspace_id, n.id, r2.contact_id)
          from public.campaign_recipients r2, public.phone_numbers n
         where r2.id = (e ->> 'recipient_id')::bigint and m.id = r2.message_id and r2.contact_id is not null
           and n.workspace_id = m.workspace_id and n.e164 = e ->> 'from' and n.status = 'active'
           and m.from_e164 <> n.e164;
      end if;
    else
      v_lost := v_lost + 1;
    end if;
    v_completed := v_completed or (v_result ->> 'campaign_completed')::boolean;
  end loop;
  return jsonb_build_object('sent', v_sent, 'claim_lost', v_lost, 'campaign_completed', v_completed);
end
$$;
comment on function private.record_campaign_sends(jsonb) is
  'record_campaign_send() for a batch, in one transaction: [{"recipient_id", "claim_token", "twilio_sid", '
  '"status", "from"?}] (from: the sender a Messaging Service chose; the message moves to that number''s '
  'conversation when the number is the workspace''s). Answers how many were recorded, how many were refused (claim_lost) and whether a campaign '
  'completed. service_role only.';

create function private.messaging_service_inbound_number(p_workspace_id uuid, p_service_sid text, p_to text)
returns uuid
language sql stable security definer
set search_path = ''
as $$
  -- The number itself when the workspace has it, else the number of the workspace's latest campaign
  -- sent through that service: the conversation the reply belongs to.
  select coalesce(
    (select n.id from public.phone_numbers n
      where n.workspace_id = p_workspace_id and n.e164 = p_to and n.status = 'active'),
    (select k.phone_number_id from public.campaigns k join public.phone_numbers n on n.id = k.phone_number_id
      where k.workspace_id = p_workspace_id and k.messaging_service_sid = p_service_sid and n.status = 'active'
      order by k.created_at desc limit 1))
$$;
comment on function private.messaging_service_inbound_number(uuid, text, text) is
  'Where a text to a number of the workspace''s Messaging Service is stored when NumeraLoop does not list that number '
  '(Twilio chose it from the pool, or it joined the pool since): the workspace''s number of that E.164, else the '
  'number of its latest campaign through the service. Null when the workspace never used the service. '
  'service_role only.';

create function private.mark_campaign_uncertain(p_recipient_id bigint, p_claim_token uuid, p_reason text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  r public.campaign_recipients;
begin
  perform private.lock_campaign_outcomes(p_recipient_id);
  select * into r from public.campaign_recipients where id = p_recipient_id for update;
  if not found then
    raise exception 'no campaign recipient %', p_recipient_id using errcode = 'P0002';
  end if;
  if r.status <> 'claimed' or r.claim_token is distinct from p_claim_token then
    return jsonb_build_object('recipient_id', r.id, 'campaign_id', r.campaign_id, 'status', 'claim_lost');
  end if;
  update public.campaign_recipients
     set status = 'uncertain', claimed_until = null, claim_token = null, reconcile = true,
         error_message = left(p_reason, 1000), next_attempt_at = now() + private.campaign_reconcile_grace()
   where id = r.id;
  return jsonb_build_object('recipient_id', r.id, 'campaign_id', r.campaign_id, 'status', 'uncertain');
end
$$;
comment on function private.mark_campaign_uncertain(bigint, uuid, text) is
  'The message was handed to Twilio and no answer came back (a timeout, a dropped connection, a 5xx): nobody knows '
  'whether it was sent. The recipient waits as uncertain for its first status callback or for the next claim, '
  'which looks it up at Twilio before sending anything. Changes nothing ("claim_lost") unless p_claim_token is the '
  'current claim''s. service_role only.';

create function private.renew_campaign_claims(p_claim_tokens uuid[], p_lease_seconds integer default 6)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer;
begin
  -- In id order, skipping rows being recorded right now (their claim is ending anyway): the order
  -- every recorder locks them in, so a heartbeat never deadlocks with its own worker's recording.
  update public.campaign_recipients r
     set claimed_until = now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 6), 1))
   where r.id in (select h.id from public.campaign_recipients h
                   where h.claim_token = any(p_claim_tokens) and h.status = 'claimed' and h.claimed_until >= now()
                   order by h.id
                     for update skip locked);
  get diagnostics n = row_count;
  return n;
end
$$;
comment on function private.renew_campaign_claims(uuid[], integer) is
  'A living worker''s heartbeat: extends the leases of its claims (by their owner tokens) that have not run out. '
  'Leases are short, so a worker that stops costs seconds; a lease that ran out is not revived. Returns how many '
  'were renewed. service_role only.';

create function private.tg_messages__settle_campaign_recipient() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- The message's first status callback carried its id (StatusCallback ?message_id=) and linked
  -- its SID: Twilio has it, so a recipient whose send was uncertain is sent.
  update public.campaign_recipients
     set status = 'sent', reconcile = false, sent_at = coalesce(sent_at, now()), error_message = null
   where message_id = new.id and status = 'uncertain';
  return null;
end
$$;
comment on function private.tg_messages__settle_campaign_recipient() is
  'Settles an uncertain campaign recipient as sent once its message''s Twilio SID is known.';
create trigger tg_messages__settle_campaign_recipient after update of twilio_sid on public.messages
  for each row when (old.twilio_sid is null and new.twilio_sid is not null and new.source in ('campaign', 'manual'))
  execute function private.tg_messages__settle_campaign_recipient();

create function private.halt_campaign(p_campaign_id uuid, p_reason text, p_release uuid[] default '{}')
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  k public.campaigns;
begin
  update public.campaigns set status = 'paused', paused_at = now(), last_error = left(p_reason, 500)
   where id = p_campaign_id and status = 'sending'
  returning * into k;
  if found then
    -- Back in the queue: what no worker has started on, and what the halting worker names as unsent.
    update public.campaign_recipients set status = 'pending', claimed_until = null, claim_token = null
     where campaign_id = p_campaign_id and status = 'claimed'
       and (message_id is null or claim_token = any(coalesce(p_release, '{}')));
    perform private.write_audit_log(k.workspace_id, null, 'campaign.halted', 'campaign', k.id::text,
                                    jsonb_build_object('reason', left(p_reason, 500)));
  end if;
  return private.campaign_state(p_campaign_id);
end
$$;
comment on function private.halt_campaign(uuid, text, uuid[]) is
  'A worker pauses a campaign it cannot send (Twilio not connected or refusing the account, sender number gone), '
  'with the reason in last_error; claimed recipients not yet sent go back to pending: those without a message, '
  'and those the halting worker names by their claims'' owner tokens (p_release). An admin resumes it once fixed. '
  'service_role only.';

revoke all on function
  private.tg_campaigns__validate(), private.lock_campaign_outcomes(bigint), private.campaign_for_caller(uuid, public.workspace_role),
  private.campaign_state(uuid), private.complete_campaign_if_done(uuid),
  private.claim_campaign_recipients(integer, integer, timestamptz),
  private.prepare_campaign_message(bigint, uuid, text, integer, text),
  private.record_campaign_send(bigint, uuid, text, text), private.record_campaign_failure(bigint, uuid, integer, text, integer),
  private.mark_campaign_uncertain(bigint, uuid, text), private.renew_campaign_claims(uuid[], integer),
  private.tg_messages__settle_campaign_recipient(), private.halt_campaign(uuid, text, uuid[]),
  private.record_campaign_sends(jsonb),
  private.make_campaign_messages(jsonb), private.messaging_service_inbound_number(uuid, text, text),
  private.sender_segments_per_second(public.phone_numbers), private.account_mms_per_second(), private.pace_margin(),
  private.campaign_reconcile_grace(), private.sms_segment_count(text), private.gsm7_transliterate(text),
  private.load_phone_time_zones(text, jsonb), private.time_zones_for_number(text),
  private.in_send_window(text[], time, time, timestamptz), private.valid_time_zone(text),
  private.send_window_opens(text[], time, time, timestamptz, text), private.twilio_error_class(integer),
  private.tg_messages__campaign_delivery_error()
  from public, anon, authenticated;
grant execute on function
  private.claim_campaign_recipients(integer, integer, timestamptz),
  private.prepare_campaign_message(bigint, uuid, text, integer, text),
  private.record_campaign_send(bigint, uuid, text, text), private.record_campaign_failure(bigint, uuid, integer, text, integer),
  private.mark_campaign_uncertain(bigint, uuid, text), private.renew_campaign_claims(uuid[], integer),
  private.record_campaign_sends(jsonb), private.make_campaign_messages(jsonb),
  private.messaging_service_inbound_number(uuid, text, text),
  private.halt_campaign(uuid, text, uuid[]), private.load_phone_time_zones(text, jsonb),
  private.sms_segment_count(text), private.gsm7_transliterate(text), private.time_zones_for_number(text),
  private.in_send_window(text[], time, time, timestamptz), private.valid_time_zone(text),
  private.send_window_opens(text[], time, time, timestamptz, text)
  to service_role;
revoke all on function public.launch_campaign(uuid, timestamptz), public.pause_campaign(uuid),
                       public.resume_campaign(uuid), public.cancel_campaign(uuid), public.campaign_report(uuid)
  from public, anon;
grant execute on function public.launch_campaign(uuid, timestamptz), public.pause_campaign(uuid),
                          public.resume_campaign(uuid), public.cancel_campaign(uuid), public.campaign_report(uuid)
  to authenticated;

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants

alter table public.campaigns enable row level security;
alter table public.campaign_recipients enable row level security;

create policy campaigns_select_member on public.campaigns for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));
create policy campaigns_insert_admin on public.campaigns for insert to authenticated
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))));
-- Only drafts are edited; a launched campaign changes through the functions above.
create policy campaigns_update_admin on public.campaigns for update to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))) and status = 'draft')
  with check (workspace_id = any(array(select private.workspace_ids_for_current_user('admin'))) and status = 'draft');
-- Running campaigns are canceled, not deleted (deleting one drops its recipients, never its messages).
create policy campaigns_delete_admin on public.campaigns for delete to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user('admin')))
         and status in ('draft', 'completed', 'canceled'));

create policy campaign_recipients_select_member on public.campaign_recipients for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

revoke all on public.campaigns, public.campaign_recipients from anon, authenticated, service_role;

grant select, delete on public.campaigns to authenticated;
grant insert (workspace_id, name, phone_number_id, body, media_urls, list_ids, include_tags, exclude_tags,
              scheduled_at, send_rate, send_window_start, send_window_end, transliterate, filtered_pause_share,
              messaging_service_sid)
  on public.campaigns to authenticated;
grant update (name, phone_number_id, body, media_urls, list_ids, include_tags, exclude_tags, scheduled_at, send_rate,
              send_window_start, send_window_end, transliterate, filtered_pause_share, messaging_service_sid)
  on public.campaigns to authenticated;
grant select on public.campaign_recipients to authenticated;

grant select, insert, update, delete on public.campaigns to service_role;
grant select on public.campaign_recipients to service_role;
