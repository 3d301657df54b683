-- pg_cron keeps parked status callbacks from growing without bound.
begin;
select plan(5);

select is((select schedule from cron.job where jobname = 'numeraloop-purge-parked-statuses'), '23 * * * *',
  'the purge of parked status callbacks is scheduled hourly');
select is((select command from cron.job where jobname = 'numeraloop-purge-parked-statuses'),
  $$select private.purge_pending_message_statuses('7 days')$$, 'the job calls the purge function');

insert into private.pending_message_statuses (account_sid, message_sid, status, received_at)
values ('AC' || repeat('1', 32), 'SM' || repeat('1', 32), 'delivered', now() - interval '8 days'),
       ('AC' || repeat('1', 32), 'SM' || repeat('2', 32), 'delivered', now() - interval '1 day');
select is(private.purge_pending_message_statuses('7 days'), 1, 'callbacks parked over 7 days ago are dropped');
select is((select count(*)::int from private.pending_message_statuses
            where message_sid in ('SM' || repeat('1', 32), 'SM' || repeat('2', 32))), 1, 'recent ones stay');

select ok(exists(select 1 from pg_stat_activity
                 where backend_type = 'pg_cron launcher' and datname = current_database()),
  'pg_cron''s scheduler is connected to this database, so scheduled jobs run here');

select * from finish();
rollback;
