-- Restriction of processing, and consent to product e-mails.
--
--   public.processing_restrictions  one row per restricted account. While an account is
--                                   restricted nothing is sent, called or launched on its behalf:
--                                   the account's own sends and outbound calls, and in every
--                                   workspace it owns any send, call, campaign launch or resume
--                                   and automated reply, are refused (SQLSTATE P0423, DETAIL code
--                                   processing_restricted; the API's 423). Campaigns already
--                                   sending or scheduled there are paused. Inbound messages and
--                                   calls are still stored. Lifting it is audited.
--   public.restrict_my_processing() / public.lift_my_restriction()
--                                   the signed-in user restricts their own account or lifts it;
--                                   private.restrict_processing() / private.lift_processing_restriction()
--                                   are the same for the operator and for data requests.
--   public.consent_events           every grant and withdrawal of consent to product e-mails
--                                   (newsletters), with its time and source; the latest decides.
--                                   No product e-mail goes to anyone without a recorded grant
--                                   (private.product_email_recipients()). Withdrawing is one call:
--                                   public.set_product_email_consent(false).

create table public.processing_restrictions (
  user_id uuid primary key references auth.users (id) on delete cascade,
  restricted_at timestamptz not null default now(),
  -- product: the user, signed in; email: a request they e-mailed; operator: support, on their behalf.
  source text not null check (source in ('product', 'email', 'operator')),
  data_request_id uuid references public.data_requests (id) on delete set null
);
comment on table public.processing_restrictions is
  'Accounts whose processing is restricted (GDPR Art. 18): nothing is sent, called or launched on their behalf '
  'while the row exists. The user reads their own; written only by the restriction functions, which audit '
  'restricting and lifting (processing.restricted, processing.restriction_lifted).';

alter table public.processing_restrictions enable row level security;
create policy processing_restrictions_select_own on public.processing_restrictions for select to authenticated
  using (user_id = (select auth.uid()));
revoke all on public.processing_restrictions from anon, authenticated, service_role;
grant select on public.processing_restrictions to authenticated, service_role;

create function private.processing_restricted(p_workspace_id uuid, p_user_id uuid)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (select 1 from public.processing_restrictions r where r.user_id = p_user_id)
      or exists (select 1 from public.processing_restrictions r
                   join public.workspace_members m on m.user_id = r.user_id
                  where m.workspace_id = p_workspace_id and m.role = 'owner')
$$;
comment on function private.processing_restricted(uuid, uuid) is
  'Whether acting in p_workspace_id on behalf of p_user_id is refused: the user''s account is restricted, or an '
  'owner''s of the workspace is (their account is the workspace''s). Either argument may be null.';
revoke all on function private.processing_restricted(uuid, uuid) from public, anon, authenticated;
grant execute on function private.processing_restricted(uuid, uuid) to service_role;

create function private.refuse_if_restricted(p_workspace_id uuid, p_user_id uuid, p_what text)
returns void
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if private.processing_restricted(p_workspace_id, p_user_id) then
    raise exception '% is refused: processing is restricted for this account until the restriction is lifted', p_what
      using errcode = 'P0423', detail = jsonb_build_object('code', 'processing_restricted')::text;
  end if;
end
$$;
comment on function private.refuse_if_restricted(uuid, uuid, text) is
  'Raises P0423 (DETAIL code processing_restricted) when private.processing_restricted() holds; p_what names '
  'what is refused ("sending a message").';
revoke all on function private.refuse_if_restricted(uuid, uuid, text) from public, anon, authenticated;
grant execute on function private.refuse_if_restricted(uuid, uuid, text) to service_role;

-- The refusals are triggers, so every path that sends, calls or launches is covered, whichever
-- function or client writes the row.

create function private.tg_messages__refuse_restricted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- Campaign messages are written when a worker claims recipients, for many workspaces in one
  -- statement: they are stopped before that, by pausing the campaign (tg_campaigns__refuse_restricted).
  if new.source <> 'campaign' then
    perform private.refuse_if_restricted(new.workspace_id, new.sent_by,
                                         case new.source when 'manual' then 'sending a message'
                                                         else 'an automated reply' end);
  end if;
  return new;
end
$$;
create trigger tg_messages__refuse_restricted before insert on public.messages
  for each row when (new.direction = 'outbound') execute function private.tg_messages__refuse_restricted();

create function private.tg_calls__refuse_restricted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.refuse_if_restricted(new.workspace_id, new.placed_by, 'placing a call');
  return new;
end
$$;
create trigger tg_calls__refuse_restricted before insert on public.calls
  for each row when (new.direction = 'outbound') execute function private.tg_calls__refuse_restricted();

create function private.tg_campaigns__refuse_restricted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.refuse_if_restricted(new.workspace_id, (select auth.uid()), 'launching or resuming a campaign');
  return new;
end
$$;
create trigger tg_campaigns__refuse_restricted before update of status on public.campaigns
  for each row when (new.status in ('scheduled', 'sending') and old.status not in ('scheduled', 'sending'))
  execute function private.tg_campaigns__refuse_restricted();

create function private.pause_restricted_campaigns(p_user_id uuid, p_workspace_id uuid default null)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  k record;
  n integer := 0;
begin
  for k in
    select c.id, c.workspace_id from public.campaigns c
      join public.workspace_members m on m.workspace_id = c.workspace_id and m.user_id = p_user_id and m.role = 'owner'
     where c.status in ('scheduled', 'sending') and (p_workspace_id is null or c.workspace_id = p_workspace_id)
     for update of c
  loop
    update public.campaigns set status = 'paused', paused_at = now(),
           last_error = 'Paused: processing is restricted for the account of an owner of this workspace.'
     where id = k.id;
    -- What no worker has started on goes back to the queue, as when a campaign is halted.
    update public.campaign_recipients set status = 'pending', claimed_until = null, claim_token = null
     where campaign_id = k.id and status = 'claimed' and message_id is null;
    perform private.write_audit_log(k.workspace_id, null, 'campaign.paused_by_restriction', 'campaign', k.id::text,
                                    '{}'::jsonb, null);
    n := n + 1;
  end loop;
  return n;
end
$$;
comment on function private.pause_restricted_campaigns(uuid, uuid) is
  'Pauses the scheduled and sending campaigns of the workspaces p_user_id owns (or of one of them), with a '
  'last_error saying why; an admin resumes them once the restriction is lifted.';
revoke all on function private.pause_restricted_campaigns(uuid, uuid) from public, anon, authenticated, service_role;

-- A restricted account that becomes an owner brings the restriction to that workspace.
create function private.tg_workspace_members__restricted_owner() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.processing_restrictions r where r.user_id = new.user_id) then
    perform private.pause_restricted_campaigns(new.user_id, new.workspace_id);
  end if;
  return null;
end
$$;
create trigger tg_workspace_members__restricted_owner after insert or update of role on public.workspace_members
  for each row when (new.role = 'owner') execute function private.tg_workspace_members__restricted_owner();

create function private.restrict_processing(p_user_id uuid, p_source text, p_data_request_id uuid default null)
returns public.processing_restrictions
language plpgsql security definer
set search_path = ''
as $$
declare
  r public.processing_restrictions;
  paused integer;
begin
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception 'no such account' using errcode = 'P0002';
  end if;
  insert into public.processing_restrictions (user_id, source, data_request_id)
  values (p_user_id, p_source, p_data_request_id)
  on conflict (user_id) do nothing
  returning * into r;
  if r.user_id is null then
    -- Already restricted: it stands as it was.
    select * into r from public.processing_restrictions x where x.user_id = p_user_id;
    return r;
  end if;
  paused := private.pause_restricted_campaigns(p_user_id);
  perform private.write_audit_log(null, p_user_id, 'processing.restricted', 'user', p_user_id::text,
                                  jsonb_build_object('source', p_source, 'data_request_id', p_data_request_id,
                                                     'campaigns_paused', paused), null);
  return r;
end
$$;
comment on function private.restrict_processing(uuid, text, uuid) is
  'Restricts processing for an account (idempotent), pausing the campaigns of the workspaces it owns; audited.';
revoke all on function private.restrict_processing(uuid, text, uuid) from public, anon, authenticated;
grant execute on function private.restrict_processing(uuid, text, uuid) to service_role;

create function private.lift_processing_restriction(p_user_id uuid, p_actor uuid, p_source text)
returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  r public.processing_restrictions;
begin
  delete from public.processing_restrictions x where x.user_id = p_user_id returning * into r;
  if r.user_id is null then
    return false;
  end if;
  perform private.write_audit_log(null, p_actor, 'processing.restriction_lifted', 'user', p_user_id::text,
                                  jsonb_build_object('source', p_source, 'restricted_at', r.restricted_at,
                                                     'restricted_by', r.source), null);
  return true;
end
$$;
comment on function private.lift_processing_restriction(uuid, uuid, text) is
  'Lifts an account''s restriction (false when it had none), audited with who lifted it and how. Paused campaigns '
  'stay paused until an admin resumes them.';
revoke all on function private.lift_processing_restriction(uuid, uuid, text) from public, anon, authenticated;
grant execute on function private.lift_processing_restriction(uuid, uuid, text) to service_role;

create function public.restrict_my_processing()
returns public.processing_restrictions
language plpgsql security definer
set search_path = ''
as $$
declare
  req public.data_requests;
  r public.processing_restrictions;
begin
  if (select auth.uid()) is null then
    raise exception 'sign in to restrict the processing of your account' using errcode = '42501';
  end if;
  select * into r from public.processing_restrictions x where x.user_id = (select auth.uid());
  if r.user_id is not null then
    return r;
  end if;
  -- Recorded as what it is, a GDPR restriction request, carried out at once.
  req := public.file_data_request('gdpr', 'restriction', null);
  select * into r from public.processing_restrictions x where x.user_id = (select auth.uid());
  return r;
end
$$;
comment on function public.restrict_my_processing() is
  'Restricts the caller''s account at once (recorded as a completed GDPR restriction request); returns the '
  'restriction, unchanged when it was already in place.';
revoke all on function public.restrict_my_processing() from public, anon, service_role;
grant execute on function public.restrict_my_processing() to authenticated;

create function public.lift_my_restriction()
returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  if (select auth.uid()) is null then
    raise exception 'sign in to lift the restriction of your account' using errcode = '42501';
  end if;
  return private.lift_processing_restriction((select auth.uid()), (select auth.uid()), 'product');
end
$$;
comment on function public.lift_my_restriction() is
  'Lifts the caller''s own restriction (audited); false when there was none.';
revoke all on function public.lift_my_restriction() from public, anon, service_role;
grant execute on function public.lift_my_restriction() to authenticated;

-- ---------------------------------------------------------------------------------------
-- Consent to product e-mails

create table public.consent_events (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  purpose text not null check (purpose in ('product_emails')),
  granted boolean not null,
  -- settings: the web application; api: /api/v1 or PostgREST; data_request: a request filed in the
  -- product; email_request: one e-mailed and verified; operator: support, on the user's word.
  source text not null check (source in ('settings', 'api', 'data_request', 'email_request', 'operator')),
  recorded_at timestamptz not null default clock_timestamp()
);
create index consent_events_user_idx on public.consent_events (user_id, purpose, recorded_at desc);
comment on table public.consent_events is
  'Each grant and withdrawal of a user''s consent, with its time and source; the latest per purpose decides, and '
  'with none the answer is no. The user reads their own; rows are written only by private.record_consent().';

alter table public.consent_events enable row level security;
create policy consent_events_select_own on public.consent_events for select to authenticated
  using (user_id = (select auth.uid()));
revoke all on public.consent_events from anon, authenticated, service_role;
grant select on public.consent_events to authenticated, service_role;

create function private.record_consent(p_user_id uuid, p_purpose text, p_granted boolean, p_source text)
returns public.consent_events
language sql security definer
set search_path = ''
as $$
  insert into public.consent_events (user_id, purpose, granted, source)
  values (p_user_id, p_purpose, p_granted, p_source)
  returning *
$$;
comment on function private.record_consent(uuid, text, boolean, text) is 'The one way rows enter consent_events.';
revoke all on function private.record_consent(uuid, text, boolean, text) from public, anon, authenticated;
grant execute on function private.record_consent(uuid, text, boolean, text) to service_role;

create function private.product_email_consent(p_user_id uuid)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select coalesce((select e.granted from public.consent_events e
                    where e.user_id = p_user_id and e.purpose = 'product_emails'
                    order by e.recorded_at desc, e.id limit 1), false)
$$;
comment on function private.product_email_consent(uuid) is
  'Whether the user''s latest recorded decision on product e-mails is a grant (no record: no).';
revoke all on function private.product_email_consent(uuid) from public, anon, authenticated;
grant execute on function private.product_email_consent(uuid) to service_role;

create function public.set_product_email_consent(p_granted boolean, p_source text default 'api')
returns public.consent_events
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
begin
  if uid is null or not exists (select 1 from public.profiles p where p.id = uid) then
    raise exception 'sign in to change your e-mail consent' using errcode = '42501';
  end if;
  if p_granted is null then
    raise exception 'say true (consent) or false (withdraw)' using errcode = '22023',
          detail = jsonb_build_object('code', 'invalid_consent')::text;
  end if;
  if p_source is null or p_source not in ('settings', 'api') then
    raise exception 'source must be settings or api' using errcode = '22023',
          detail = jsonb_build_object('code', 'invalid_source')::text;
  end if;
  return private.record_consent(uid, 'product_emails', p_granted, p_source);
end
$$;
comment on function public.set_product_email_consent(boolean, text) is
  'The caller grants (true) or withdraws (false) consent to product e-mails; recorded with the time and source '
  '(settings: the web application; api).';
revoke all on function public.set_product_email_consent(boolean, text) from public, anon, service_role;
grant execute on function public.set_product_email_consent(boolean, text) to authenticated;

create function private.product_email_recipients()
returns table (user_id uuid, email text, full_name text)
language sql stable security definer
set search_path = ''
as $$
  select p.id, p.email, p.full_name from public.profiles p
   where p.email is not null and private.product_email_consent(p.id)
     and not exists (select 1 from public.processing_restrictions r where r.user_id = p.id)
   order by p.email
$$;
comment on function private.product_email_recipients() is
  'Who may be sent a product e-mail (a newsletter): users whose latest decision is consent, and whose processing '
  'is not restricted.';
revoke all on function private.product_email_recipients() from public, anon, authenticated;
grant execute on function private.product_email_recipients() to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
