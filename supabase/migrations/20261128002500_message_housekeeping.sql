-- Housekeeping for messaging, run by pg_cron: status callbacks parked for a SID that never
-- matched a message (sends made outside NumeraLoop, say) are dropped after 7 days, so the
-- table stays small. Re-running this migration's schedule is idempotent by job name.

select cron.schedule('numeraloop-purge-parked-statuses', '23 * * * *',
                     $$select private.purge_pending_message_statuses('7 days')$$);
