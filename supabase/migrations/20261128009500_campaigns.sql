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
  send_rate numeric(6, 2) not null default 1 check (send_rate between 0.1 and 100),
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
  'Messages per second, 0.1 to 100, shared by all workers together (a US long code takes 1, toll-free 3, a short code 100).';
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
    check (status in ('pending', 'claimed', 'sent', 'failed', 'skipped_opted_out', 'skipped_removed', 'canceled')),
  message_id uuid,
  error_code integer,
  error_message text check (char_length(error_message) <= 1000),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  claimed_until timestamptz,
  claim_token uuid,
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
create index campaign_recipients_workspace_idx on public.campaign_recipients (workspace_id);
create index campaign_recipients_contact_idx on public.campaign_recipients (contact_id) where contact_id is not null;
create index campaign_recipients_message_idx on public.campaign_recipients (message_id) where message_id is not null;
comment on table public.campaign_recipients is
  'The audience of a launched campaign, one row per number (snapshotted at launch), and what happened to each: '
  'pending -> claimed (a worker holds it until claimed_until) -> sent | failed; skipped_opted_out (at launch or '
  'since), skipped_removed (contact deleted), canceled. Members read; only the campaign functions write.';
comment on column public.campaign_recipients.status is
  '''sent'' means Twilio accepted the message; its delivery status is the linked message''s.';
comment on column public.campaign_recipients.claim_token is
  'The current claim''s owner token, fresh at each claim and cleared when the claim ends. Every worker call for '
  'the recipient presents it, so a worker whose lease ran out cannot act for the one that claimed it since.';

create trigger tg_campaign_recipients__updated_at before update on public.campaign_recipients
  for each row execute function private.tg_set_updated_at();

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
                      where r.campaign_id = p_campaign_id and r.status in ('pending', 'claimed'));
  return found;
end
$$;
comment on function private.complete_campaign_if_done(uuid) is
  'Marks a sending campaign completed once no recipient is pending or claimed. Called after each outcome (those '
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

  -- The snapshot: contacts on any of the lists or carrying any included tag, minus those
  -- carrying an excluded tag; one row per number (contacts are unique per number).
  insert into public.campaign_recipients (workspace_id, campaign_id, contact_id, phone_e164, status)
  select k.workspace_id, k.id, c.id, c.phone_e164,
         case when exists (select 1 from public.opt_outs o
                            where o.workspace_id = k.workspace_id and o.phone_e164 = c.phone_e164)
              then 'skipped_opted_out' else 'pending' end
    from public.contacts c
   where c.workspace_id = k.workspace_id
     and (c.tags && k.include_tags
          or c.id in (select m.contact_id from public.contact_list_members m
                       where m.workspace_id = k.workspace_id and m.list_id = any(k.list_ids)))
     and not (c.tags && k.exclude_tags)
   order by c.created_at, c.id
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
  k := private.campaign_for_caller(p_campaign_id, 'admin');
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
  'Admins: stops a campaign for good; recipients not yet sent become canceled. Canceling again changes nothing; '
  '55000 for a completed campaign.';

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
           'sent', count(*) filter (where status = 'sent'),
           'failed', count(*) filter (where status = 'failed'),
           'skipped_opted_out', count(*) filter (where status = 'skipped_opted_out'),
           'skipped_removed', count(*) filter (where status = 'skipped_removed'),
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
-- The workers (service_role)

create function private.claim_campaign_recipients(p_limit integer, p_lease_seconds integer default 120)
returns table (recipient_id bigint, campaign_id uuid, workspace_id uuid, phone_number_id uuid, from_e164 text,
               to_e164 text, contact_id uuid, body text, media_urls text[], attempts integer, claim_token uuid)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_left integer := greatest(coalesce(p_limit, 0), 0);
  v_lease interval := make_interval(secs => greatest(coalesce(p_lease_seconds, 120), 1));
  v_now timestamptz := now();
  k public.campaigns;
  x record;
  v_burst integer;
  v_tat timestamptz;
  v_allow integer;
  v_ids bigint[];
  v_claimed integer;
  v_new integer;
  v_quota jsonb;
  v_room bigint;
begin
  -- Scheduled campaigns whose time has come start sending.
  update public.campaigns s set status = 'sending', started_at = coalesce(s.started_at, v_now)
   where s.id in (select d.id from public.campaigns d
                   where d.status = 'scheduled' and d.scheduled_at <= v_now
                     for update skip locked);

  -- One claimer per campaign at a time (skip locked): the pace below is shared by all workers.
  for k in
    select * from public.campaigns d
     where d.status = 'sending' and d.next_send_at <= v_now + interval '1 second'
     order by d.next_send_at, d.id
       for update skip locked
  loop
    exit when v_left = 0;

    -- Leases that ran out: a recipient whose message was never made goes back to pending; one
    -- whose message was made may have reached Twilio, so it is not sent again (failed, unknown).
    for x in
      select r.id, r.message_id from public.campaign_recipients r
       where r.campaign_id = k.id and r.status = 'claimed' and r.claimed_until < v_now
         for update skip locked
    loop
      if x.message_id is null then
        update public.campaign_recipients set status = 'pending', claimed_until = null, claim_token = null
         where id = x.id;
      else
        update public.campaign_recipients
           set status = 'failed', claimed_until = null, claim_token = null,
               error_message = 'the worker stopped during the send; not retried so nobody is texted twice'
         where id = x.id;
        perform private.advance_message_status(x.message_id, 'failed', null, 'send outcome unknown (worker stopped)');
      end if;
    end loop;

    if private.complete_campaign_if_done(k.id) then
      continue;
    end if;

    -- Pace (GCRA): each message costs 1/rate seconds; up to one second's worth may go at once.
    v_burst := greatest(1, floor(k.send_rate))::integer;
    v_tat := greatest(k.next_send_at, v_now);
    v_allow := least(v_left, v_burst - ceil(extract(epoch from (v_tat - v_now)) * k.send_rate)::integer);
    continue when v_allow < 1;

    select array_agg(p.id) into v_ids
      from (select r.id from public.campaign_recipients r
             where r.campaign_id = k.id and r.status = 'pending' and r.next_attempt_at <= v_now
             order by r.id
             limit v_allow
               for update skip locked) p;
    continue when v_ids is null;

    -- Opted out since launch, or the contact was deleted: skipped, never sent.
    update public.campaign_recipients r set status = 'skipped_opted_out'
     where r.id = any(v_ids)
       and exists (select 1 from public.opt_outs o where o.workspace_id = k.workspace_id and o.phone_e164 = r.phone_e164);
    update public.campaign_recipients r set status = 'skipped_removed'
     where r.id = any(v_ids) and r.status = 'pending' and r.contact_id is null;

    -- Monthly messages (the functions are in 20261128011000_entitlement_limits.sql): a recipient
    -- whose message is not made yet will take one of the plan's messages, so no more of them are
    -- claimed than are left (a rate-limited retry already has its message and is not counted
    -- again). Once the period's messages are used up, the campaign is paused with the reason.
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
        select array_agg(q.id) into v_ids
          from (select r.id, r.message_id,
                       row_number() over (partition by r.message_id is null order by r.id) as n
                  from public.campaign_recipients r
                 where r.id = any(v_ids) and r.status = 'pending') q
         where q.message_id is not null or q.n <= v_room;
        continue when v_ids is null;
      end if;
    end if;

    return query
    with claimed as (
      update public.campaign_recipients r
         set status = 'claimed', claimed_until = v_now + v_lease, attempts = r.attempts + 1,
             claim_token = gen_random_uuid()
       where r.id = any(v_ids) and r.status = 'pending'
      returning r.id, r.contact_id, r.phone_e164, r.attempts, r.claim_token
    )
    select c.id, k.id, k.workspace_id, k.phone_number_id, n.e164, c.phone_e164, c.contact_id,
           public.render_template(k.body, c.contact_id), k.media_urls, c.attempts, c.claim_token
      from claimed c join public.phone_numbers n on n.id = k.phone_number_id
     order by c.id;
    get diagnostics v_claimed = row_count;

    update public.campaigns set next_send_at = v_tat + make_interval(secs => v_claimed / k.send_rate)
     where id = k.id;
    v_left := v_left - v_claimed;
    perform private.complete_campaign_if_done(k.id);  -- all of them were skipped
  end loop;
end
$$;
comment on function private.claim_campaign_recipients(integer, integer) is
  'Claims up to p_limit due recipients of sending campaigns for p_lease_seconds (skip locked: no two workers '
  'get one recipient), at most each campaign''s send_rate per second across all workers together. Starts due '
  'scheduled campaigns, skips recipients opted out since launch, re-queues expired leases, completes finished '
  'campaigns, claims no more new messages than the workspace''s monthly messages have left and pauses a campaign '
  'once they are used up (last_error says so). Returns what the worker needs, with the body rendered for the '
  'contact and the claim''s owner token, which every later call for the recipient presents. service_role only.';

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
  if r.message_id is not null then  -- a retry after a rate limit: its message row is reused
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
  'records the message (queued, source campaign) in the contact''s conversation. {"send": true, "message_id"} or '
  '{"send": false, "reason"}. 22023 when the sender number is no longer active. service_role only.';

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
     set status = 'sent', claimed_until = null, claim_token = null, sent_at = now(), error_code = null,
         error_message = null
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
  private.claim_campaign_recipients(integer, integer), private.prepare_campaign_message(bigint, uuid, text, integer, text),
  private.record_campaign_send(bigint, uuid, text, text), private.record_campaign_failure(bigint, uuid, integer, text, integer),
  private.halt_campaign(uuid, text, uuid[])
  from public, anon, authenticated;
grant execute on function
  private.claim_campaign_recipients(integer, integer), private.prepare_campaign_message(bigint, uuid, text, integer, text),
  private.record_campaign_send(bigint, uuid, text, text), private.record_campaign_failure(bigint, uuid, integer, text, integer),
  private.halt_campaign(uuid, text, uuid[])
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
              scheduled_at, send_rate)
  on public.campaigns to authenticated;
grant update (name, phone_number_id, body, media_urls, list_ids, include_tags, exclude_tags, scheduled_at, send_rate)
  on public.campaigns to authenticated;
grant select on public.campaign_recipients to authenticated;

grant select, insert, update, delete on public.campaigns to service_role;
grant select on public.campaign_recipients to service_role;
