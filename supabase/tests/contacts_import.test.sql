-- public.import_contacts: members (any role) import; outsiders, anon and service_role cannot;
-- upsert merges, duplicates within a batch and across batches of one transaction are merged,
-- bad rows come back with their row reference, a list must be the workspace's own.
begin;
select plan(23);

select tests.create_user('alice');
select tests.create_user('bob');
select tests.create_user('mallory');
select tests.personal_workspace('alice') as ws \gset
select tests.personal_workspace('mallory') as ws_m \gset
insert into public.workspace_members (workspace_id, user_id, role) values (:'ws', tests.user_id('bob'), 'agent');
insert into public.contact_lists (workspace_id, name) values (:'ws', 'Spring') returning id as list_id \gset
insert into public.contact_lists (workspace_id, name) values (:'ws_m', 'Theirs') returning id as list_m \gset
-- Written "yesterday": this whole file is one transaction, and the import treats a contact
-- written earlier in its own transaction as coming from an earlier batch of the same upload.
insert into public.contacts (workspace_id, phone_e164, first_name, last_name, tags, custom_fields, created_at, updated_at)
values (:'ws', '+14155550001', 'Ann', 'Old', '{vip}', '{"plan": "gold", "city": "SF"}',
        now() - interval '1 day', now() - interval '1 day');
select private.record_opt_out(:'ws', '+14155550003', 'manual');

-- ---------------------------------------------------------------------------------------
-- An outsider, anon and service_role are refused.
select tests.authenticate_as('mallory');
select throws_ok(format($$ select public.import_contacts(%L, '[{"phone": "+14155550009"}]', 'form') $$, :'ws'),
  '42501', null, 'a non-member cannot import into the workspace');
select tests.authenticate_as_anon();
select throws_ok(format($$ select public.import_contacts(%L, '[]', 'form') $$, :'ws'),
  '42501', null, 'anon cannot execute import_contacts');
select tests.authenticate_as_service_role();
select throws_ok(format($$ select public.import_contacts(%L, '[]', 'form') $$, :'ws'),
  '42501', null, 'service_role is not granted import_contacts (it is for signed-in members)');

-- ---------------------------------------------------------------------------------------
-- An agent imports a batch.
select tests.authenticate_as('bob');
select throws_ok(format($$ select public.import_contacts(%L, '[]', '  ') $$, :'ws'),
  '22023', null, 'a consent source is required');
select throws_ok(format($$ select public.import_contacts(%L, '{}', 'form') $$, :'ws'),
  '22023', null, 'rows must be an array');
select throws_ok(format($$ select public.import_contacts(%L, '[]', 'form', %L) $$, :'ws', :'list_m'),
  'P0002', null, 'a list of another workspace is refused');

select public.import_contacts(:'ws', jsonb_build_array(
  jsonb_build_object('row', 2, 'phone', '+14155550001', 'first_name', 'Annie', 'last_name', '',
                     'tags', jsonb_build_array('spring'), 'custom', jsonb_build_object('plan', 'platinum', 'size', '')),
  jsonb_build_object('row', 3, 'phone', '+14155550002', 'first_name', 'Ben', 'tags', jsonb_build_array('a')),
  jsonb_build_object('row', 4, 'phone', '+14155550002', 'last_name', 'Bo', 'tags', jsonb_build_array('b', 'a'),
                     'custom', jsonb_build_object('k', '1')),
  jsonb_build_object('row', 5, 'phone', '415-555-0004'),
  jsonb_build_object('row', 6, 'phone', '+14155550005', 'email', 'not-an-email'),
  jsonb_build_object('row', 7, 'phone', '+14155550003', 'first_name', 'Cy')
), 'website form 2026-10', :'list_id') as r \gset

select is((:'r'::jsonb) - 'rejected',
  '{"inserted": 2, "updated": 1, "merged": 1, "listed": 3, "opted_out": 1}'::jsonb,
  'counts: two new, one updated, one duplicate merged, three listed, one stays opted out');
select is((:'r'::jsonb) -> 'rejected',
  '[{"row": 5, "reason": "phone must be an E.164 number"}, {"row": 6, "reason": "email is not a valid address"}]'::jsonb,
  'bad rows come back with their row reference and reason');

select is((select row(first_name, last_name, tags, custom_fields)::text from public.contacts
            where workspace_id = :'ws' and phone_e164 = '+14155550001'),
  row('Annie', 'Old', '{vip,spring}'::text[], '{"city": "SF", "plan": "platinum"}'::jsonb)::text,
  'an existing contact: non-empty fields updated, empty ones kept, tags united, custom fields merged');
select is((select row(first_name, last_name, tags, custom_fields)::text from public.contacts
            where workspace_id = :'ws' and phone_e164 = '+14155550002'),
  row('Ben', 'Bo', '{a,b}'::text[], '{"k": "1"}'::jsonb)::text,
  'two rows of one number become one contact');
select is((select count(*)::int from public.contacts where workspace_id = :'ws' and consent_source = 'website form 2026-10'
            and consent_at = now()), 3, 'consent source and time are recorded on every imported contact');
select ok(exists (select 1 from public.opt_outs where workspace_id = :'ws' and phone_e164 = '+14155550003'),
  'importing an opted-out number does not opt it back in');
select is((select count(*)::int from public.contact_list_members where list_id = :'list_id'), 3,
  'imported contacts are on the list');

-- A second batch of the same upload (same transaction) repeating a number counts it as merged.
select public.import_contacts(:'ws', jsonb_build_array(
  jsonb_build_object('row', 1002, 'phone', '+14155550002', 'email', 'ben@example.test'),
  jsonb_build_object('row', 1003, 'phone', '+14155550006')
), 'website form 2026-10', :'list_id') as r2 \gset
select is((:'r2'::jsonb) - 'rejected',
  '{"inserted": 1, "updated": 0, "merged": 1, "listed": 1, "opted_out": 0}'::jsonb,
  'a number written by an earlier batch of this transaction is merged, not counted again');
select is((select email from public.contacts where workspace_id = :'ws' and phone_e164 = '+14155550002'),
  'ben@example.test', 'and its new fields are still applied');

-- Tags never exceed the table's limit: the row is rejected instead of failing the batch.
select public.import_contacts(:'ws', jsonb_build_array(
  jsonb_build_object('row', 9, 'phone', '+14155550001',
                     'tags', (select jsonb_agg('t' || n) from generate_series(1, 99) as n))
), 'form') as r3 \gset
select is((:'r3'::jsonb) -> 'rejected', '[{"row": 9, "reason": "the contact would have more than 100 tags"}]'::jsonb,
  'a contact that would pass 100 tags is rejected, not truncated');
select is((:'r3'::jsonb) ->> 'updated', '0', 'and nothing was written for it');

-- Mallory's own workspace is untouched by alice's imports, and hers stay hers.
select tests.authenticate_as('mallory');
select is((select count(*)::int from public.contacts), 0, 'another workspace sees none of the imported contacts');
select lives_ok(format($$ select public.import_contacts(%L, '[{"phone": "+14155550001"}]', 'paper form') $$, :'ws_m'),
  'a member imports into their own workspace');
select is((select count(*)::int from public.contacts), 1, 'the same number is a separate contact per workspace');

select tests.clear_authentication();
select is((select count(*)::int from public.contacts where workspace_id = :'ws'), 4, 'four contacts in alice''s workspace');
select ok((select prosecdef and proconfig @> array['search_path=""']
             from pg_proc where oid = 'public.import_contacts(uuid, jsonb, text, uuid)'::regprocedure),
  'import_contacts is security definer with an empty search_path');
select is((select obj_description('public.import_contacts(uuid, jsonb, text, uuid)'::regprocedure, 'pg_proc') is not null),
  true, 'import_contacts is documented');

select * from finish();
rollback;
