-- New-message e-mails: when a text arrives in a conversation nobody has open, its assignee (or,
-- unassigned, every member of the workspace) gets an e-mail, at most one per conversation every
-- 10 minutes, unless they turned it off (profiles.preferences.email_on_new_message = false).
--
-- The inbox page notes on every load and poll who has which conversation open
-- (public.note_conversation_viewed -> conversation_viewers). Each inbound message marks its
-- conversation pending (conversation_email_alerts, by trigger, in the transaction that stores the
-- message). Any number of workers claim pending conversations (skip locked + lease), e-mail, and
-- report back; a conversation someone has read meanwhile (unread_count 0) is dropped, one open in
-- a page that polled in the last 10 seconds waits for that page to show it. Every function takes
-- the clock as p_now so the 10-minute rule is tested without waiting for it. The e-mail names who
-- texted and which number, and links to the conversation; it never carries the text.

-- Presence is worth seconds: unlogged, so a poll every 2 s per open page writes no WAL (after a
-- crash the table starts empty, which only means nobody has anything open).
create unlogged table public.conversation_viewers (
  conversation_id uuid not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  workspace_id uuid not null,
  seen_at timestamptz not null default now(),
  primary key (conversation_id, user_id),
  foreign key (workspace_id, conversation_id) references public.conversations (workspace_id, id) on delete cascade
);
create index conversation_viewers_user_idx on public.conversation_viewers (user_id);
create index conversation_viewers_seen_idx on public.conversation_viewers (seen_at);
comment on table public.conversation_viewers is
  'Who last had which conversation open in the inbox, and when (the page polls every 2 s). Written only through '
  'public.note_conversation_viewed(); read by the new-message e-mail claim; no client reads it. Rows older than '
  'an hour are deleted every 10 minutes.';

create table public.conversation_email_alerts (
  conversation_id uuid primary key,
  workspace_id uuid not null,
  -- Counts inbound messages; a claim remembers the count, so one arriving while the e-mail is
  -- being sent stays pending for the next e-mail instead of being covered by this one.
  inbound_count bigint not null default 0,
  pending_since timestamptz,
  last_message_at timestamptz,
  last_emailed_at timestamptz,
  claim_token uuid,
  claimed_until timestamptz,
  claimed_count bigint,
  attempts integer not null default 0,
  foreign key (workspace_id, conversation_id) references public.conversations (workspace_id, id) on delete cascade
);
create index conversation_email_alerts_pending_idx on public.conversation_email_alerts (pending_since)
  where pending_since is not null;
create index conversation_email_alerts_workspace_idx on public.conversation_email_alerts (workspace_id);
comment on table public.conversation_email_alerts is
  'One row per conversation that has had an inbound message: whether an e-mail about it is pending (pending_since), '
  'when the last one went (the 10-minute rule), and the worker''s claim. Holds no message content. Service only.';

-- ---------------------------------------------------------------------------------------

create function private.tg_messages__email_alert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.conversation_email_alerts as a (conversation_id, workspace_id, inbound_count, pending_since,
                                                     last_message_at)
  values (new.conversation_id, new.workspace_id, 1, now(), now())
  on conflict (conversation_id) do update
     set inbound_count = a.inbound_count + 1,
         pending_since = coalesce(a.pending_since, excluded.pending_since),
         last_message_at = excluded.last_message_at;
  return null;
end
$$;
comment on function private.tg_messages__email_alert() is
  'Marks an inbound message''s conversation as pending a new-message e-mail.';
create trigger tg_messages__email_alert after insert on public.messages
  for each row when (new.direction = 'inbound') execute function private.tg_messages__email_alert();

create function public.note_conversation_viewed(p_conversation_id uuid)
returns boolean
language sql security definer
set search_path = ''
as $$
  with noted as (
    insert into public.conversation_viewers as v (conversation_id, user_id, workspace_id, seen_at)
    select c.id, m.user_id, c.workspace_id, now()
      from public.conversations c
      join public.workspace_members m on m.workspace_id = c.workspace_id and m.user_id = (select auth.uid())
     where c.id = p_conversation_id
    on conflict (conversation_id, user_id) do update set seen_at = excluded.seen_at
    returning 1
  )
  select exists (select 1 from noted)
$$;
comment on function public.note_conversation_viewed(uuid) is
  'Notes that the caller has the conversation open now (the inbox page calls it on every load and poll), so no '
  'new-message e-mail goes out about a text they are looking at. False, and nothing noted, for a conversation '
  'the caller is not a member of (or that does not exist).';

create function private.claim_new_message_emails(p_limit integer default 20, p_lease_seconds integer default 120,
                                                 p_now timestamptz default now())
returns table (conversation_id uuid, claim_token uuid, workspace_name text, contact_name text, contact_e164 text,
               number_e164 text, unread_count integer, assigned boolean, recipients jsonb)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_now timestamptz := coalesce(p_now, now());
  a public.conversation_email_alerts;
  c public.conversations;
  v_assignee uuid;
  v_recipients jsonb;
begin
  if not exists (select 1 from public.conversation_email_alerts x where x.pending_since is not null) then
    return;
  end if;

  -- Read since (the page that showed it marked it read, or an integration did): nothing to tell.
  update public.conversation_email_alerts x
     set pending_since = null, attempts = 0
   where x.conversation_id in (
           select y.conversation_id
             from public.conversation_email_alerts y
             join public.conversations cv on cv.id = y.conversation_id
            where y.pending_since is not null and cv.unread_count = 0
              and (y.claimed_until is null or y.claimed_until <= v_now)
              for update of y skip locked);

  for a in
    select y.*
      from public.conversation_email_alerts y
     where y.pending_since is not null
       and (y.claimed_until is null or y.claimed_until <= v_now)
       and (y.last_emailed_at is null or y.last_emailed_at <= v_now - interval '10 minutes')
       -- Open in a page that polled in the last 10 s: its next poll shows the text (and marks it read).
       and not exists (select 1 from public.conversation_viewers v
                        where v.conversation_id = y.conversation_id and v.seen_at > v_now - interval '10 seconds')
     order by y.pending_since
     limit greatest(coalesce(p_limit, 0), 0)
       for update of y skip locked
  loop
    select * into c from public.conversations cv where cv.id = a.conversation_id;
    -- An assignee who has since left the workspace is no assignee: everyone hears of it.
    select m.user_id into v_assignee from public.workspace_members m
     where m.workspace_id = c.workspace_id and m.user_id = c.assigned_to;
    select coalesce(jsonb_agg(jsonb_build_object('user_id', m.user_id, 'email', p.email, 'name', p.full_name)
                              order by p.email), '[]'::jsonb)
      into v_recipients
      from public.workspace_members m join public.profiles p on p.id = m.user_id
     where m.workspace_id = c.workspace_id
       and (v_assignee is null or m.user_id = v_assignee)
       and coalesce(btrim(p.email), '') <> ''
       and coalesce(p.preferences -> 'email_on_new_message', 'true'::jsonb) <> 'false'::jsonb;

    if jsonb_array_length(v_recipients) = 0 then  -- everyone who would hear of it turned it off
      update public.conversation_email_alerts x set pending_since = null, attempts = 0
       where x.conversation_id = a.conversation_id;
      continue;
    end if;

    update public.conversation_email_alerts x
       set claim_token = gen_random_uuid(),
           claimed_until = v_now + make_interval(secs => greatest(coalesce(p_lease_seconds, 120), 1)),
           claimed_count = x.inbound_count,
           attempts = x.attempts + 1
     where x.conversation_id = a.conversation_id
    returning x.claim_token into a.claim_token;

    return query
    select c.id, a.claim_token, w.name,
           nullif(btrim(concat_ws(' ', ct.first_name, ct.last_name)), ''), ct.phone_e164, n.e164, c.unread_count,
           v_assignee is not null, v_recipients
      from public.workspaces w, public.contacts ct, public.phone_numbers n
     where w.id = c.workspace_id and ct.id = c.contact_id and n.id = c.phone_number_id;
  end loop;
end
$$;
comment on function private.claim_new_message_emails(integer, integer, timestamptz) is
  'Claims up to p_limit conversations due a new-message e-mail for p_lease_seconds (for update skip locked, so two '
  'workers never e-mail about one): a text arrived, nobody has read it, no page polled it in the last 10 s, and no '
  'e-mail about it went in the last 10 minutes. Returns who texted which number and whom to tell: the assignee, '
  'or every member when unassigned, less those with preferences.email_on_new_message = false. Drops pending '
  'conversations that were read, or that nobody is to hear of. service_role only.';

create function private.complete_new_message_email(p_conversation_id uuid, p_claim_token uuid, p_sent boolean,
                                                   p_now timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  max_attempts constant integer := 5;
  v_now timestamptz := coalesce(p_now, now());
  a public.conversation_email_alerts;
begin
  select * into a from public.conversation_email_alerts x
   where x.conversation_id = p_conversation_id and x.claim_token = p_claim_token for update;
  if not found then  -- the lease ran out and another worker holds it now: its outcome counts
    return jsonb_build_object('recorded', false);
  end if;
  if p_sent then
    update public.conversation_email_alerts x
       set last_emailed_at = v_now,
           -- Texts that came in while this e-mail was going out get the next one.
           pending_since = case when x.inbound_count > a.claimed_count then x.last_message_at end,
           claim_token = null, claimed_until = null, claimed_count = null, attempts = 0
     where x.conversation_id = p_conversation_id returning * into a;
  elsif a.attempts >= max_attempts then
    update public.conversation_email_alerts x
       set pending_since = null, claim_token = null, claimed_until = null, claimed_count = null, attempts = 0
     where x.conversation_id = p_conversation_id returning * into a;
    return jsonb_build_object('recorded', true, 'gave_up', true);
  else
    update public.conversation_email_alerts x
       set claim_token = null, claimed_count = null,
           claimed_until = v_now + make_interval(mins => a.attempts)
     where x.conversation_id = p_conversation_id returning * into a;
  end if;
  return jsonb_build_object('recorded', true, 'gave_up', false, 'pending', a.pending_since is not null);
end
$$;
comment on function private.complete_new_message_email(uuid, uuid, boolean, timestamptz) is
  'Records a claimed new-message e-mail as sent (the next may go 10 minutes later, for texts that arrived since) '
  'or failed (retried after 1, 2, 3, 4 minutes; dropped after the 5th failure). A claim whose lease ran out and '
  'was taken by another worker changes nothing. service_role only.';

create function private.forget_conversation_viewers(p_older_than interval default '1 hour')
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer;
begin
  delete from public.conversation_viewers where seen_at < now() - p_older_than;
  get diagnostics n = row_count;
  return n;
end
$$;
comment on function private.forget_conversation_viewers(interval) is
  'Deletes presence older than p_older_than: who looked at what is kept no longer than it is useful.';

select cron.schedule('numeraloop-forget-conversation-viewers', '*/10 * * * *',
                     $$select private.forget_conversation_viewers('1 hour')$$);

revoke all on function private.tg_messages__email_alert(),
                       private.claim_new_message_emails(integer, integer, timestamptz),
                       private.complete_new_message_email(uuid, uuid, boolean, timestamptz),
                       private.forget_conversation_viewers(interval)
  from public, anon, authenticated;
grant execute on function private.claim_new_message_emails(integer, integer, timestamptz),
                          private.complete_new_message_email(uuid, uuid, boolean, timestamptz),
                          private.forget_conversation_viewers(interval)
  to service_role;
revoke all on function public.note_conversation_viewed(uuid) from public, anon;
grant execute on function public.note_conversation_viewed(uuid) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants: no client reads or writes either table; the functions above do.

alter table public.conversation_viewers enable row level security;
alter table public.conversation_email_alerts enable row level security;

revoke all on public.conversation_viewers, public.conversation_email_alerts from anon, authenticated, service_role;
grant select on public.conversation_viewers, public.conversation_email_alerts to service_role;
