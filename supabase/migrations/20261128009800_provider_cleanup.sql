-- Deleting what Twilio and Stripe hold for us. The database cannot call out, so each deletion
-- whose data also lives at a provider queues a task in private.provider_cleanup, in the deleting
-- transaction, and `numeraloop worker` drains the queue (claim with skip locked and a lease, act,
-- finish; a failure is retried with backoff):
--   delete_recording        a voicemail at Twilio (Recordings resource), when its call is purged
--                           after 90 days or its workspace is deleted
--   clear_number_webhooks   a deleted workspace's numbers: they stay in the customer's Twilio
--                           account, no longer pointing at us
--   cancel_subscription     a deleted workspace's Stripe subscriptions
--   delete_customer         then its Stripe customer (the invoices stay at Stripe, and here,
--                           detached, for 7 years)
-- A deleted workspace's Twilio credentials go with it; the auth token (still ciphertext) is kept
-- beside its tasks in private.provider_cleanup_credentials until the last of them is done.
--
-- Each task is due by a date: 30 days after the deletion was requested (the promise), a day after
-- a purge. private.record_overdue_deletions() (daily) audits every deletion past its date, and
-- private.raise_if_deletions_overdue() (daily, after it) fails its pg_cron run with an ERROR in the
-- server log until nothing is overdue.

create table private.provider_cleanup (
  id bigint generated always as identity primary key,
  action text not null check (action in ('delete_recording', 'clear_number_webhooks', 'cancel_subscription',
                                         'delete_customer')),
  resource_id text not null,
  -- The Twilio account the resource is in (Twilio tasks only).
  account_sid text check (account_sid ~ '^AC[0-9a-f]{32}$'),
  -- No foreign key: the workspace is usually gone. Names the tasks of one deletion.
  workspace_id uuid,
  reason text not null check (reason in ('retention', 'workspace_deleted')),
  due_by timestamptz not null,
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  claimed_until timestamptz,
  -- An error code or a short reason; never a response body.
  last_error text check (char_length(last_error) <= 300),
  created_at timestamptz not null default now(),
  constraint provider_cleanup_task_key unique (action, resource_id),
  constraint provider_cleanup_resource_id check (resource_id ~ case action
    when 'delete_recording' then '^RE[0-9a-f]{32}$'
    when 'clear_number_webhooks' then '^PN[0-9a-f]{32}$'
    when 'cancel_subscription' then '^sub_[A-Za-z0-9]+$'
    when 'delete_customer' then '^cus_[A-Za-z0-9]+$' end),
  constraint provider_cleanup_twilio_account check (
    account_sid is null or action in ('delete_recording', 'clear_number_webhooks'))
);
create index provider_cleanup_due_idx on private.provider_cleanup (next_attempt_at);
create index provider_cleanup_account_idx on private.provider_cleanup (account_sid) where account_sid is not null;
comment on table private.provider_cleanup is
  'What a deletion still has to delete at Twilio or Stripe; drained by `numeraloop worker`, a row gone once done.';
revoke all on private.provider_cleanup from public, anon, authenticated, service_role;

create table private.provider_cleanup_credentials (
  account_sid text primary key check (account_sid ~ '^AC[0-9a-f]{32}$'),
  auth_token_encrypted bytea not null,
  key_version integer not null check (key_version > 0),
  created_at timestamptz not null default now()
);
comment on table private.provider_cleanup_credentials is
  'The auth token (pgp_sym_encrypt ciphertext, as in private.twilio_credentials) of a deleted workspace''s '
  'Twilio account, kept only while tasks for that account remain in private.provider_cleanup.';
revoke all on private.provider_cleanup_credentials from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Queueing

create function private.queue_provider_cleanup(p_action text, p_resource_id text, p_account_sid text,
                                               p_workspace_id uuid, p_reason text)
returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_resource_id is null then
    return;
  end if;
  insert into private.provider_cleanup (action, resource_id, account_sid, workspace_id, reason, due_by)
  values (p_action, p_resource_id, p_account_sid, p_workspace_id, p_reason,
          -- An account deletion says when it was requested; otherwise the deletion is now.
          case when p_reason = 'retention' then now() + interval '1 day'
               else coalesce(nullif(current_setting('numeraloop.deletion_requested_at', true), '')::timestamptz,
                             now()) + interval '30 days' end)
  on conflict (action, resource_id) do nothing;
end
$$;
comment on function private.queue_provider_cleanup(text, text, text, uuid, text) is
  'Queues one deletion at Twilio or Stripe (a task queued twice is one task). Due a day after a purge, or 30 days '
  'after the deletion was requested (numeraloop.deletion_requested_at, set by delete_due_accounts; else now).';

-- Before the workspace row goes, while its numbers, calls, Twilio account and billing rows are
-- still there to read.
create function private.tg_workspaces__queue_provider_cleanup() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_account public.twilio_accounts;
  r record;
begin
  select * into v_account from public.twilio_accounts a where a.workspace_id = old.id;
  for r in select n.twilio_sid from public.phone_numbers n
            where n.workspace_id = old.id and n.status in ('active', 'releasing') and v_account.id is not null loop
    perform private.queue_provider_cleanup('clear_number_webhooks', r.twilio_sid, v_account.account_sid, old.id,
                                           'workspace_deleted');
  end loop;
  for r in select c.recording_sid from public.calls c where c.workspace_id = old.id and c.recording_sid is not null loop
    perform private.queue_provider_cleanup('delete_recording', r.recording_sid, v_account.account_sid, old.id,
                                           'workspace_deleted');
  end loop;
  if v_account.id is not null
     and exists (select 1 from private.provider_cleanup t where t.account_sid = v_account.account_sid) then
    insert into private.provider_cleanup_credentials (account_sid, auth_token_encrypted, key_version)
    select v_account.account_sid, c.auth_token_encrypted, c.key_version
      from private.twilio_credentials c where c.twilio_account_id = v_account.id
    on conflict (account_sid) do update
       set auth_token_encrypted = excluded.auth_token_encrypted, key_version = excluded.key_version;
  end if;

  for r in select s.stripe_subscription_id from public.subscriptions s
            where s.workspace_id = old.id and s.status not in ('canceled', 'incomplete_expired') loop
    perform private.queue_provider_cleanup('cancel_subscription', r.stripe_subscription_id, null, old.id,
                                           'workspace_deleted');
  end loop;
  perform private.queue_provider_cleanup('delete_customer', b.stripe_customer_id, null, old.id, 'workspace_deleted')
     from public.billing_customers b where b.workspace_id = old.id;
  -- The ids of Stripe's events stay 90 days (they guard against replays), no longer naming it.
  update public.stripe_events e set result = e.result - 'workspace_id' where e.result ->> 'workspace_id' = old.id::text;
  return old;
end
$$;
comment on function private.tg_workspaces__queue_provider_cleanup() is
  'A workspace being deleted (by its owner, or with its owner''s account) queues what Twilio and Stripe must '
  'delete: its numbers'' webhooks, its recordings, its subscriptions and its Stripe customer. Stripe''s events '
  'about it stop naming it.';

create trigger tg_workspaces__queue_provider_cleanup before delete on public.workspaces
  for each row execute function private.tg_workspaces__queue_provider_cleanup();

-- ---------------------------------------------------------------------------------------
-- Draining (service_role: `numeraloop worker`)

create function private.claim_provider_cleanup(p_limit integer default 20, p_lease_seconds integer default 120)
returns setof private.provider_cleanup
language sql security definer
set search_path = ''
as $$
  update private.provider_cleanup t
     set claimed_until = now() + make_interval(secs => p_lease_seconds), attempts = t.attempts + 1
   where t.id in (
     select c.id from private.provider_cleanup c
      where c.next_attempt_at <= now() and (c.claimed_until is null or c.claimed_until < now())
        -- A customer is deleted once its subscriptions are canceled, so Stripe shows both.
        and not (c.action = 'delete_customer'
                 and exists (select 1 from private.provider_cleanup s
                              where s.action = 'cancel_subscription' and s.workspace_id = c.workspace_id))
      order by c.id
      limit p_limit
      for update skip locked)
  returning t.*
$$;
comment on function private.claim_provider_cleanup(integer, integer) is
  'Claims due tasks for one worker (skip locked, a lease of p_lease_seconds, attempts counted).';

create function private.provider_cleanup_twilio_credentials(p_account_sid text, p_keyring jsonb)
returns table (account_sid text, auth_token text)
language sql stable security definer
set search_path = ''
as $$
  -- The live connection first: the account may be connected (again) to a workspace.
  select a.account_sid, private.decrypt_secret(c.auth_token_encrypted, p_keyring, c.key_version)
    from public.twilio_accounts a join private.twilio_credentials c on c.twilio_account_id = a.id
   where a.account_sid = p_account_sid
  union all
  select k.account_sid, private.decrypt_secret(k.auth_token_encrypted, p_keyring, k.key_version)
    from private.provider_cleanup_credentials k
   where k.account_sid = p_account_sid
     and not exists (select 1 from public.twilio_accounts a where a.account_sid = p_account_sid)
$$;
comment on function private.provider_cleanup_twilio_credentials(text, jsonb) is
  'The decrypted auth token a Twilio cleanup task acts with: the account''s live connection, else the copy kept '
  'from its deleted workspace.';

create function private.finish_provider_cleanup(p_id bigint, p_error text default null)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  t private.provider_cleanup;
begin
  if p_error is null then
    delete from private.provider_cleanup where id = p_id returning * into t;
    if t.account_sid is not null
       and not exists (select 1 from private.provider_cleanup o where o.account_sid = t.account_sid) then
      delete from private.provider_cleanup_credentials where account_sid = t.account_sid;
    end if;
    return;
  end if;
  -- 1, 2, 4 ... minutes, at most 6 hours apart: a provider outage is waited out, never hammered.
  update private.provider_cleanup
     set last_error = left(p_error, 300), claimed_until = null,
         next_attempt_at = now() + least(interval '6 hours', interval '1 minute' * power(2, least(attempts, 20) - 1))
   where id = p_id;
end
$$;
comment on function private.finish_provider_cleanup(bigint, text) is
  'Done (p_error null): the task goes, with its account''s kept credentials once it was their last. Failed: '
  'retried after 1, 2, 4 ... minutes (at most 6 hours apart), the reason kept in last_error.';

-- ---------------------------------------------------------------------------------------
-- Deletions past their promise

create function private.overdue_deletions(p_now timestamptz default now())
returns table (kind text, id text, due_by timestamptz)
language sql stable security definer
set search_path = ''
as $$
  select 'data_request', r.id::text, r.requested_at + interval '30 days'
    from public.data_requests r
   where r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed')
     and r.requested_at + interval '30 days' < p_now
  union all
  select 'provider_cleanup', t.id::text, t.due_by from private.provider_cleanup t where t.due_by < p_now
$$;
comment on function private.overdue_deletions(timestamptz) is
  'Deletions not done by their due date: open account deletion requests older than 30 days and provider '
  'cleanup tasks past due_by.';

create function private.record_overdue_deletions(p_now timestamptz default now())
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer := 0;
  o record;
begin
  for o in select * from private.overdue_deletions(p_now) loop
    perform private.write_audit_log(null, null, 'deletion.overdue', o.kind, o.id,
                                    jsonb_build_object('days_overdue', extract(day from p_now - o.due_by)::int), null);
    n := n + 1;
  end loop;
  return n;
end
$$;
comment on function private.record_overdue_deletions(timestamptz) is
  'Writes a deletion.overdue audit row for each deletion past its due date; returns how many. Daily under pg_cron '
  '(job numeraloop-deletion-overdue-audit).';

create function private.raise_if_deletions_overdue(p_now timestamptz default now())
returns integer
language plpgsql stable security definer
set search_path = ''
as $$
declare
  n integer;
begin
  select count(*) into n from private.overdue_deletions(p_now);
  if n > 0 then
    -- A failed run: an ERROR in the server log and in cron.job_run_details, every day until done.
    raise exception '% deletion(s) past the 30 days promised (deletion.overdue in audit_log; '
                    'numeraloop privacy status)', n
      using errcode = 'P0001';
  end if;
  return 0;
end
$$;
comment on function private.raise_if_deletions_overdue(timestamptz) is
  'Fails (ERROR, logged by the server and by pg_cron) while any deletion is past its due date. Daily under pg_cron '
  '(job numeraloop-deletion-overdue-alert), after the audit job, whose rows its failure would otherwise roll back.';

select cron.schedule('numeraloop-deletion-overdue-audit', '13 5 * * *', $$select private.record_overdue_deletions()$$);
select cron.schedule('numeraloop-deletion-overdue-alert', '14 5 * * *', $$select private.raise_if_deletions_overdue()$$);

revoke all on function
  private.queue_provider_cleanup(text, text, text, uuid, text), private.tg_workspaces__queue_provider_cleanup(),
  private.claim_provider_cleanup(integer, integer), private.provider_cleanup_twilio_credentials(text, jsonb),
  private.finish_provider_cleanup(bigint, text), private.overdue_deletions(timestamptz),
  private.record_overdue_deletions(timestamptz), private.raise_if_deletions_overdue(timestamptz)
  from public, anon, authenticated;
grant execute on function
  private.claim_provider_cleanup(integer, integer), private.provider_cleanup_twilio_credentials(text, jsonb),
  private.finish_provider_cleanup(bigint, text), private.overdue_deletions(timestamptz),
  private.record_overdue_deletions(timestamptz), private.raise_if_deletions_overdue(timestamptz)
  to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
