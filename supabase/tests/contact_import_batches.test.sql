-- public.begin_contact_import_batch and public.import_contact_batch: the caller stages a batch in
-- a temporary table (as the service does with COPY), and the import's creator merges it into the
-- import's workspace in one statement, with the import's counts moved in the same call; nobody
-- else may merge into someone's import, a finished one takes nothing, the list must be the
-- workspace's own, and staged rows that cannot be imported come back with their row reference.
begin;
select plan(15);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.contact_lists (workspace_id, name) values (:'ws', 'Fair') returning id as list \gset
insert into public.contact_lists (workspace_id, name) values (:'ws_m', 'Theirs') returning id as list_m \gset
insert into public.contacts (workspace_id, phone_e164, first_name, tags, custom_fields, created_at, updated_at)
values (:'ws', '+14155550001', 'Old', '{vip}', '{"city": "SF"}', now() - interval '1 day', now() - interval '1 day'),
       (:'ws', '+14155550007', 'Gil', '{}', '{}', now() - interval '1 day', now() - interval '1 day');
select private.record_opt_out(:'ws', '+14155550003', 'manual');

create function pg_temp.stage(rows text) returns void language plpgsql as $$
begin
  perform public.begin_contact_import_batch();
  execute format('insert into pg_temp.contact_import_stage (ord, row_ref, phone, first_name, last_name, email, tags, custom, '
                 'earlier) select * from (values %s) as v', rows);
end
$$;

select tests.authenticate_as('alice');
select public.start_contact_import(:'ws', 'fair.csv', 'fair sign-up', :'list') as imp \gset
select lives_ok($$ select public.begin_contact_import_batch() $$, 'a member creates the batch''s staging table');
select ok(to_regclass('pg_temp.contact_import_stage') is not null, '... a temporary table of their session');

select pg_temp.stage($$
  (1::bigint, '2'::jsonb, '+14155550001', 'Ann', null, null, '{spring}'::text[], '{"plan": "gold"}'::jsonb, false),
  (2, '3', '+14155550002', 'Ben', 'Bo', 'ben@example.test', null, null, false),
  (3, '4', '+14155550002', null, 'Boe', null, '{a}', '{"k": "1"}', false),
  (4, '5', '+14155550003', 'Cy', null, null, null, null, false),
  (5, '6', '415-555-0004', null, null, null, null, null, false),
  (6, '7', '+14155550005', null, null, 'not-an-email', null, null, false)
$$);
select is(public.import_contact_batch(:'imp', :'list', 7, 1),
  '{"imported": 2, "updated": 1, "merged": 1, "listed": 3, "opted_out": 1, "rejected": 3,
    "rejected_rows": [{"row": 6, "reason": "phone must be an E.164 number"},
                      {"row": 7, "reason": "email is not a valid address"}]}'::jsonb,
  'a staged batch: two new, one updated, one duplicate merged, three listed, one opted out, '
  'rejections counted with the caller''s own and listed with their row reference');
select is((select row(rows_read, imported, updated, merged, rejected_total, opted_out, listed)::text
             from public.contact_imports where id = :'imp'),
  row(7, 2, 1, 1, 3, 1, 3)::text, 'the import''s counts moved in the same call');
select is((select row(first_name, tags, custom_fields, consent_source)::text from public.contacts
            where workspace_id = :'ws' and phone_e164 = '+14155550001'),
  row('Ann', '{vip,spring}'::text[], '{"city": "SF", "plan": "gold"}'::jsonb, 'fair sign-up')::text,
  'an existing contact: fields updated, tags united, custom fields merged, the import''s consent recorded');
select is((select row(first_name, last_name, email, tags, custom_fields)::text from public.contacts
            where workspace_id = :'ws' and phone_e164 = '+14155550002'),
  row('Ben', 'Boe', 'ben@example.test', '{a}'::text[], '{"k": "1"}'::jsonb)::text,
  'two rows of one number: the later non-empty value wins');
select is((select count(*)::int from pg_temp.contact_import_stage), 0, 'the staging table is emptied once merged');

-- A later batch of the same import repeating numbers: merged, not updated or opted out again.
select pg_temp.stage($$ (7::bigint, '8'::jsonb, '+14155550002', 'Benny', null, null, null::text[], null::jsonb, false),
                        (8, '9', '+14155550003', null, null, null, null, null, false) $$);
select is(public.import_contact_batch(:'imp', null, 9, 0) - 'rejected_rows',
  '{"imported": 0, "updated": 0, "merged": 2, "listed": 0, "opted_out": 0, "rejected": 0}'::jsonb,
  'numbers an earlier batch of the import wrote (earlier in this transaction) count as merged');
-- The service commits each batch on its own and flags a number an earlier batch staged.
select pg_temp.stage($$ (9::bigint, '10'::jsonb, '+14155550007', 'Gil', null, null, null::text[], null::jsonb, true) $$);
select is(public.import_contact_batch(:'imp', null, 10, 0) - 'rejected_rows',
  '{"imported": 0, "updated": 0, "merged": 1, "listed": 0, "opted_out": 0, "rejected": 0}'::jsonb,
  'a number staged as earlier counts as merged, not as an update');

select tests.authenticate_as('bob');
select pg_temp.stage($$ (1::bigint, '2'::jsonb, '+14155550009', null, null, null, null::text[], null::jsonb, false) $$);
select throws_ok(format($$ select public.import_contact_batch(%L, null, 1, 0) $$, :'imp'),
  '42501', null, 'another member cannot merge into alice''s import');
select tests.authenticate_as('mallory');
select throws_ok(format($$ select public.import_contact_batch(%L, null, 1, 0) $$, :'imp'),
  'P0002', null, 'to an outsider the import does not exist');
select tests.authenticate_as_anon();
select throws_ok(format($$ select public.import_contact_batch(%L, null, 1, 0) $$, :'imp'),
  '42501', null, 'anon cannot execute import_contact_batch');

select tests.authenticate_as('alice');
select throws_ok(format($$ select public.import_contact_batch(%L, %L, 10, 0) $$, :'imp', :'list_m'),
  'P0002', null, 'a list of another workspace is refused');
select public.finish_contact_import(:'imp', 'completed');
select throws_ok(format($$ select public.import_contact_batch(%L, null, 10, 0) $$, :'imp'),
  '55000', null, 'a finished import takes no more batches');
select tests.clear_authentication();
select is((select count(*)::int from public.contacts where workspace_id = :'ws' and phone_e164 = '+14155550009'), 0,
  'nothing refused was written');

select * from finish();
rollback;
