-- Retention: call and SMS logs are kept for 90 days, then purged by pg_cron, every night.
--   messages (with their media) and calls older than 90 days;
--   conversations whose last message is older than that (their preview is message content);
--   outbound webhook deliveries older than 30 days (their payloads carry message bodies).
-- Opt-outs and their history are compliance records and are kept; so are contacts.
-- Each run writes one audit_log row with what it removed.

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
    delete from public.webhook_deliveries d
     where d.id in (select id from public.webhook_deliveries where created_at < deliveries_cutoff limit batch);
    get diagnostics n = row_count;
    total_deliveries := total_deliveries + n;
    exit when n < batch;
  end loop;

  removed := jsonb_build_object('conversations', total_conversations, 'messages', total_messages,
                                'calls', total_calls, 'webhook_deliveries', total_deliveries,
                                'logs_before', logs_cutoff, 'deliveries_before', deliveries_cutoff);
  perform private.write_audit_log(null, null, 'retention.purge', null, null, removed, null);
  return removed;
end
$$;
comment on function private.purge_expired_logs(timestamptz) is
  'Deletes call and SMS logs older than 90 days (and webhook deliveries older than 30), in batches; '
  'records the counts in audit_log. Run nightly by pg_cron (job numeraloop-retention).';

revoke all on function private.purge_expired_logs(timestamptz) from public, anon, authenticated;
grant execute on function private.purge_expired_logs(timestamptz) to service_role;

-- No extra indexes for the purge: a nightly scan costs less than another index on every
-- inbound message's insert (messages already carry several).

select cron.schedule('numeraloop-retention', '17 3 * * *', $$select private.purge_expired_logs()$$);

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
