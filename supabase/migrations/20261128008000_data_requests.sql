-- Your data: a user exports everything they can see, deletes their account, and exercises their
-- other rights under the GDPR, the CCPA and PIPEDA.
--
--   public.data_requests          one row per request: the self-service exports and deletions, and
--                                 every data-subject request with its law, kind, due date,
--                                 identity verification, status and outcome; the user reads their own.
--   public.file_data_request()    the signed-in user files a request in the product;
--   private.file_emailed_data_request(), private.verify_data_request(), private.close_data_request(),
--   private.data_requests_open()  the operator's side (`numeraloop privacy request ...`).
--   public.export_my_data()       everything the caller can read about themself and in their
--                                 workspaces, as JSON (profile, memberships, their own access log
--                                 and requests, and per workspace every table users read, billing
--                                 included); records a completed `export` request.
--   public.request_account_deletion() / public.cancel_account_deletion()
--                                 one open deletion request per user, carried out after a 7-day
--                                 grace period during which the user can cancel it.
--   private.delete_due_accounts() run daily by pg_cron (job numeraloop-account-deletion): deletes
--                                 the accounts whose grace period is over.
--
-- The promise is deletion within 30 days of the request. The grace period is 7 days and the job
-- runs every day; a run that fails for one account marks that request `failed` and the next
-- day's run tries it again, so up to 23 daily attempts fit inside the promise.

-- How long the law gives to answer a request: a month under the GDPR (Art. 12(3)) and 30 days
-- under PIPEDA (s. 8(3)), 45 days under the CCPA (Civil Code 1798.130(a)(2)).
create function private.data_request_period(p_law text)
returns interval
language sql immutable
set search_path = ''
as $$ select case p_law when 'gdpr' then interval '30 days' when 'pipeda' then interval '30 days'
                        when 'ccpa' then interval '45 days' end $$;
comment on function private.data_request_period(text) is
  'The time the law gives to answer a data-subject request: 30 days (gdpr, pipeda), 45 days (ccpa).';

create table public.data_requests (
  id uuid primary key default gen_random_uuid(),
  -- Set null when the user is deleted: the completed deletion request stays as the record that
  -- the promise was kept, and no longer says whose account it was.
  user_id uuid references auth.users (id) on delete set null,
  -- Null for the product's self-service export and deletion, which no law's clock governs.
  law text check (law in ('gdpr', 'ccpa', 'pipeda')),
  kind text not null check (kind in (
    'export', 'deletion',  -- self-service (law null)
    'access', 'rectification', 'erasure', 'restriction', 'portability', 'objection', 'withdraw_consent',  -- gdpr
    'know', 'delete', 'correct', 'limit',  -- ccpa
    'correction')),  -- pipeda (with access)
  status text not null check (status in ('requested', 'scheduled', 'in_progress', 'completed', 'refused',
                                         'canceled', 'failed')),
  -- When it was received: now() in the product; the date on the e-mail for one the operator files.
  requested_at timestamptz not null default now(),
  due_at timestamptz,
  channel text not null default 'product' check (channel in ('product', 'email')),
  -- Who wrote in, for a request received by e-mail (where the answer goes, and whose CCPA
  -- requests count together); null for a request filed in the product by a signed-in user.
  requester_email text check (char_length(requester_email) between 3 and 320),
  identity_verification text check (identity_verification in ('pending', 'verified', 'failed')),
  identity_checked_at timestamptz,
  description text check (char_length(description) <= 4000),
  outcome text check (char_length(outcome) between 1 and 2000),
  scheduled_for timestamptz,
  completed_at timestamptz,
  canceled_at timestamptz,
  details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object'),
  constraint data_requests_kind_of_law check (
    case law
      when 'gdpr' then kind in ('access', 'rectification', 'erasure', 'restriction', 'portability', 'objection',
                                'withdraw_consent')
      when 'ccpa' then kind in ('know', 'delete', 'correct', 'limit')
      when 'pipeda' then kind in ('access', 'correction')
      else kind in ('export', 'deletion')
    end),
  -- A request under a law has its deadline and an identity check; the self-service ones are the
  -- signed-in user's own by construction.
  constraint data_requests_law_has_due_date check ((law is null) = (due_at is null) and due_at >= requested_at),
  constraint data_requests_law_has_identity_check check ((law is null) = (identity_verification is null)),
  constraint data_requests_answered check (law is null or status not in ('completed', 'refused') or outcome is not null),
  constraint data_requests_statuses_of_kind check (
    case when law is not null then status in ('requested', 'in_progress', 'completed', 'refused', 'canceled')
         when kind = 'export' then status in ('in_progress', 'completed', 'failed')
         else status in ('requested', 'scheduled', 'completed', 'canceled', 'failed') end),
  constraint data_requests_deletion_is_scheduled check ((kind = 'deletion') = (scheduled_for is not null)),
  constraint data_requests_within_30_days check (scheduled_for <= requested_at + interval '30 days'),
  constraint data_requests_completed_at check ((status in ('completed', 'refused')) = (completed_at is not null)),
  constraint data_requests_canceled_at check ((status = 'canceled') = (canceled_at is not null))
);
-- One open deletion request per user; also what makes request_account_deletion() idempotent
-- under concurrent calls.
create unique index data_requests_one_open_deletion_key on public.data_requests (user_id)
  where kind = 'deletion' and status in ('requested', 'scheduled', 'failed');
create index data_requests_user_idx on public.data_requests (user_id, requested_at desc);
-- What the daily job looks for.
create index data_requests_due_deletions_idx on public.data_requests (scheduled_for)
  where kind = 'deletion' and status in ('scheduled', 'failed');
-- The operator's list of requests still to answer, by deadline; and the CCPA count per address.
create index data_requests_open_idx on public.data_requests (due_at) where status in ('requested', 'in_progress');
create index data_requests_requester_idx on public.data_requests (lower(requester_email), requested_at desc)
  where requester_email is not null;

comment on table public.data_requests is
  'A user''s data exports, account deletion requests and data-subject requests (per user, not per workspace). '
  'The user reads their own; rows are written only by the functions of '
  'supabase/migrations/20261128008000_data_requests.sql (export_my_data(), the service''s streamed export, '
  'request_account_deletion(), cancel_account_deletion(), file_data_request(), the operator''s functions) and '
  'the daily private.delete_due_accounts().';
comment on column public.data_requests.status is
  'requested: recorded (a request under a law: received, identity not yet verified); scheduled: a deletion '
  'waiting for its grace period to end; in_progress: an export being streamed, or a verified request being '
  'answered; completed; refused (outcome says why, e.g. the identity could not be verified); canceled (a deletion '
  'during its grace period, or a request its requester withdrew); failed: the last deletion attempt failed '
  '(details.last_error) and the next daily run retries it, or an export stopped before its end.';
comment on column public.data_requests.law is
  'gdpr, ccpa or pipeda for a data-subject request (its kind is one that law grants); null for the product''s '
  'self-service export and deletion.';
comment on column public.data_requests.due_at is
  'When the answer is due: requested_at + 30 days (gdpr, pipeda) or 45 days (ccpa); see private.data_request_period.';
comment on column public.data_requests.identity_verification is
  'pending until the operator has checked the requester is the person (verified) or could not (failed: the '
  'request is refused). A request filed in the product by a signed-in user is verified by their sign-in.';
comment on column public.data_requests.outcome is
  'What was done, or why it was refused, in a sentence for the requester.';
comment on column public.data_requests.scheduled_for is
  'Deletions only: when the account is deleted (requested_at + 7 days; never later than 30 days).';
comment on column public.data_requests.details is
  'Counts and error codes only, never personal data: rows exported, rows deleted, failed attempts.';

alter table public.data_requests enable row level security;

create policy data_requests_select_own on public.data_requests for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.data_requests from anon, authenticated, service_role;
grant select on public.data_requests to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Account deletion: request and cancel (the caller's own account only)

create function private.account_deletion_grace_period()
returns interval
language sql immutable
set search_path = ''
as $$ select interval '7 days' $$;
comment on function private.account_deletion_grace_period() is
  'How long a user has to cancel an account deletion. Must stay well under 30 days (the promise), '
  'leaving room for daily retries; the data_requests_within_30_days constraint holds the hard limit.';
grant execute on function private.account_deletion_grace_period() to authenticated, service_role;

create function public.request_account_deletion()
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req public.data_requests;
begin
  if uid is null or not exists (select 1 from auth.users u where u.id = uid) then
    raise exception 'sign in to delete your account' using errcode = '42501';
  end if;

  insert into public.data_requests (user_id, kind, status, scheduled_for)
  values (uid, 'deletion', 'scheduled', now() + private.account_deletion_grace_period())
  on conflict (user_id) where kind = 'deletion' and status in ('requested', 'scheduled', 'failed')
  do nothing
  returning * into req;

  if req.id is null then
    -- Already requested: the open request stands, its date unchanged.
    select * into req from public.data_requests r
     where r.user_id = uid and r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed');
  else
    perform private.write_audit_log(null, uid, 'account.deletion_requested', 'data_request', req.id::text,
                                    jsonb_build_object('scheduled_for', req.scheduled_for), null);
  end if;
  return req;
end
$$;
comment on function public.request_account_deletion() is
  'Schedules the deletion of the caller''s account after the grace period (7 days). Idempotent: '
  'while a deletion request is open, returns it unchanged.';

create function public.cancel_account_deletion()
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req public.data_requests;
begin
  if uid is null then
    raise exception 'sign in to cancel your account deletion' using errcode = '42501';
  end if;
  update public.data_requests r
     set status = 'canceled', canceled_at = now()
   where r.user_id = uid and r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed')
  returning * into req;
  if req.id is not null then
    perform private.write_audit_log(null, uid, 'account.deletion_canceled', 'data_request', req.id::text,
                                    '{}'::jsonb, null);
  end if;
  return req;  -- null: nothing open to cancel
end
$$;
comment on function public.cancel_account_deletion() is
  'Cancels the caller''s open account deletion request; returns it, or null when none is open.';

revoke all on function public.request_account_deletion(), public.cancel_account_deletion() from public, anon;
grant execute on function public.request_account_deletion(), public.cancel_account_deletion() to authenticated;

-- ---------------------------------------------------------------------------------------
-- The daily job

create function private.delete_account(p_user_id uuid)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  sole_owned uuid[];
  n_contacts bigint;
  n_messages bigint;
  n_calls bigint;
  n_workspaces integer;
  n_memberships integer;
  n_profiles integer;
  n_users integer;
begin
  -- Workspaces where the user is the only owner go, with everything in them (foreign keys
  -- cascade). They go first: the last-owner guard on workspace_members refuses to remove a
  -- workspace's only owner while the workspace exists.
  select coalesce(array_agg(m.workspace_id), '{}') into sole_owned
    from public.workspace_members m
   where m.user_id = p_user_id and m.role = 'owner'
     and not exists (select 1 from public.workspace_members o
                      where o.workspace_id = m.workspace_id and o.role = 'owner' and o.user_id <> p_user_id);

  select count(*) into n_contacts from public.contacts c where c.workspace_id = any(sole_owned);
  select count(*) into n_messages from public.messages m where m.workspace_id = any(sole_owned);
  select count(*) into n_calls from public.calls c where c.workspace_id = any(sole_owned);

  delete from public.workspaces w where w.id = any(sole_owned);
  get diagnostics n_workspaces = row_count;

  -- Memberships of workspaces that have another owner: the workspace and its records stay;
  -- what the user did there (messages sent, calls placed) is no longer linked to them.
  delete from public.workspace_members m where m.user_id = p_user_id;
  get diagnostics n_memberships = row_count;

  -- Their own past requests go too; the caller keeps (unlinked) the deletion request itself.
  delete from public.data_requests r
   where r.user_id = p_user_id and not (r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed'));

  delete from public.profiles p where p.id = p_user_id;
  get diagnostics n_profiles = row_count;

  -- Supabase Auth's own row (identities, sessions and refresh tokens cascade from it). This
  -- is also how Supabase's admin API deletes a user.
  delete from auth.users u where u.id = p_user_id;
  get diagnostics n_users = row_count;

  return jsonb_build_object('workspaces_deleted', n_workspaces, 'contacts_deleted', n_contacts,
                            'messages_deleted', n_messages, 'calls_deleted', n_calls,
                            'memberships_removed', n_memberships, 'profile_deleted', n_profiles = 1,
                            'user_deleted', n_users = 1);
end
$$;
comment on function private.delete_account(uuid) is
  'Deletes one user''s data: workspaces they alone own (with all their rows), their other memberships, '
  'their profile and requests, and their auth.users row. Returns counts. Called by delete_due_accounts().';
revoke all on function private.delete_account(uuid) from public, anon, authenticated, service_role;

create function private.delete_due_accounts(p_now timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  req record;
  v_outcome jsonb;
  attempts integer;
  err_state text;
  err_table text;
  err_constraint text;
  n_completed integer := 0;
  n_failed integer := 0;
begin
  for req in
    select r.id, r.user_id, r.details, r.requested_at from public.data_requests r
     where r.kind = 'deletion' and r.status in ('scheduled', 'failed') and r.scheduled_for <= p_now
     order by r.scheduled_for
     for update skip locked  -- a second run at the same time takes other requests, never the same
  loop
    attempts := coalesce((req.details ->> 'attempts')::integer, 0) + 1;
    begin
      if req.user_id is null then
        -- The user was deleted some other way (e.g. from the Supabase dashboard) meanwhile.
        v_outcome := jsonb_build_object('user_deleted', false, 'already_gone', true);
      else
        -- What Twilio and Stripe still have to delete is due 30 days after this request.
        perform set_config('numeraloop.deletion_requested_at', req.requested_at::text, true);
        v_outcome := private.delete_account(req.user_id);
      end if;
      update public.data_requests r
         set status = 'completed', completed_at = p_now, user_id = null,
             -- What the request said (why it was made) stays; a failed attempt's error does not.
             details = (r.details - 'last_error' - 'last_attempt_at') || v_outcome
                       || jsonb_build_object('attempts', attempts)
       where r.id = req.id;
      perform private.write_audit_log(null, null, 'account.deletion', 'data_request', req.id::text,
                                      v_outcome || jsonb_build_object('attempts', attempts), null);
      n_completed := n_completed + 1;
    exception when others then
      -- Everything this account's attempt did is rolled back; the next daily run retries it.
      -- Only the error's code and schema names are kept: a message could quote row values.
      get stacked diagnostics err_state = returned_sqlstate, err_table = table_name,
                              err_constraint = constraint_name;
      update public.data_requests r
         set status = 'failed',
             details = r.details || jsonb_build_object(
               'attempts', attempts, 'last_attempt_at', p_now,
               'last_error', jsonb_strip_nulls(jsonb_build_object(
                 'sqlstate', err_state, 'table', nullif(err_table, ''), 'constraint', nullif(err_constraint, ''))))
       where r.id = req.id;
      perform private.write_audit_log(null, null, 'account.deletion_failed', 'data_request', req.id::text,
                                      jsonb_build_object('attempts', attempts, 'sqlstate', err_state), null);
      n_failed := n_failed + 1;
    end;
  end loop;
  return jsonb_build_object('completed', n_completed, 'failed', n_failed);
end
$$;
comment on function private.delete_due_accounts(timestamptz) is
  'Deletes every account whose deletion request is due (grace period over), each in its own subtransaction: '
  'one failure is recorded on its request (status failed, retried by the next run) and the others proceed. '
  'Run daily by pg_cron (job numeraloop-account-deletion).';

revoke all on function private.delete_due_accounts(timestamptz) from public, anon, authenticated;
grant execute on function private.delete_due_accounts(timestamptz) to service_role;

select cron.schedule('numeraloop-account-deletion', '43 2 * * *', $$select private.delete_due_accounts()$$);

-- ---------------------------------------------------------------------------------------
-- Data-subject requests
--
-- A request under the GDPR, the CCPA or PIPEDA is recorded with its law and kind, when it was
-- received and when the answer is due (private.data_request_period), how the requester's identity
-- was checked, its status and its outcome. A signed-in user files one in the product
-- (public.file_data_request: their sign-in is the identity check); the operator files those that
-- arrive by e-mail (private.file_emailed_data_request: identity pending until
-- private.verify_data_request), lists the open and overdue ones (private.data_requests_open) and
-- answers each (private.close_data_request). A restriction of processing or a withdrawal of
-- consent takes effect as soon as its requester is verified (private.carry_out_data_request).
-- Under the CCPA a business need not answer more than two requests per person in 12 months
-- (Civil Code 1798.100(d), 1798.130(a)(2)(B)): a third is refused (P0429).

create function private.ccpa_requests_in_year(p_user_id uuid, p_email text, p_at timestamptz)
returns integer
language sql stable security definer
set search_path = ''
as $$
  select count(*)::integer from public.data_requests r
   where r.law = 'ccpa' and r.status <> 'canceled'
     and r.requested_at > p_at - interval '12 months' and r.requested_at <= p_at + interval '12 months'
     and (r.user_id = p_user_id or lower(r.requester_email) = lower(p_email))
$$;
comment on function private.ccpa_requests_in_year(uuid, text, timestamptz) is
  'CCPA requests of one person (by user, or by the address they wrote from) within 12 months of p_at.';

create function private.insert_data_request(p_user_id uuid, p_email text, p_law text, p_kind text, p_channel text,
                                            p_received_at timestamptz, p_identity text, p_description text)
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  v_law text := lower(btrim(coalesce(p_law, '')));
  v_kind text := lower(btrim(coalesce(p_kind, '')));
  v_email text := nullif(lower(btrim(coalesce(p_email, ''))), '');
  v_at timestamptz := coalesce(p_received_at, now());
  req public.data_requests;
begin
  if v_law not in ('gdpr', 'ccpa', 'pipeda') then
    raise exception 'law must be gdpr, ccpa or pipeda' using errcode = '22023',
          detail = jsonb_build_object('code', 'invalid_law')::text;
  end if;
  if not (case v_law
            when 'gdpr' then v_kind in ('access', 'rectification', 'erasure', 'restriction', 'portability',
                                        'objection', 'withdraw_consent')
            when 'ccpa' then v_kind in ('know', 'delete', 'correct', 'limit')
            else v_kind in ('access', 'correction') end) then
    raise exception '% is not a kind of request under %: %', coalesce(nullif(v_kind, ''), 'an empty kind'), upper(v_law),
          case v_law when 'gdpr' then 'access, rectification, erasure, restriction, portability, objection, withdraw_consent'
                     when 'ccpa' then 'know, delete, correct, limit' else 'access, correction' end
      using errcode = '22023', detail = jsonb_build_object('code', 'invalid_kind')::text;
  end if;
  if char_length(p_description) > 4000 then
    raise exception 'the description is limited to 4000 characters' using errcode = '22023',
          detail = jsonb_build_object('code', 'invalid_description')::text;
  end if;
  if v_at > now() + interval '5 minutes' then
    raise exception 'a request cannot be received in the future' using errcode = '22023',
          detail = jsonb_build_object('code', 'invalid_received_at')::text;
  end if;
  if v_law = 'ccpa' then
    -- One person's requests are counted one at a time, by user and by address.
    perform pg_advisory_xact_lock(hashtextextended('numeraloop.ccpa:' || coalesce(p_user_id::text, v_email), 0));
    if v_email is not null and p_user_id is not null then
      perform pg_advisory_xact_lock(hashtextextended('numeraloop.ccpa:' || v_email, 0));
    end if;
    if private.ccpa_requests_in_year(p_user_id, v_email, v_at) >= 2 then
      raise exception 'the CCPA allows two requests per person in 12 months, and this person has made two'
        using errcode = 'P0429', detail = jsonb_build_object('code', 'request_limit_reached')::text;
    end if;
  end if;

  insert into public.data_requests (user_id, law, kind, status, requested_at, due_at, channel, requester_email,
                                    identity_verification, identity_checked_at, description)
  values (p_user_id, v_law, v_kind, 'requested', v_at, v_at + private.data_request_period(v_law), p_channel, v_email,
          p_identity, case when p_identity <> 'pending' then now() end, nullif(btrim(coalesce(p_description, '')), ''))
  returning * into req;
  perform private.write_audit_log(null, p_user_id, 'data_request.received', 'data_request', req.id::text,
                                  jsonb_build_object('law', req.law, 'kind', req.kind, 'channel', req.channel,
                                                     'due_at', req.due_at), null);
  return req;
end
$$;
comment on function private.insert_data_request(uuid, text, text, text, text, timestamptz, text, text) is
  'Records a data-subject request (checks its law and kind, and the CCPA''s two per 12 months) and audits it. '
  'Called by file_data_request() and file_emailed_data_request().';
revoke all on function private.insert_data_request(uuid, text, text, text, text, timestamptz, text, text)
  from public, anon, authenticated, service_role;

create function private.carry_out_data_request(p_request_id uuid)
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  req public.data_requests;
begin
  select * into req from public.data_requests r where r.id = p_request_id for update;
  if req.identity_verification <> 'verified' or req.status not in ('requested', 'in_progress') then
    return req;
  end if;
  if req.user_id is not null and req.kind = 'restriction' then
    perform private.restrict_processing(req.user_id, req.channel, req.id);
    update public.data_requests r set status = 'completed', completed_at = now(),
           outcome = 'Processing of your account is restricted: nothing is sent, called or launched on its behalf '
                     'until the restriction is lifted. Messages that arrive are still stored.'
     where r.id = req.id returning * into req;
  elsif req.user_id is not null and req.kind = 'withdraw_consent' then
    perform private.record_consent(req.user_id, 'product_emails', false,
                                   case req.channel when 'email' then 'email_request' else 'data_request' end);
    update public.data_requests r set status = 'completed', completed_at = now(),
           outcome = 'Your consent to product e-mails is withdrawn; you will get none.'
     where r.id = req.id returning * into req;
  elsif req.status = 'requested' then
    update public.data_requests r set status = 'in_progress' where r.id = req.id returning * into req;
  end if;
  return req;
end
$$;
comment on function private.carry_out_data_request(uuid) is
  'Once a request''s requester is verified: a restriction or a withdrawal of consent of a known user takes effect '
  'at once (the request completes); any other request is in_progress until the operator answers it.';
revoke all on function private.carry_out_data_request(uuid) from public, anon, authenticated, service_role;

create function public.file_data_request(p_law text, p_kind text, p_description text default null)
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req public.data_requests;
begin
  if uid is null or not exists (select 1 from public.profiles p where p.id = uid) then
    raise exception 'sign in to make a request about your data' using errcode = '42501';
  end if;
  req := private.insert_data_request(uid, null, p_law, p_kind, 'product', now(), 'verified', p_description);
  return private.carry_out_data_request(req.id);
end
$$;
comment on function public.file_data_request(text, text, text) is
  'The caller files a data-subject request about their own account (their sign-in verifies them): due in 30 days '
  '(gdpr, pipeda) or 45 (ccpa). A restriction or a withdrawal of consent takes effect at once.';
revoke all on function public.file_data_request(text, text, text) from public, anon, service_role;
grant execute on function public.file_data_request(text, text, text) to authenticated;

create function private.file_emailed_data_request(p_email text, p_law text, p_kind text,
                                                  p_received_at timestamptz default now(), p_description text default null)
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  v_email text := lower(btrim(coalesce(p_email, '')));
  v_user uuid;
begin
  if v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or char_length(v_email) > 320 then
    raise exception 'the requester''s e-mail address is not valid' using errcode = '22023',
          detail = jsonb_build_object('code', 'invalid_email')::text;
  end if;
  -- The account it is about, when the address is one; who they are is still to be verified.
  select u.id into v_user from auth.users u where lower(u.email) = v_email order by u.created_at limit 1;
  return private.insert_data_request(v_user, v_email, p_law, p_kind, 'email', p_received_at, 'pending', p_description);
end
$$;
comment on function private.file_emailed_data_request(text, text, text, timestamptz, text) is
  'The operator records a request received by e-mail (received when the e-mail arrived): linked to the account '
  'with that address if there is one, identity pending.';
revoke all on function private.file_emailed_data_request(text, text, text, timestamptz, text) from public, anon, authenticated;
grant execute on function private.file_emailed_data_request(text, text, text, timestamptz, text) to service_role;

create function private.verify_data_request(p_request_id uuid, p_verified boolean, p_note text default null)
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  req public.data_requests;
begin
  update public.data_requests r
     set identity_verification = case when p_verified then 'verified' else 'failed' end,
         identity_checked_at = now(),
         status = case when p_verified then r.status else 'refused' end,
         completed_at = case when p_verified then null else now() end,
         outcome = case when p_verified then r.outcome
                        else coalesce(nullif(btrim(coalesce(p_note, '')), ''),
                                      'We could not verify that you are the person this request is about.') end
   where r.id = p_request_id and r.law is not null and r.identity_verification = 'pending' and r.status = 'requested'
  returning * into req;
  if req.id is null then
    raise exception 'no request waiting for an identity check has that id' using errcode = 'P0002';
  end if;
  perform private.write_audit_log(null, null, 'data_request.identity_checked', 'data_request', req.id::text,
                                  jsonb_build_object('verified', p_verified), null);
  return private.carry_out_data_request(req.id);
end
$$;
comment on function private.verify_data_request(uuid, boolean, text) is
  'The operator records the identity check of an e-mailed request: verified (restriction and withdrawal of consent '
  'then take effect, anything else is in_progress), or not (the request is refused, p_note saying why).';
revoke all on function private.verify_data_request(uuid, boolean, text) from public, anon, authenticated;
grant execute on function private.verify_data_request(uuid, boolean, text) to service_role;

create function private.close_data_request(p_request_id uuid, p_outcome text, p_refused boolean default false)
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  req public.data_requests;
begin
  if nullif(btrim(coalesce(p_outcome, '')), '') is null or char_length(p_outcome) > 2000 then
    raise exception 'say what was done, or why it was refused, in at most 2000 characters' using errcode = '22023',
          detail = jsonb_build_object('code', 'invalid_outcome')::text;
  end if;
  select * into req from public.data_requests r where r.id = p_request_id and r.law is not null for update;
  if req.id is null or req.status not in ('requested', 'in_progress') then
    raise exception 'no open request has that id' using errcode = 'P0002';
  end if;
  if not p_refused and req.identity_verification <> 'verified' then
    raise exception 'verify the requester''s identity before answering the request' using errcode = '55000',
          detail = jsonb_build_object('code', 'identity_not_verified')::text;
  end if;
  update public.data_requests r
     set status = case when p_refused then 'refused' else 'completed' end, completed_at = now(),
         outcome = btrim(p_outcome)
   where r.id = req.id returning * into req;
  perform private.write_audit_log(null, null, 'data_request.closed', 'data_request', req.id::text,
                                  jsonb_build_object('status', req.status, 'on_time', req.completed_at <= req.due_at), null);
  return req;
end
$$;
comment on function private.close_data_request(uuid, text, boolean) is
  'The operator answers an open request: completed (its requester verified) or refused, with the outcome.';
revoke all on function private.close_data_request(uuid, text, boolean) from public, anon, authenticated;
grant execute on function private.close_data_request(uuid, text, boolean) to service_role;

create function private.data_requests_open(p_now timestamptz default now())
returns table (id uuid, law text, kind text, channel text, requester text, user_id uuid, received_at timestamptz,
               due_at timestamptz, overdue boolean, days_left integer, identity_verification text, status text)
language sql stable security definer
set search_path = ''
as $$
  select r.id, r.law, r.kind, r.channel, coalesce(r.requester_email, p.email), r.user_id, r.requested_at, r.due_at,
         r.due_at < p_now, floor(extract(epoch from r.due_at - p_now) / 86400)::integer,
         r.identity_verification, r.status
    from public.data_requests r
    left join public.profiles p on p.id = r.user_id
   where r.law is not null and r.status in ('requested', 'in_progress')
   order by r.due_at, r.requested_at
$$;
comment on function private.data_requests_open(timestamptz) is
  'The data-subject requests still to answer, soonest due first, each saying whether it is overdue.';
revoke all on function private.data_requests_open(timestamptz) from public, anon, authenticated;
grant execute on function private.data_requests_open(timestamptz) to service_role;

-- ---------------------------------------------------------------------------------------
-- Adults only: an account reported as a minor's is deleted at once, with no grace period, by the
-- same job that carries out every deletion (so Twilio and Stripe are cleaned up alike).

create function private.delete_reported_minor(p_user_id uuid)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  req_id uuid;
  run jsonb;
  done public.data_requests;
begin
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception 'no such account' using errcode = 'P0002';
  end if;
  insert into public.data_requests (user_id, kind, status, scheduled_for, details)
  values (p_user_id, 'deletion', 'scheduled', now(), jsonb_build_object('reason', 'minor'))
  on conflict (user_id) where kind = 'deletion' and status in ('requested', 'scheduled', 'failed')
  do update set status = 'scheduled', scheduled_for = least(now(), public.data_requests.requested_at + interval '30 days'),
                details = public.data_requests.details || jsonb_build_object('reason', 'minor')
  returning id into req_id;
  perform private.write_audit_log(null, null, 'account.reported_minor', 'data_request', req_id::text, '{}'::jsonb, null);
  run := private.delete_due_accounts(now());
  select * into done from public.data_requests r where r.id = req_id;
  return jsonb_build_object('request_id', req_id, 'deleted', done.status = 'completed',
                            'error', done.details -> 'last_error', 'run', run);
end
$$;
comment on function private.delete_reported_minor(uuid) is
  'The operator deletes an account reported as a minor''s now (`numeraloop privacy delete-minor`): its deletion '
  'request is due at once and private.delete_due_accounts() runs (carrying out any other due deletion too).';
revoke all on function private.delete_reported_minor(uuid) from public, anon, authenticated;
grant execute on function private.delete_reported_minor(uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Export
--
-- Every read runs as the caller (security invoker), so an agent's export has no invoices,
-- payment methods, webhook endpoints, deliveries, invitations or audit log (admins only), and no
-- row of a workspace the caller is not a member of. A table the caller may not SELECT yields an
-- empty list, not an error; a column they may not read (workspace_invitations.token_hash) is left
-- out, as are the columns listed as omitted (webhook_endpoints.secret); nothing is read from
-- `private`.
--
-- What is exported is one list, private.export_tables(): the tables of each workspace and the
-- caller's own. public.export_my_data() builds the whole document in one call (PostgREST, small
-- accounts); the service streams the same document, or a zip of one CSV per table, from the same
-- list and the same helpers (GET /api/v1/me/export: service/numeraloop/privacy/export.py), so a
-- workspace of millions of messages never sits in memory. Tables are read by name when the export
-- runs, so the list also names tables that later migrations create (campaigns, billing, notices);
-- a name with no table behind it is skipped.
--
-- Each export is a data_request: begun (in_progress) by private.begin_data_export(), which also
-- holds the rate limit, and completed with its row counts (and a data.export audit row) by
-- private.finish_data_export().

create function private.export_tables()
returns table (section text, table_name text, owner_column text, order_by text, omitted_columns text[])
language sql stable
set search_path = ''
as $$
  select t.section, t.table_name, t.owner_column, t.order_by, t.omitted_columns
    from (values
      -- per workspace
      (1,   'workspace', 'twilio_accounts',       'workspace_id', 'connected_at', '{}'::text[]),
      (2,   'workspace', 'phone_numbers',         'workspace_id', 'created_at',   '{}'),
      (3,   'workspace', 'call_routing_rules',    'workspace_id', 'created_at',   '{}'),
      (4,   'workspace', 'contacts',              'workspace_id', 'created_at',   '{}'),
      (5,   'workspace', 'contact_lists',         'workspace_id', 'created_at',   '{}'),
      (6,   'workspace', 'contact_list_members',  'workspace_id', 'added_at',     '{}'),
      (7,   'workspace', 'contact_imports',       'workspace_id', 'started_at',   '{}'),
      (8,   'workspace', 'opt_outs',              'workspace_id', 'opted_out_at', '{}'),
      (9,   'workspace', 'opt_out_events',        'workspace_id', 'occurred_at',  '{}'),
      (10,  'workspace', 'conversations',         'workspace_id', 'created_at',   '{}'),
      (11,  'workspace', 'conversation_notes',    'workspace_id', 'created_at',   '{}'),
      -- messages carry their media (message_media) nested as `media`; the CSV has both files
      (12,  'workspace', 'messages',              'workspace_id', 'created_at',   '{}'),
      (13,  'workspace', 'calls',                 'workspace_id', 'created_at',   '{}'),
      (14,  'workspace', 'canned_messages',       'workspace_id', 'created_at',   '{}'),
      (15,  'workspace', 'keyword_triggers',      'workspace_id', 'created_at',   '{}'),
      (16,  'workspace', 'auto_reply_rules',      'workspace_id', 'created_at',   '{}'),
      (17,  'workspace', 'campaigns',             'workspace_id', 'created_at',   '{}'),
      (18,  'workspace', 'campaign_recipients',   'workspace_id', 'id',           '{}'),
      (19,  'workspace', 'message_prices',        'workspace_id', 'created_at',   '{}'),
      (20,  'workspace', 'webhook_endpoints',     'workspace_id', 'created_at',   '{secret}'),
      (21,  'workspace', 'webhook_deliveries',    'workspace_id', 'created_at',   '{}'),
      (22,  'workspace', 'workspace_invitations', 'workspace_id', 'created_at',   '{token_hash}'),
      (23,  'workspace', 'audit_log',             'workspace_id', 'id',           '{}'),
      (24,  'workspace', 'billing_customers',     'workspace_id', 'created_at',   '{}'),
      (25,  'workspace', 'subscriptions',         'workspace_id', 'created_at',   '{}'),
      (26,  'workspace', 'invoices',              'workspace_id', 'stripe_created', '{}'),
      (27,  'workspace', 'payment_methods',       'workspace_id', 'created_at',   '{}'),
      -- the caller's own, in no workspace
      (28,  'user', 'access_log',              'user_id', 'id',           '{}'),
      (29,  'user', 'data_requests',           'user_id', 'requested_at', '{}'),
      (30,  'user', 'processing_restrictions', 'user_id', 'restricted_at', '{}'),
      (31,  'user', 'consent_events',          'user_id', 'recorded_at',  '{}'),
      (32,  'user', 'notice_emails',           'user_id', 'created_at',   '{}')
    ) t(position, section, table_name, owner_column, order_by, omitted_columns)
   where to_regclass('public.' || t.table_name) is not null
   order by t.position
$$;
comment on function private.export_tables() is
  'What an export holds, in order: each workspace''s tables (section workspace: rows whose workspace_id is the '
  'workspace; messages carry their media) and the caller''s own (section user: rows whose user_id is theirs), '
  'with the column rows are ordered by and the columns never exported (secrets). A table users can read '
  'belongs here (tests/privacy/test_export_catalog.py holds the catalog against it).';
grant execute on function private.export_tables() to authenticated;

create function private.export_columns(p_table text, p_omitted_columns text[] default '{}')
returns text[]
language sql stable security invoker
set search_path = ''
as $$
  select coalesce(array_agg(a.attname::text order by a.attnum), '{}')
    from pg_catalog.pg_attribute a
   where a.attrelid = to_regclass('public.' || p_table) and a.attnum > 0 and not a.attisdropped
     and a.attname <> all(coalesce(p_omitted_columns, '{}'))
     and has_column_privilege(a.attrelid, a.attnum, 'select')
$$;
comment on function private.export_columns(text, text[]) is
  'The columns of public.<p_table> an export of the caller''s carries, in table order: those they may SELECT, '
  'less p_omitted_columns. Empty when they may read none (or there is no such table).';
grant execute on function private.export_columns(text, text[]) to authenticated;

create function private.export_rows(p_table text, p_owner_column text, p_owner uuid, p_order_by text,
                                    p_omitted_columns text[] default '{}')
returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  cols text[] := private.export_columns(p_table, p_omitted_columns);
  rows_ jsonb;
begin
  if cardinality(cols) = 0 or not (p_owner_column = any(cols)) then
    return '[]'::jsonb;
  end if;
  -- Ties in the order column (a reply stamped with its message's time) are broken by id, as the
  -- service's streamed export breaks them.
  execute format('select coalesce(jsonb_agg(to_jsonb(r) order by r.%I%s), ''[]''::jsonb) '
                 'from (select %s from public.%I x where x.%I = $1) r',
                 p_order_by, case when 'id' = any(cols) and p_order_by <> 'id' then ', r.id' else '' end,
                 (select string_agg(format('x.%I', c), ', ') from unnest(cols) c), p_table, p_owner_column)
     into rows_ using p_owner;
  return rows_;
end
$$;
comment on function private.export_rows(text, text, uuid, text, text[]) is
  'The rows of public.<p_table> whose <p_owner_column> is p_owner, as a JSON array ordered by <p_order_by>, '
  'with the columns private.export_columns() gives. Security invoker: RLS and grants decide what the caller '
  'gets; a table they cannot SELECT yields []. Identifiers are quoted with %I; values are bound, never spliced.';
grant execute on function private.export_rows(text, text, uuid, text, text[]) to authenticated;

create function private.data_inventory()
returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'summary', 'What NumeraLoop holds about you and your workspaces, where it comes from, why, and for how long. '
               'Everything listed is in this export, as far as your role lets you read it.',
    'categories', jsonb_build_array(
      jsonb_build_object('category', 'Account',
        'data', 'Your name, e-mail address, preferences, when you confirmed you are 18 or older, when you last signed in; your memberships and roles.',
        'tables', jsonb_build_array('profiles', 'workspace_members', 'workspace_invitations'),
        'source', 'You, when you sign up and change your settings; the admins who invite you.',
        'purposes', jsonb_build_array('to provide the service to you', 'to let your team work together'),
        'retention', 'Until you delete your account (deleted within 30 days of the request).'),
      jsonb_build_object('category', 'Telephony setup',
        'data', 'Your workspace''s Twilio account (its SID and name; never its secrets, which are encrypted and never exported), phone numbers, call routing rules.',
        'tables', jsonb_build_array('twilio_accounts', 'phone_numbers', 'call_routing_rules'),
        'source', 'Your workspace''s admins, and Twilio.',
        'purposes', jsonb_build_array('to send and receive your texts and calls through your Twilio account'),
        'retention', 'Until the workspace is deleted.'),
      jsonb_build_object('category', 'Contacts and consent records',
        'data', 'The people your workspace texts and calls: phone number, name, e-mail, tags, lists; their opt-outs and opt-ins with when and how.',
        'tables', jsonb_build_array('contacts', 'contact_lists', 'contact_list_members', 'contact_imports', 'opt_outs', 'opt_out_events'),
        'source', 'Your team, your imports, and people who text or call your numbers.',
        'purposes', jsonb_build_array('to run your inbox and campaigns', 'to honour opt-outs (a legal obligation)'),
        'retention', 'Until your team deletes them or the workspace is deleted; contacts created only by an inbound text or call go with its 90-day log.'),
      jsonb_build_object('category', 'Messages and calls',
        'data', 'Texts (bodies and media links), conversations and your team''s notes on them, calls (numbers, times, durations, recording references).',
        'tables', jsonb_build_array('conversations', 'conversation_notes', 'messages', 'message_media', 'calls'),
        'source', 'You and your team, the people who text and call your numbers, and Twilio''s delivery reports.',
        'purposes', jsonb_build_array('to provide the shared inbox and calling'),
        'retention', '90 days, then deleted.'),
      jsonb_build_object('category', 'Campaigns and automations',
        'data', 'Campaigns and their recipients, canned messages, keyword triggers, auto-replies, message prices.',
        'tables', jsonb_build_array('campaigns', 'campaign_recipients', 'canned_messages', 'keyword_triggers', 'auto_reply_rules', 'message_prices'),
        'source', 'Your team.',
        'purposes', jsonb_build_array('to send what your team sets up'),
        'retention', 'Until your team deletes them or the workspace is deleted.'),
      jsonb_build_object('category', 'Integrations',
        'data', 'Your webhook endpoints (never their signing secrets) and the events sent to them.',
        'tables', jsonb_build_array('webhook_endpoints', 'webhook_deliveries'),
        'source', 'Your workspace''s admins; the events are the product''s.',
        'purposes', jsonb_build_array('to tell your systems what happened'),
        'retention', 'Endpoints until deleted; deliveries 30 days.'),
      jsonb_build_object('category', 'Billing',
        'data', 'Stripe customer and subscription references, invoices, the brand, last four digits and expiry of payment cards (never the card number).',
        'tables', jsonb_build_array('billing_customers', 'subscriptions', 'invoices', 'payment_methods'),
        'source', 'Stripe.',
        'purposes', jsonb_build_array('to bill for the service', 'to keep accounting records (a legal obligation)'),
        'retention', 'Invoices 7 years (kept without your name after a deletion); the rest until the workspace is deleted.'),
      jsonb_build_object('category', 'Security and privacy records',
        'data', 'Which API routes you called, when and from which address; what was changed in your workspaces and by whom; your privacy requests, restriction, e-mail consent and the notices sent to you.',
        'tables', jsonb_build_array('access_log', 'audit_log', 'data_requests', 'processing_restrictions', 'consent_events', 'notice_emails'),
        'source', 'The product, as you and your team use it.',
        'purposes', jsonb_build_array('to keep the service and your data secure', 'to show we keep our privacy promises'),
        'retention', 'Security and access logs 12 months; privacy records as long as the law requires.')),
    'processors', jsonb_build_array(
      jsonb_build_object('name', 'Twilio', 'what', 'Carries your texts and calls, and keeps your call recordings when you turn recording on.',
                         'data', 'Phone numbers, message content, call audio.'),
      jsonb_build_object('name', 'Stripe', 'what', 'Takes payments and keeps billing records.',
                         'data', 'Your workspace''s billing contact, payment cards, invoices.'),
      jsonb_build_object('name', 'Supabase', 'what', 'Hosts the database and sign-in.',
                         'data', 'Everything listed here, encrypted at rest.')),
    'your_rights', 'Ask for access, correction, deletion, restriction, portability, objection, or withdraw consent '
                   '(GDPR); know, delete, correct, limit (CCPA); access and correction (PIPEDA): in the product, or by e-mail.')
$$;
comment on function private.data_inventory() is
  'The "what we hold and why" section of every export: categories of data with their tables, sources, purposes '
  'and retention, and the processors (Twilio, Stripe, Supabase).';
grant execute on function private.data_inventory() to authenticated;

-- Per user, at most this many exports in this window: one reads everything the user can see.
create function private.export_rate_limit(out max_exports integer, out per interval)
language sql immutable
set search_path = ''
as $$ select 5, interval '1 hour' $$;
comment on function private.export_rate_limit() is
  'How many exports a user may start per window (5 an hour); begin_data_export() refuses the next with P0429.';

create function private.begin_data_export(p_format text)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  lim record;
  oldest timestamptz;
  req_id uuid;
begin
  select * into lim from private.export_rate_limit();
  if uid is null then
    raise exception 'sign in to export your data' using errcode = '42501';
  end if;
  if p_format is null or p_format not in ('json', 'csv') then
    raise exception 'format must be json or csv' using errcode = '22023';
  end if;
  if not exists (select 1 from public.profiles p where p.id = uid) then
    -- A still-valid token of an account deleted since it was issued.
    raise exception 'this account no longer exists' using errcode = '42501';
  end if;
  -- Two exports starting at once count each other.
  perform pg_advisory_xact_lock(hashtextextended('numeraloop.export:' || uid::text, 0));
  select r.requested_at into oldest from public.data_requests r
   where r.user_id = uid and r.kind = 'export' and r.requested_at > now() - lim.per
   order by r.requested_at desc offset lim.max_exports - 1 limit 1;
  if oldest is not null then
    raise exception 'you have started % exports in the last % minutes; try again later', lim.max_exports,
                    extract(epoch from lim.per)::integer / 60
      using errcode = 'P0429',
            detail = jsonb_build_object('code', 'export_rate_limited',
                                        'retry_after', greatest(1, ceil(extract(epoch from oldest + lim.per - now()))::integer))::text;
  end if;
  insert into public.data_requests (user_id, kind, status, details)
  values (uid, 'export', 'in_progress', jsonb_build_object('format', p_format))
  returning id into req_id;
  return req_id;
end
$$;
comment on function private.begin_data_export(text) is
  'Records that the caller starts an export (a data_request in_progress) and returns its id; P0429 (DETAIL code '
  'export_rate_limited, retry_after in seconds) past private.export_rate_limit().';
revoke all on function private.begin_data_export(text) from public, anon, service_role;
grant execute on function private.begin_data_export(text) to authenticated;

create function private.finish_data_export(p_request_id uuid, p_counts jsonb, p_completed boolean default true)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req public.data_requests;
begin
  update public.data_requests r
     set status = case when p_completed then 'completed' else 'failed' end,
         completed_at = case when p_completed then now() end,
         details = r.details || jsonb_build_object('counts', coalesce(p_counts, '{}'::jsonb))
   where r.id = p_request_id and r.user_id = uid and r.kind = 'export' and r.status = 'in_progress'
  returning * into req;
  if req.id is null then
    raise exception 'no export of yours is in progress with that id' using errcode = 'P0002';
  end if;
  perform private.write_audit_log(null, uid, case when p_completed then 'data.export' else 'data.export_failed' end,
                                  'data_request', req.id::text,
                                  jsonb_build_object('format', req.details ->> 'format', 'counts', p_counts), null);
end
$$;
comment on function private.finish_data_export(uuid, jsonb, boolean) is
  'Completes the caller''s export (or marks it failed: it stopped before its end) with its row counts, and writes '
  'a data.export (data.export_failed) audit row with the format and counts only.';
revoke all on function private.finish_data_export(uuid, jsonb, boolean) from public, anon, service_role;
grant execute on function private.finish_data_export(uuid, jsonb, boolean) to authenticated;

-- Security invoker: every read below runs under the caller's RLS, so the export is at most
-- what the caller can already read, whatever the filters say.
create function public.export_my_data(p_format text default 'json')
returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req_id uuid;
  ws_ids uuid[];
  v_profile jsonb;
  v_memberships jsonb;
  v_workspaces jsonb := '[]'::jsonb;
  v_workspace jsonb;
  v_user jsonb := '{}'::jsonb;
  v_counts jsonb := '{}'::jsonb;
  v_rows jsonb;
  w record;
  t record;
begin
  req_id := private.begin_data_export(p_format);
  ws_ids := array(select private.workspace_ids_for_current_user());

  select to_jsonb(p) into v_profile from public.profiles p where p.id = uid;
  select coalesce(jsonb_agg(to_jsonb(m) order by m.created_at), '[]') into v_memberships
    from public.workspace_members m where m.user_id = uid;

  for w in select x.id, to_jsonb(x) as row_ from public.workspaces x where x.id = any(ws_ids) order by x.created_at loop
    v_workspace := w.row_;
    for t in select * from private.export_tables() e where e.section = 'workspace' loop
      v_rows := private.export_rows(t.table_name, t.owner_column, w.id, t.order_by, t.omitted_columns);
      if t.table_name = 'messages' then
        select coalesce(jsonb_agg(m || jsonb_build_object('media',
                 (select coalesce(jsonb_agg(to_jsonb(mm) order by mm.position), '[]')
                    from public.message_media mm
                   where mm.workspace_id = w.id and mm.message_id = (m ->> 'id')::uuid))
                 order by ord), '[]')
          into v_rows from jsonb_array_elements(v_rows) with ordinality e(m, ord);
        v_counts := jsonb_set(v_counts, '{message_media}', to_jsonb(coalesce((v_counts ->> 'message_media')::bigint, 0)
                      + (select coalesce(sum(jsonb_array_length(m -> 'media')), 0) from jsonb_array_elements(v_rows) m)));
      end if;
      v_workspace := v_workspace || jsonb_build_object(t.table_name, v_rows);
      v_counts := jsonb_set(v_counts, array[t.table_name],
                            to_jsonb(coalesce((v_counts ->> t.table_name)::bigint, 0) + jsonb_array_length(v_rows)));
    end loop;
    v_workspaces := v_workspaces || jsonb_build_array(v_workspace);
  end loop;
  v_counts := v_counts || jsonb_build_object('workspaces', jsonb_array_length(v_workspaces));

  for t in select * from private.export_tables() e where e.section = 'user' and e.table_name <> 'data_requests' loop
    v_rows := private.export_rows(t.table_name, t.owner_column, uid, t.order_by, t.omitted_columns);
    v_user := v_user || jsonb_build_object(t.table_name, v_rows);
    v_counts := v_counts || jsonb_build_object(t.table_name, jsonb_array_length(v_rows));
  end loop;

  perform private.finish_data_export(req_id, v_counts);
  -- Read after finishing, so the export lists itself, completed, among the requests.
  v_user := v_user || jsonb_build_object('data_requests',
              private.export_rows('data_requests', 'user_id', uid, 'requested_at'));

  return jsonb_build_object(
    'format_version', 2,
    'exported_at', now(),
    'user_id', uid,
    'what_we_hold', private.data_inventory(),
    'profile', v_profile,
    'memberships', v_memberships,
    'workspaces', v_workspaces) || v_user;
end
$$;
comment on function public.export_my_data(text) is
  'Everything the caller can read about themself and in their workspaces, as one JSON document: what we hold '
  'and why (private.data_inventory()), their profile and memberships, per workspace the tables of '
  'private.export_tables() (messages with their media), and their own rows (access log, data requests, '
  'restriction, consent, notices). Runs as the caller (RLS applies: admin-only tables are empty for agents). '
  'Records the export as a data_request (rate-limited: private.export_rate_limit()) and a data.export audit '
  'row with row counts; p_format (json|csv) is how the caller delivers it, recorded only. The service streams '
  'the same document for large accounts (GET /api/v1/me/export).';

revoke all on function public.export_my_data(text) from public, anon, service_role;
grant execute on function public.export_my_data(text) to authenticated;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
