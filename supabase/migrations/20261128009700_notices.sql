-- Notices: the versions of the privacy policy and terms, and the e-mails that tell users about a
-- material change or a personal-data breach.
--
--   public.policy_versions     each published version with its effective date. A material change
--                              is published at least 14 days before it takes effect; from then
--                              every signed-in user sees it (GET /api/v1/me `notices`,
--                              private.policy_notices()) until 30 days after, and is e-mailed once.
--   public.notice_emails       each notice e-mailed to a user (a policy change or a breach) and
--                              whether it was sent; the user reads their own. The worker claims
--                              policy notices due (private.claim_policy_notice_emails) and records
--                              each outcome (private.complete_notice_email).
--   private.breach_notifications
--                              each breach notification the operator sent (`numeraloop privacy
--                              notify --workspace ...`): which workspaces, when the breach was
--                              detected and when its users were told (GDPR Art. 33-34: 72 hours).

create table public.policy_versions (
  id uuid primary key default gen_random_uuid(),
  document text not null check (document in ('privacy_policy', 'terms_of_service')),
  version text not null check (char_length(version) between 1 and 40),
  summary text not null check (char_length(summary) between 1 and 2000),
  url text check (url ~ '^https?://' and char_length(url) <= 2000),
  material boolean not null default false,
  published_at timestamptz not null default now(),
  effective_at timestamptz not null,
  constraint policy_versions_document_version_key unique (document, version),
  -- Users are told 14 days ahead of a material change; a minor one (wording) may take effect at once.
  constraint policy_versions_material_notice check (not material or effective_at >= published_at + interval '14 days')
);
create index policy_versions_effective_idx on public.policy_versions (effective_at) where material;
comment on table public.policy_versions is
  'Published versions of the privacy policy and terms with their effective dates; material changes are '
  'announced 14 days ahead. Every signed-in user reads them; written only by private.publish_policy_version().';

alter table public.policy_versions enable row level security;
create policy policy_versions_select_all on public.policy_versions for select to authenticated using (true);
revoke all on public.policy_versions from anon, authenticated, service_role;
grant select on public.policy_versions to authenticated, service_role;

create function private.publish_policy_version(p_document text, p_version text, p_effective_at timestamptz,
                                               p_summary text, p_material boolean, p_url text default null)
returns public.policy_versions
language plpgsql security definer
set search_path = ''
as $$
declare
  v public.policy_versions;
begin
  if p_material and p_effective_at < now() + interval '14 days' then
    raise exception 'a material change takes effect at least 14 days after it is published (on or after %)',
                    to_char((now() + interval '14 days') at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
      using errcode = '22023', detail = jsonb_build_object('code', 'notice_period_too_short')::text;
  end if;
  insert into public.policy_versions (document, version, summary, url, material, effective_at)
  values (p_document, btrim(p_version), btrim(p_summary), nullif(btrim(coalesce(p_url, '')), ''), p_material,
          p_effective_at)
  returning * into v;
  perform private.write_audit_log(null, null, 'policy.published', 'policy_version', v.id::text,
                                  jsonb_build_object('document', v.document, 'version', v.version,
                                                     'material', v.material, 'effective_at', v.effective_at), null);
  return v;
end
$$;
comment on function private.publish_policy_version(text, text, timestamptz, text, boolean, text) is
  'The operator publishes a policy version (`numeraloop privacy publish-policy`); a material one 14 days ahead.';
revoke all on function private.publish_policy_version(text, text, timestamptz, text, boolean, text)
  from public, anon, authenticated;
grant execute on function private.publish_policy_version(text, text, timestamptz, text, boolean, text) to service_role;

-- The window in which users are told of a material change: in the product from 14 days before it
-- takes effect until 30 days after; by e-mail once, before it takes effect.
create function private.policy_notices(p_now timestamptz default now())
returns setof public.policy_versions
language sql stable security invoker
set search_path = ''
as $$
  select v.* from public.policy_versions v
   where v.material and v.published_at <= p_now
     and p_now >= v.effective_at - interval '14 days' and p_now < v.effective_at + interval '30 days'
   order by v.effective_at, v.document
$$;
comment on function private.policy_notices(timestamptz) is
  'The material policy changes users are shown now: from 14 days before each takes effect until 30 days after.';
grant execute on function private.policy_notices(timestamptz) to authenticated, service_role;

create table private.breach_notifications (
  id uuid primary key default gen_random_uuid(),
  workspace_ids uuid[] not null check (cardinality(workspace_ids) > 0),
  subject text not null check (char_length(subject) between 1 and 200),
  detected_at timestamptz,
  notified_at timestamptz not null default now(),
  recipients integer not null default 0
);
comment on table private.breach_notifications is
  'Breach notifications the operator sent: to the users of which workspaces, when the breach was detected and '
  'when they were told. Service only.';
revoke all on private.breach_notifications from public, anon, authenticated;
grant select on private.breach_notifications to service_role;

create table public.notice_emails (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  kind text not null check (kind in ('policy_change', 'breach')),
  policy_version_id uuid references public.policy_versions (id) on delete cascade,
  breach_notification_id uuid references private.breach_notifications (id) on delete set null,
  subject text not null check (char_length(subject) between 1 and 200),
  status text not null default 'sending' check (status in ('sending', 'sent', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  claimed_until timestamptz,
  last_error text check (char_length(last_error) <= 500),
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  constraint notice_emails_policy_change_names_its_version check ((kind = 'policy_change') = (policy_version_id is not null)),
  constraint notice_emails_sent_at check ((status = 'sent') = (sent_at is not null))
);
create unique index notice_emails_policy_user_key on public.notice_emails (policy_version_id, user_id)
  where kind = 'policy_change';
create index notice_emails_user_idx on public.notice_emails (user_id, created_at desc);
create index notice_emails_retry_idx on public.notice_emails (claimed_until) where status <> 'sent';
comment on table public.notice_emails is
  'Each notice e-mailed to a user (a material policy change, a breach) and whether it went. The user reads their '
  'own; written only by the notice functions.';

alter table public.notice_emails enable row level security;
create policy notice_emails_select_own on public.notice_emails for select to authenticated
  using (user_id = (select auth.uid()));
revoke all on public.notice_emails from anon, authenticated, service_role;
grant select on public.notice_emails to authenticated, service_role;

-- At most this many attempts per e-mail, a lease apart (a failed one is retried after its lease).
create function private.notice_email_attempts() returns integer
language sql immutable set search_path = '' as $$ select 5 $$;

create function private.claim_policy_notice_emails(p_limit integer default 50, p_lease_seconds integer default 300,
                                                   p_now timestamptz default now())
returns table (notice_id uuid, user_id uuid, email text, full_name text, subject text, document text, version text,
               summary text, url text, effective_at timestamptz)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_ids uuid[];
begin
  -- Retries first: claimed before and not sent (the worker failed or died), their lease over.
  select coalesce(array_agg(n.id), '{}') into v_ids from (
    select n.id from public.notice_emails n
      join public.policy_versions v on v.id = n.policy_version_id
     where n.kind = 'policy_change' and n.status <> 'sent' and n.claimed_until < p_now
       and n.attempts < private.notice_email_attempts() and p_now < v.effective_at
     order by n.claimed_until limit greatest(p_limit, 0)
       for update of n skip locked) n;
  update public.notice_emails n set status = 'sending', attempts = n.attempts + 1,
         claimed_until = p_now + make_interval(secs => p_lease_seconds)
   where n.id = any(v_ids);

  -- Then the users not yet e-mailed about a change whose e-mail window is open (once, before it takes effect).
  with fresh as (
    insert into public.notice_emails (user_id, kind, policy_version_id, subject, attempts, claimed_until)
    select p.id, 'policy_change', v.id,
           left(format('Our %s changes on %s', replace(v.document, '_', ' '),
                       to_char(v.effective_at at time zone 'UTC', 'FMDD Month YYYY')), 200),
           1, p_now + make_interval(secs => p_lease_seconds)
      from private.policy_notices(p_now) v
      cross join public.profiles p
     where p_now < v.effective_at and p.email is not null
       and not exists (select 1 from public.notice_emails n where n.policy_version_id = v.id and n.user_id = p.id)
     order by v.effective_at, p.id
     limit greatest(p_limit - cardinality(v_ids), 0)
    on conflict (policy_version_id, user_id) where kind = 'policy_change' do nothing
    returning id)
  select v_ids || coalesce(array_agg(id), '{}') into v_ids from fresh;

  return query
    select n.id, n.user_id, p.email, p.full_name, n.subject, v.document, v.version, v.summary, v.url, v.effective_at
      from public.notice_emails n
      join public.policy_versions v on v.id = n.policy_version_id
      join public.profiles p on p.id = n.user_id
     where n.id = any(v_ids)
     order by n.created_at, n.id;
end
$$;
comment on function private.claim_policy_notice_emails(integer, integer, timestamptz) is
  'The policy-change e-mails to send now, claimed for p_lease_seconds (skip locked: two workers never send one '
  'twice): each user once per material change, before it takes effect; failed ones retried after their lease.';
revoke all on function private.claim_policy_notice_emails(integer, integer, timestamptz) from public, anon, authenticated;
grant execute on function private.claim_policy_notice_emails(integer, integer, timestamptz) to service_role;

create function private.complete_notice_email(p_notice_id uuid, p_sent boolean, p_error text default null)
returns void
language sql security definer
set search_path = ''
as $$
  update public.notice_emails
     set status = case when p_sent then 'sent' else 'failed' end,
         sent_at = case when p_sent then now() end,
         last_error = case when p_sent then null else left(p_error, 500) end
   where id = p_notice_id and status <> 'sent'
$$;
comment on function private.complete_notice_email(uuid, boolean, text) is
  'Records whether a notice e-mail went (an error code or the SMTP reply when not; never the content).';
revoke all on function private.complete_notice_email(uuid, boolean, text) from public, anon, authenticated;
grant execute on function private.complete_notice_email(uuid, boolean, text) to service_role;

create function private.record_breach_notification(p_workspace_ids uuid[], p_subject text, p_detected_at timestamptz)
returns table (notice_id uuid, user_id uuid, email text, full_name text, workspaces text[])
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_breach private.breach_notifications;
  v_missing uuid[];
begin
  if coalesce(cardinality(p_workspace_ids), 0) = 0 then
    raise exception 'name at least one workspace' using errcode = '22023';
  end if;
  select coalesce(array_agg(w), '{}') into v_missing from unnest(p_workspace_ids) w
   where not exists (select 1 from public.workspaces x where x.id = w);
  if cardinality(v_missing) > 0 then
    raise exception 'no such workspace: %', array_to_string(v_missing, ', ') using errcode = 'P0002';
  end if;
  if p_detected_at > now() then
    raise exception 'a breach cannot be detected in the future' using errcode = '22023';
  end if;
  insert into private.breach_notifications (workspace_ids, subject, detected_at)
  values (array(select distinct unnest(p_workspace_ids)), btrim(p_subject), p_detected_at)
  returning * into v_breach;

  -- Every member with an address (an account signed up by phone alone has none to write to).
  insert into public.notice_emails (user_id, kind, breach_notification_id, subject, attempts, claimed_until)
  select distinct m.user_id, 'breach', v_breach.id, v_breach.subject, 1, now() + interval '1 hour'
    from public.workspace_members m join public.profiles p on p.id = m.user_id
   where m.workspace_id = any(v_breach.workspace_ids) and p.email is not null;
  update private.breach_notifications b
     set recipients = (select count(*) from public.notice_emails n where n.breach_notification_id = b.id)
   where b.id = v_breach.id;

  perform private.write_audit_log(w, null, 'privacy.breach_notified', 'breach_notification', v_breach.id::text,
                                  jsonb_build_object('detected_at', p_detected_at,
                                                     'members', (select count(*) from public.workspace_members m
                                                                  where m.workspace_id = w)), null)
     from unnest(v_breach.workspace_ids) w;

  return query
    select n.id, n.user_id, p.email, p.full_name,
           array(select x.name from public.workspaces x join public.workspace_members m on m.workspace_id = x.id
                  where m.user_id = n.user_id and x.id = any(v_breach.workspace_ids) order by x.name)
      from public.notice_emails n join public.profiles p on p.id = n.user_id
     where n.breach_notification_id = v_breach.id
     order by p.email;
end
$$;
comment on function private.record_breach_notification(uuid[], text, timestamptz) is
  'Records a breach notification to every member of the named workspaces (one notice e-mail each, whatever their '
  'consent to product e-mails: this one the law requires) and audits it in each workspace; returns whom to e-mail.';
revoke all on function private.record_breach_notification(uuid[], text, timestamptz) from public, anon, authenticated;
grant execute on function private.record_breach_notification(uuid[], text, timestamptz) to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
