-- public.contact_imports and its functions: members start imports in their workspaces; only the
-- creator reports progress or finishes, only while running; counts add up; a number an earlier
-- batch wrote counts as merged; members read, clients never write; stale imports fail by pg_cron.
begin;
select plan(29);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.contact_lists (workspace_id, name) values (:'ws_m', 'Theirs') returning id as list_m \gset

select tests.rls_enabled('public');

-- ---------------------------------------------------------------------------------------
-- Starting: members only, a consent source, the workspace's own list.
select tests.authenticate_as('mallory');
select throws_ok(format($$ select public.start_contact_import(%L, 'a.csv', 'form', null) $$, :'ws'),
  '42501', null, 'a non-member cannot start an import in the workspace');
select tests.authenticate_as_anon();
select throws_ok(format($$ select public.start_contact_import(%L, 'a.csv', 'form', null) $$, :'ws'),
  '42501', null, 'anon cannot execute start_contact_import');

select tests.authenticate_as('alice');
select throws_ok(format($$ select public.start_contact_import(%L, 'a.csv', ' ', null) $$, :'ws'),
  '22023', null, 'a consent source is required');
select throws_ok(format($$ select public.start_contact_import(%L, 'a.csv', 'form', %L) $$, :'ws', :'list_m'),
  'P0002', null, 'a list of another workspace is refused');
select public.start_contact_import(:'ws', 'spring.csv', ' website form ', null) as imp \gset
select is((select row(status, rows_read, imported, filename, consent_source, created_by, finished_at is null)::text
             from public.contact_imports where id = :'imp'),
  row('running', 0, 0, 'spring.csv', 'website form', tests.user_id('alice'), true)::text,
  'a new import is running, empty, and names its creator');

-- ---------------------------------------------------------------------------------------
-- Progress: the creator only, counts validated and added.
select tests.authenticate_as('bob');
select throws_ok(format($$ select public.record_contact_import_progress(%L, 1, '{}') $$, :'imp'),
  '42501', null, 'another member cannot report progress on the import');
select throws_ok(format($$ select public.finish_contact_import(%L, 'completed') $$, :'imp'),
  '42501', null, 'another member cannot finish it');
select tests.authenticate_as('mallory');
select throws_ok(format($$ select public.record_contact_import_progress(%L, 1, '{}') $$, :'imp'),
  'P0002', null, 'to an outsider the import does not exist');

select tests.authenticate_as('alice');
select throws_ok(format($$ select public.record_contact_import_progress(%L, 1, '{"imported": -1}') $$, :'imp'),
  '22023', null, 'counts are non-negative');
select throws_ok(format($$ select public.record_contact_import_progress(%L, 1, '{"bogus": 1}') $$, :'imp'),
  '22023', null, 'unknown counts are refused');

-- Batch 1 (as the service sends it): two new contacts, one of them opted out.
select tests.clear_authentication();
select private.record_opt_out(:'ws', '+14155550002', 'manual');
select tests.authenticate_as('alice');
select public.import_contacts(:'ws', '[{"row": 2, "phone": "+14155550001"}, {"row": 3, "phone": "+14155550002"}]',
                              'website form') as r1 \gset
select is(public.record_contact_import_progress(:'imp', 3,
            jsonb_build_object('imported', (:'r1'::jsonb) -> 'inserted', 'updated', (:'r1'::jsonb) -> 'updated',
                               'merged', (:'r1'::jsonb) -> 'merged', 'opted_out', (:'r1'::jsonb) -> 'opted_out',
                               'rejected', 1),
            array['+14155550001', '+14155550002']),
  '{"imported": 2, "updated": 0, "merged": 0, "rejected": 1, "opted_out": 1, "listed": 0}'::jsonb,
  'the first batch''s counts are added as given');

-- Batch 2 as if committed separately: pretend batch 1 ran in an earlier transaction.
select tests.clear_authentication();
set local session_replication_role = replica;  -- past the updated_at trigger
update public.contacts set created_at = now() - interval '1 minute', updated_at = now() - interval '1 minute'
 where workspace_id = :'ws';
set local session_replication_role = origin;
select tests.authenticate_as('alice');
select public.import_contacts(:'ws', '[{"row": 4, "phone": "+14155550001"}, {"row": 5, "phone": "+14155550002"},
                                       {"row": 6, "phone": "+14155550003"}]', 'website form') as r2 \gset
select is((:'r2'::jsonb) - 'rejected', '{"inserted": 1, "updated": 2, "merged": 0, "listed": 0, "opted_out": 1}'::jsonb,
  'on its own, import_contacts sees the repeated numbers as updates');
select is(public.record_contact_import_progress(:'imp', 6,
            jsonb_build_object('imported', 1, 'updated', 2, 'merged', 0, 'opted_out', 1),
            array['+14155550001', '+14155550002', '+14155550003']),
  '{"imported": 1, "updated": 0, "merged": 2, "rejected": 0, "opted_out": 0, "listed": 0}'::jsonb,
  'numbers an earlier batch of the import wrote move to merged, and are not opted out twice');
select is(public.record_contact_import_progress(:'imp', 5, '{}'), '{"imported": 0, "updated": 0, "merged": 0,
  "rejected": 0, "opted_out": 0, "listed": 0}'::jsonb, 'an empty report adds nothing');
select is((select row(rows_read, imported, updated, merged, rejected_total, opted_out)::text
             from public.contact_imports where id = :'imp'),
  row(6, 3, 0, 2, 1, 1)::text, 'the import holds the running totals; rows read never go down');

-- A teammate reads it; an outsider and anon do not.
select tests.authenticate_as('bob');
select is((select imported from public.contact_imports where id = :'imp'), 3::bigint, 'a member reads the import');
select tests.authenticate_as('mallory');
select is((select count(*)::int from public.contact_imports where id = :'imp'), 0, 'an outsider reads nothing');
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.contact_imports $$, '42501', null, 'anon cannot read contact_imports');

-- Clients never write the table, not even its creator.
select tests.authenticate_as('alice');
select is(tests.attempt(format($$ update public.contact_imports set imported = 0 where id = %L $$, :'imp')), 'denied',
  'the creator cannot update the row directly');
select is(tests.attempt(format($$ insert into public.contact_imports (workspace_id, consent_source) values (%L, 'x') $$,
                               :'ws')), 'denied', 'nor insert one');

-- ---------------------------------------------------------------------------------------
-- Finishing: completed or failed (with a reason), once.
select throws_ok(format($$ select public.finish_contact_import(%L, 'failed') $$, :'imp'),
  '22023', null, 'a failed import needs a reason');
select throws_ok(format($$ select public.finish_contact_import(%L, 'done') $$, :'imp'),
  '22023', null, 'the status is completed or failed');
select lives_ok(format($$ select public.finish_contact_import(%L, 'completed') $$, :'imp'), 'the creator completes it');
select is((select row(status, error, finished_at is not null)::text from public.contact_imports where id = :'imp'),
  row('completed', null, true)::text, 'completed, with a finish time');
select throws_ok(format($$ select public.record_contact_import_progress(%L, 7, '{}') $$, :'imp'),
  '55000', null, 'a finished import takes no more progress');

-- ---------------------------------------------------------------------------------------
-- Stale imports: pg_cron marks a running import quiet for 15 minutes as failed.
select public.start_contact_import(:'ws', 'lost.csv', 'form', null) as lost \gset
select tests.clear_authentication();
update public.contact_imports set updated_at = now() - interval '16 minutes' where id = :'lost';
select is(private.fail_stale_contact_imports('15 minutes'), 1, 'a running import quiet for 16 minutes is stale');
select is((select row(status, error like 'The import stopped reporting progress%')::text
             from public.contact_imports where id = :'lost'), row('failed', true)::text,
  'it reads as failed, with the reason');
select is((select command from cron.job where jobname = 'numeraloop-fail-stale-contact-imports'),
  $$select private.fail_stale_contact_imports('15 minutes')$$, 'pg_cron runs the check (every 5 minutes)');

select * from finish();
rollback;
