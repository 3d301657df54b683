-- Retention: call and SMS logs are kept for 90 days, then purged by pg_cron, every night.
--   messages (with their media) and calls older than 90 days; a call's voicemail is deleted at
--   Twilio as its row goes (queued by a trigger, done by the worker);
--   conversations whose last message is older than that (their preview is message content);
--   campaign recipients 90 days after their outcome (each holds a number a campaign texted);
--   contacts an inbound text or call created and nobody has since given a name, e-mail, tag,
--   field, consent or list, once none of their conversations and calls remains;
--   outbound webhook deliveries older than 30 days (their payloads carry message bodies).
-- Opt-outs and their history are compliance records and are kept; so are the contacts members
-- made or kept. Each run writes one audit_log row with what it removed.

create function private.purge_expired_logs(p_now timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  logs_cutoff constant timestamptz := p_now - interval '90 days';
  deliveries_cutoff constant timestamptz := p_now - interval '30 days';
  batch constant integer := 5000;
  n integer;
  removed jsonb := '{}'::jsonb;
  total_conversations bigint := 0;
  total_messages bigint := 0;
  total_calls bigint := 0;
  total_recipients bigint := 0;
  total_contacts bigint := 0;
  total_deliveries bigint := 0;
begin
  -- Batches keep each statement's locks and WAL small on a large backlog.
  loop
    delete from public.conversations c
     where c.id in (select id from public.conversations
                     where last_message_at < logs_cutoff limit batch);
    get diagnostics n = row_count;
    total_conversations := total_conversations + n;
    exit when n < batch;
  end loop;
  loop
    delete from public.messages m
     where m.id in (select id from public.messages where created_at < logs_cutoff limit batch);
    get diagnostics n = row_count;
    total_messages := total_messages + n;
    exit when n < batch;
  end loop;
  loop
    delete from public.calls c
     where c.id in (select id from public.calls where created_at < logs_cutoff limit batch);
    get diagnostics n = row_count;
    total_calls := total_calls + n;
    exit when n < batch;
  end loop;
  loop
    delete from public.campaign_recipients r
     where r.id in (select id from public.campaign_recipients
                     where status not in ('pending', 'claimed', 'uncertain')
                       and coalesce(sent_at, updated_at) < logs_cutoff limit batch);
    get diagnostics n = row_count;
    total_recipients := total_recipients + n;
    exit when n < batch;
  end loop;
  -- After the logs: a contact goes once nothing of it is left but the number.
  loop
    delete from public.contacts c
     where c.id in (select k.id from public.contacts k
                     where k.created_from is not null and k.created_at < logs_cutoff
                       and k.first_name is null and k.last_name is null and k.email is null
                       and k.tags = '{}' and k.custom_fields = '{}'
                       and k.consent_source is null and k.consent_at is null
                       and not exists (select 1 from public.contact_list_members l where l.contact_id = k.id)
                       and not exists (select 1 from public.conversations v where v.contact_id = k.id)
                       and not exists (select 1 from public.calls a where a.contact_id = k.id)
                       and not exists (select 1 from public.campaign_recipients r where r.contact_id = k.id)
                     limit batch);
    get diagnostics n = row_count;
    total_contacts := total_contacts + n;
    exit when n < batch;
  end loop;
  loop
    delete from public.webhook_deliveries d
     where d.id in (select id from public.webhook_deliveries where created_at < deliveries_cutoff limit batch);
    get diagnostics n = row_count;
    total_deliveries := total_deliveries + n;
    exit when n < batch;
  end loop;

  removed := jsonb_build_object('conversations', total_conversations, 'messages', total_messages,
                                'calls', total_calls, 'campaign_recipients', total_recipients,
                                'contacts', total_contacts, 'webhook_deliveries', total_deliveries,
                                'logs_before', logs_cutoff, 'deliveries_before', deliveries_cutoff);
  perform private.write_audit_log(null, null, 'retention.purge', null, null, removed, null);
  return removed;
end
$$;
comment on function private.purge_expired_logs(timestamptz) is
  'Deletes call and SMS logs older than 90 days (messages, conversations, calls and, at Twilio, their recordings), '
  'campaign recipients 90 days after their outcome, the contacts only inbound traffic made once their logs are '
  'gone, and webhook deliveries older than 30 days, in batches; records the counts in audit_log. Run nightly by '
  'pg_cron (job numeraloop-retention).';

revoke all on function private.purge_expired_logs(timestamptz) from public, anon, authenticated;
grant execute on function private.purge_expired_logs(timestamptz) to service_role;

-- No extra indexes for the purge: a nightly scan costs less than another index on every
-- inbound message's insert (messages already carry several).

select cron.schedule('numeraloop-retention', '17 3 * * *', $$select private.purge_expired_logs()$$);

-- ---------------------------------------------------------------------------------------
-- Where each retention rule stands: public.retention_status (service_role and operators only;
-- `numeraloop privacy status` prints it). overdue_rows counts what a rule should have removed by
-- now; it is 0 while the jobs run. plpgsql, so the tables of later migrations are read by name
-- when it runs.

create function private.retention_status(p_now timestamptz default now())
returns table (rule text, policy text, oldest_age interval, overdue_rows bigint)
language plpgsql stable security definer
set search_path = ''
as $$
begin
  return query
    select 'messages', '90 days', p_now - min(m.created_at),
           count(*) filter (where m.created_at < p_now - interval '90 days')
      from public.messages m
    union all
    select 'conversations', '90 days after the last message', p_now - min(c.last_message_at),
           count(*) filter (where c.last_message_at < p_now - interval '90 days')
      from public.conversations c
    union all
    select 'calls', '90 days', p_now - min(c.created_at),
           count(*) filter (where c.created_at < p_now - interval '90 days')
      from public.calls c
    union all
    select 'campaign_recipients', '90 days after the outcome', p_now - min(coalesce(r.sent_at, r.updated_at)),
           count(*) filter (where coalesce(r.sent_at, r.updated_at) < p_now - interval '90 days')
      from public.campaign_recipients r
     where r.status not in ('pending', 'claimed', 'uncertain')
    union all
    select 'inbound_only_contacts', '90 days, once their conversations and calls are gone',
           p_now - min(k.created_at),
           count(*) filter (where k.created_at < p_now - interval '90 days'
                              and not exists (select 1 from public.conversations v where v.contact_id = k.id)
                              and not exists (select 1 from public.calls a where a.contact_id = k.id)
                              and not exists (select 1 from public.campaign_recipients r where r.contact_id = k.id))
      from public.contacts k
     where k.created_from is not null and k.first_name is null and k.last_name is null and k.email is null
       and k.tags = '{}' and k.custom_fields = '{}' and k.consent_source is null and k.consent_at is null
       and not exists (select 1 from public.contact_list_members l where l.contact_id = k.id)
    union all
    select 'webhook_deliveries', '30 days', p_now - min(d.created_at),
           count(*) filter (where d.created_at < p_now - interval '30 days')
      from public.webhook_deliveries d
    union all
    select 'access_log', '12 months', p_now - min(a.created_at),
           count(*) filter (where a.created_at < p_now - interval '12 months')
      from public.access_log a
    union all
    select 'audit_log', '12 months', p_now - min(a.created_at),
           count(*) filter (where a.created_at < p_now - interval '12 months')
      from public.audit_log a
    union all
    select 'invoices', '7 years', p_now - min(i.stripe_created),
           count(*) filter (where i.stripe_created < p_now - interval '7 years')
      from public.invoices i
    union all
    select 'stripe_events', '90 days', p_now - min(e.received_at),
           count(*) filter (where e.received_at < p_now - interval '90 days')
      from public.stripe_events e
    union all
    select 'account_deletions', '30 days after the request', p_now - min(r.requested_at),
           count(*) filter (where r.requested_at < p_now - interval '30 days')
      from public.data_requests r
     where r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed')
    union all
    select 'provider_deletions', 'by its due date (30 days after a deletion request, a day after a purge)',
           p_now - min(t.created_at), count(*) filter (where t.due_by < p_now)
      from private.provider_cleanup t;
end
$$;
comment on function private.retention_status(timestamptz) is
  'Per retention rule: its policy, the age of the oldest row it governs, and how many rows are past it. '
  'Read through public.retention_status.';
revoke all on function private.retention_status(timestamptz) from public, anon, authenticated;
grant execute on function private.retention_status(timestamptz) to service_role;

create view public.retention_status as select * from private.retention_status();
comment on view public.retention_status is
  'Each retention rule (rule, policy, oldest_age, overdue_rows; overdue_rows is 0 when the jobs are healthy). '
  'service_role and operators only.';
revoke all on public.retention_status from public, anon, authenticated, service_role;
grant select on public.retention_status to service_role;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
