-- Contacts import: a CSV upload (parsed and normalised by the service) upserted into a
-- workspace's contacts, optionally added to a list, with consent recorded.
--
--   public.import_contact_batch()  one batch of an upload, as the service sends it: the rows are
--                              COPYed into a temporary staging table (begin_contact_import_batch())
--                              and merged into contacts by one set-based statement
--                              (private.merge_contact_import_stage), which also moves the import's
--                              counts: all in the batch's own transaction.
--   public.import_contacts()   one batch of rows as JSON (at most 5,000), staged and merged the same
--                              way, for a client calling it through PostgREST with its own batches.
--   public.contact_imports     one row per upload, so the member importing (and their teammates)
--                              can watch a long import's progress through PostgREST
--                              (`contact_imports?id=eq.<id>`) while the service is still reading
--                              the file: each batch commits with the progress it made. Rows are
--                              written only through the functions below; clients read.
--
-- A process that dies mid-import leaves its row 'running'; a pg_cron job marks an import that
-- has reported no progress for 15 minutes as failed (every 5 minutes, so such a row reads
-- 'failed' at most about 20 minutes after its last batch).

-- ---------------------------------------------------------------------------------------
-- One batch: rows staged in a temporary table, merged into contacts in one statement

-- The service COPYs each batch of an upload (its rows parsed and normalised already) into this
-- table, created in the batch's transaction and dropped at its commit, so it also works behind
-- a transaction-mode pooler; import_contacts() stages its JSON rows the same way.
create function public.begin_contact_import_batch() returns void
language plpgsql
set search_path = ''
as $$
begin
  create temporary table if not exists contact_import_stage (
    ord bigint not null,   -- position in the upload: for fields given twice, the later row wins
    row_ref jsonb,         -- what a rejection names: the CSV line, or a client's "row"
    phone text,            -- E.164
    first_name text,       -- fields trimmed, empty ones null
    last_name text,
    email text,
    tags text[],           -- trimmed, distinct, in order
    custom jsonb,          -- an object without empty values
    earlier boolean,       -- the number was staged by an earlier batch of the same upload
    problem text           -- set while staging when the row cannot be imported
  ) on commit drop;
  truncate pg_temp.contact_import_stage;
end
$$;
comment on function public.begin_contact_import_batch() is
  'Creates (or empties) the caller''s temporary contact_import_stage table for this transaction, for a batch of '
  'rows to COPY into and pass to import_contact_batch(). Runs with the caller''s rights; dropped at commit.';

create function private.merge_contact_import_stage(p_workspace_id uuid, p_consent_source text, p_list_id uuid)
returns jsonb
language plpgsql security definer
set search_path = ''
-- A batch's sorts and materialised steps (tens of thousands of rows) stay in memory.
set work_mem = '64MB'
as $$
declare
  v_result jsonb;
begin
  with staged as materialized (
    select s.ord, coalesce(s.row_ref, to_jsonb(s.ord)) as row_ref, s.phone, s.first_name, s.last_name, s.email,
           coalesce(s.tags, '{}') as tags, coalesce(s.custom, '{}') as custom, coalesce(s.earlier, false) as earlier,
           coalesce(s.problem, case
             when s.phone is null or s.phone = '' then 'phone is missing'
             when s.phone !~ '^\+[1-9][0-9]{6,14}$' then 'phone must be an E.164 number'
             when char_length(s.first_name) > 100 then 'first_name is longer than 100 characters'
             when char_length(s.last_name) > 100 then 'last_name is longer than 100 characters'
             when s.email is not null and (char_length(s.email) > 320 or s.email !~ '^[^@[:space:]]+@[^@[:space:]]+$')
               then 'email is not a valid address'
             when cardinality(s.tags) > 100 then 'more than 100 tags'
           end) as problem
      from pg_temp.contact_import_stage s
  ),
  -- A number on one row of the batch is taken as it is (the usual case, found by hashing, not
  -- sorting). Rows with the same number are merged: the last non-empty value of a field wins,
  -- tags are united (in order of first appearance), custom fields merged (later rows win).
  repeated as (
    select r.phone from staged r where r.problem is null group by r.phone having count(*) > 1
  ),
  multi as materialized (
    select r.* from staged r where r.problem is null and r.phone in (select d.phone from repeated d)
  ),
  multi_tags as (
    select t.phone, array_agg(t.x order by t.first) as tags
      from (select m.phone, u.x, min(array[m.ord, u.k]) as first
              from multi m, unnest(m.tags) with ordinality as u(x, k) group by m.phone, u.x) as t
     group by t.phone
  ),
  multi_custom as (
    select m.phone, jsonb_object_agg(e.key, e.value order by m.ord) as custom
      from multi m, jsonb_each(m.custom) as e group by m.phone
  ),
  incoming as materialized (
    select r.phone, r.first_name, r.last_name, r.email, r.tags, r.custom, 1::bigint as n_rows, r.row_ref as last_row_ref,
           r.earlier
      from staged r where r.problem is null and r.phone not in (select d.phone from repeated d)
    union all
    select f.phone, f.first_name, f.last_name, f.email, coalesce(t.tags, '{}'), coalesce(k.custom, '{}'), f.n_rows,
           f.last_row_ref, f.earlier
      from (select m.phone,
                   (array_agg(m.first_name order by m.ord desc) filter (where m.first_name is not null))[1] as first_name,
                   (array_agg(m.last_name order by m.ord desc) filter (where m.last_name is not null))[1] as last_name,
                   (array_agg(m.email order by m.ord desc) filter (where m.email is not null))[1] as email,
                   count(*) as n_rows, (array_agg(m.row_ref order by m.ord desc))[1] as last_row_ref,
                   bool_or(m.earlier) as earlier
              from multi m group by m.phone) as f
      left join multi_tags t on t.phone = f.phone
      left join multi_custom k on k.phone = f.phone
  ),
  looked as materialized (
    select i.*, e.id as existing_id,
           -- Written by an earlier batch of this upload: a duplicate within the file, not an
           -- update of a contact that existed before (earlier in this transaction, as
           -- import_contacts() batches of one transaction are, or in an earlier transaction, as
           -- the service commits them and flags them `earlier`).
           (e.id is not null and (e.updated_at = now() or i.earlier)) as seen,
           case when e.id is null then i.tags
                else array(select x from unnest(e.tags || i.tags) with ordinality as u(x, n) group by x order by min(n))
           end as all_tags
      from incoming i
      -- One index lookup on (workspace_id, phone_e164) per number (offset 0 keeps the planner from
      -- turning it into a scan of all the workspace's contacts, which grow batch by batch).
      left join lateral (select c.id, c.tags, c.updated_at from public.contacts c
                          where c.workspace_id = p_workspace_id and c.phone_e164 = i.phone offset 0) as e on true
  ),
  upserted as (
    insert into public.contacts as c (workspace_id, phone_e164, first_name, last_name, email, tags, custom_fields,
                                      consent_source, consent_at)
    select p_workspace_id, i.phone, i.first_name, i.last_name, i.email, i.all_tags, i.custom, p_consent_source, now()
      from looked i
     where cardinality(i.all_tags) <= 100
    on conflict (workspace_id, phone_e164) do update set
      first_name = coalesce(excluded.first_name, c.first_name),
      last_name = coalesce(excluded.last_name, c.last_name),
      email = coalesce(excluded.email, c.email),
      tags = array(select x from unnest(c.tags || excluded.tags) with ordinality as u(x, n) group by x order by min(n)),
      custom_fields = c.custom_fields || excluded.custom_fields,
      consent_source = excluded.consent_source,
      consent_at = excluded.consent_at
    returning c.id
  ),
  listed as (
    insert into public.contact_list_members (workspace_id, list_id, contact_id)
    select p_workspace_id, p_list_id, u.id from upserted u where p_list_id is not null
    on conflict do nothing
    returning 1
  ),
  rejected as (
    select r.ord, r.row_ref, r.problem from staged r where r.problem is not null
    union all
    select null, i.last_row_ref, 'the contact would have more than 100 tags'
      from looked i where cardinality(i.all_tags) > 100
  )
  select jsonb_build_object(
           'inserted', (select count(*) from looked i where cardinality(i.all_tags) <= 100 and i.existing_id is null),
           'updated', (select count(*) from looked i
                        where cardinality(i.all_tags) <= 100 and i.existing_id is not null and not i.seen),
           'merged', (select coalesce(sum(i.n_rows), 0) - count(*) filter (where not i.seen)
                        from looked i where cardinality(i.all_tags) <= 100),
           'listed', (select count(*) from listed),
           'opted_out', (select count(*) from looked i join public.opt_outs o
                                  on o.workspace_id = p_workspace_id and o.phone_e164 = i.phone
                          where cardinality(i.all_tags) <= 100 and not i.seen),
           'rejected', coalesce((select jsonb_agg(jsonb_build_object('row', r.row_ref, 'reason', r.problem)
                                                  order by r.ord nulls last)
                                   from rejected r), '[]'::jsonb))
    into v_result;
  truncate pg_temp.contact_import_stage;
  return v_result;
end
$$;
comment on function private.merge_contact_import_stage(uuid, text, uuid) is
  'Merges the staged rows (pg_temp.contact_import_stage) into the workspace''s contacts in one statement: '
  'upserts on (workspace, phone), empty fields never overwrite, tags united, custom fields merged, rows of one '
  'number merged; consent recorded, contacts added to p_list_id. A number written earlier in the transaction, or '
  'staged as `earlier` (an earlier batch of the upload wrote it), counts as merged. Returns {"inserted", "updated", '
  '"merged", "listed", "opted_out", "rejected": [{"row", "reason"}]}. The callers check the caller and the list.';

create function public.import_contacts(p_workspace_id uuid, p_rows jsonb, p_consent_source text,
                                       p_list_id uuid default null)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_source text := btrim(p_consent_source);
begin
  perform private.require_membership(p_workspace_id);
  if p_rows is null or jsonb_typeof(p_rows) <> 'array' then
    raise exception 'p_rows must be a JSON array of rows' using errcode = '22023';
  end if;
  if jsonb_array_length(p_rows) > 5000 then
    raise exception 'at most 5000 rows per call; send the rest in further calls' using errcode = '22023';
  end if;
  if v_source is null or v_source = '' or char_length(v_source) > 200 then
    raise exception 'consent source is required (at most 200 characters)' using errcode = '22023';
  end if;
  if p_list_id is not null and not exists (
       select 1 from public.contact_lists l where l.id = p_list_id and l.workspace_id = p_workspace_id) then
    raise exception 'no such contact list in this workspace' using errcode = 'P0002';
  end if;

  perform public.begin_contact_import_batch();
  insert into pg_temp.contact_import_stage (ord, row_ref, phone, first_name, last_name, email, tags, custom, problem)
  select i.ord,
         case when jsonb_typeof(i.r) = 'object' then coalesce(i.r -> 'row', to_jsonb(i.ord)) else to_jsonb(i.ord) end,
         case when jsonb_typeof(i.r) = 'object' then btrim(i.r ->> 'phone') end,
         case when jsonb_typeof(i.r) = 'object' then nullif(btrim(i.r ->> 'first_name'), '') end,
         case when jsonb_typeof(i.r) = 'object' then nullif(btrim(i.r ->> 'last_name'), '') end,
         case when jsonb_typeof(i.r) = 'object' then nullif(btrim(i.r ->> 'email'), '') end,
         case when jsonb_typeof(i.r -> 'tags') = 'array'
              then array(select t.x from (select btrim(x) as x, n from jsonb_array_elements_text(i.r -> 'tags')
                                                                       with ordinality as e(x, n)) as t
                          where t.x <> '' group by t.x order by min(t.n)) end,
         case when jsonb_typeof(i.r -> 'custom') = 'object'
              then (select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
                      from jsonb_each(i.r -> 'custom') as e
                     where jsonb_typeof(e.value) <> 'null' and e.value <> '""'::jsonb) end,
         case when jsonb_typeof(i.r) <> 'object' then 'row must be a JSON object'
              when coalesce(jsonb_typeof(i.r -> 'tags') not in ('array', 'null'), false) then 'tags must be an array of strings'
              when coalesce(jsonb_typeof(i.r -> 'custom') not in ('object', 'null'), false) then 'custom must be an object'
         end
    from jsonb_array_elements(p_rows) with ordinality as i(r, ord);
  return private.merge_contact_import_stage(p_workspace_id, v_source, p_list_id);
end
$$;

comment on function public.import_contacts(uuid, jsonb, text, uuid) is
  'Imports one batch (at most 5000) of contacts into a workspace the caller belongs to (any role). '
  'Each row: {"row": <ref echoed in rejections>, "phone": E.164, "first_name", "last_name", "email", '
  '"tags": [..], "custom": {..}}. Upserts on (workspace, phone): empty fields never overwrite, tags are '
  'united, custom fields merged; rows of one number are merged. Records p_consent_source with consent_at = now() '
  'and adds the contacts to p_list_id (a list of the same workspace) if given. Opt-outs are left as they are. '
  'Returns {"inserted", "updated", "merged" (rows folded into another row of the same upload), "listed", '
  '"opted_out" (imported numbers that stay opted out), "rejected": [{"row", "reason"}]}. A contact already '
  'written earlier in the calling transaction counts as merged, so an upload sent as several batches in one '
  'transaction counts a duplicate once.';

revoke all on function public.import_contacts(uuid, jsonb, text, uuid) from public, anon, service_role;
grant execute on function public.import_contacts(uuid, jsonb, text, uuid) to authenticated;
revoke all on function public.begin_contact_import_batch() from public, anon, service_role;
grant execute on function public.begin_contact_import_batch() to authenticated;

-- ---------------------------------------------------------------------------------------
-- Progress of an upload

create table public.contact_imports (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  created_by uuid references auth.users (id) on delete set null,
  filename text check (char_length(filename) <= 255),
  consent_source text not null check (char_length(consent_source) between 1 and 200),
  list_id uuid,
  status text not null default 'running' check (status in ('running', 'completed', 'failed')),
  rows_read bigint not null default 0 check (rows_read >= 0),
  imported bigint not null default 0 check (imported >= 0),
  updated bigint not null default 0 check (updated >= 0),
  merged bigint not null default 0 check (merged >= 0),
  rejected_total bigint not null default 0 check (rejected_total >= 0),
  opted_out bigint not null default 0 check (opted_out >= 0),
  listed bigint not null default 0 check (listed >= 0),
  error text check (char_length(error) <= 2000),
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint contact_imports_finished_when_done check ((status = 'running') = (finished_at is null)),
  constraint contact_imports_failed_has_error check ((status = 'failed') = (error is not null)),
  -- The list must be the workspace's own; deleting the list keeps the import's history.
  constraint contact_imports_list_fkey foreign key (workspace_id, list_id)
    references public.contact_lists (workspace_id, id) on delete set null (list_id)
);
create index contact_imports_workspace_started_idx on public.contact_imports (workspace_id, started_at desc);
create index contact_imports_running_idx on public.contact_imports (updated_at) where status = 'running';
comment on table public.contact_imports is
  'One row per contacts CSV import: who started it, into which list, its status (running | completed | failed, '
  'with the reason in error) and running counts (rows_read, imported, updated, merged, rejected_total, opted_out, '
  'listed), updated as each batch commits, so a client can poll it while the upload runs. Members read; written '
  'only by start_contact_import / record_contact_import_progress / finish_contact_import. A running import '
  'that reports nothing for 15 minutes is marked failed by pg_cron.';

-- Numbers an import has written so far, so a number repeated in a later batch (committed in
-- its own transaction) counts as merged, just as it would within one transaction.
-- Bookkeeping for running imports only: emptied when an import finishes; unlogged, since a
-- crash that loses it also ends the import.
create unlogged table private.contact_import_numbers (
  import_id uuid not null references public.contact_imports (id) on delete cascade,
  phone_e164 text not null,
  primary key (import_id, phone_e164)
);
comment on table private.contact_import_numbers is
  'Numbers written by each running contact import (see record_contact_import_progress); emptied when it finishes.';
revoke all on private.contact_import_numbers from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Functions, run by the member importing (through the service or PostgREST).

create function public.start_contact_import(p_workspace_id uuid, p_filename text, p_consent_source text,
                                            p_list_id uuid)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  v_source text := btrim(p_consent_source);
  v_id uuid;
begin
  perform private.require_membership(p_workspace_id);
  if v_source is null or v_source = '' or char_length(v_source) > 200 then
    raise exception 'consent source is required (at most 200 characters)' using errcode = '22023';
  end if;
  if p_list_id is not null and not exists (
       select 1 from public.contact_lists l where l.id = p_list_id and l.workspace_id = p_workspace_id) then
    raise exception 'no such contact list in this workspace' using errcode = 'P0002';
  end if;
  insert into public.contact_imports (workspace_id, created_by, filename, consent_source, list_id)
  values (p_workspace_id, (select auth.uid()), left(nullif(btrim(p_filename), ''), 255), v_source, p_list_id)
  returning id into v_id;
  return v_id;
end
$$;
comment on function public.start_contact_import(uuid, text, text, uuid) is
  'Creates a running contact import for a workspace the caller belongs to (any role) and returns its id. '
  'The filename is informational (cut to 255 characters); the list, if given, must be the workspace''s own.';

-- The import, locked, if the caller started it and it is still running; raises otherwise.
create function private.own_running_contact_import(p_import_id uuid)
returns public.contact_imports
language plpgsql security definer
set search_path = ''
as $$
declare
  v public.contact_imports;
begin
  select * into v from public.contact_imports i where i.id = p_import_id for update;
  if v.id is null or not (v.workspace_id = any(array(select private.workspace_ids_for_current_user()))) then
    raise exception 'no such contact import' using errcode = 'P0002';
  end if;
  if v.created_by is distinct from (select auth.uid()) then
    raise exception 'only the member who started an import reports on it' using errcode = '42501';
  end if;
  if v.status <> 'running' then
    raise exception 'the import is no longer running (it is %)', v.status using errcode = '55000';
  end if;
  return v;
end
$$;
comment on function private.own_running_contact_import(uuid) is
  'The contact import, locked, if the requesting user started it, still belongs to its workspace and it is '
  'running. Raises P0002 (not found or not a member), 42501 (another member''s import) or 55000 (finished).';

create function public.record_contact_import_progress(p_import_id uuid, p_rows_read integer, p_counts jsonb,
                                                      p_numbers text[] default null)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v public.contact_imports := private.own_running_contact_import(p_import_id);
  v_keys constant text[] := array['imported', 'updated', 'merged', 'rejected', 'opted_out', 'listed'];
  v_counts jsonb := coalesce(p_counts, '{}'::jsonb);
  v_key text;
  v_repeated bigint := 0;
  v_repeated_opted_out bigint := 0;
begin
  if p_rows_read is null or p_rows_read < 0 then
    raise exception 'p_rows_read must be the number of rows read so far' using errcode = '22023';
  end if;
  if jsonb_typeof(v_counts) <> 'object' then
    raise exception 'p_counts must be a JSON object' using errcode = '22023';
  end if;
  for v_key in select jsonb_object_keys(v_counts) loop
    if not (v_key = any(v_keys)) or jsonb_typeof(v_counts -> v_key) <> 'number'
       or (v_counts ->> v_key)::numeric < 0 or (v_counts ->> v_key)::numeric <> trunc((v_counts ->> v_key)::numeric)
       or (v_counts ->> v_key)::numeric > 1000000 then
      raise exception 'p_counts takes non-negative whole numbers for %', array_to_string(v_keys, ', ')
        using errcode = '22023';
    end if;
  end loop;
  if cardinality(p_numbers) > 5000 then
    raise exception 'at most 5000 numbers per call' using errcode = '22023';
  end if;

  if p_numbers is not null then
    -- Contacts of this batch that import_contacts() wrote in this same transaction (their
    -- updated_at is the transaction's now()). Those an earlier batch of this import already
    -- wrote were counted as updated (and opted out) again: they are duplicates within the
    -- file, so they move to merged, exactly as within one transaction.
    with written as materialized (
      select c.phone_e164, c.created_at = now() as inserted,
             exists (select 1 from public.opt_outs o
                      where o.workspace_id = v.workspace_id and o.phone_e164 = c.phone_e164) as opted_out
        from (select distinct n from unnest(p_numbers) as n where n is not null) as b
        -- lateral: one index lookup on (workspace_id, phone_e164) per number, whatever the estimates
        cross join lateral (select x.phone_e164, x.created_at from public.contacts x
                             where x.workspace_id = v.workspace_id and x.phone_e164 = b.n
                               and x.updated_at = now()) as c
    ),
    first_time as (
      insert into private.contact_import_numbers (import_id, phone_e164)
      select p_import_id, w.phone_e164 from written w
      on conflict do nothing
      returning phone_e164
    )
    select count(*) filter (where not w.inserted),
           count(*) filter (where not w.inserted and w.opted_out)
      into v_repeated, v_repeated_opted_out
      from written w
     where w.phone_e164 not in (select f.phone_e164 from first_time f);
  end if;

  v_counts := jsonb_build_object(
    'imported', coalesce((v_counts ->> 'imported')::bigint, 0),
    'updated', greatest(coalesce((v_counts ->> 'updated')::bigint, 0) - v_repeated, 0),
    'merged', coalesce((v_counts ->> 'merged')::bigint, 0) + v_repeated,
    'rejected', coalesce((v_counts ->> 'rejected')::bigint, 0),
    'opted_out', greatest(coalesce((v_counts ->> 'opted_out')::bigint, 0) - v_repeated_opted_out, 0),
    'listed', coalesce((v_counts ->> 'listed')::bigint, 0));

  update public.contact_imports i
     set rows_read = greatest(i.rows_read, p_rows_read),
         imported = i.imported + (v_counts ->> 'imported')::bigint,
         updated = i.updated + (v_counts ->> 'updated')::bigint,
         merged = i.merged + (v_counts ->> 'merged')::bigint,
         rejected_total = i.rejected_total + (v_counts ->> 'rejected')::bigint,
         opted_out = i.opted_out + (v_counts ->> 'opted_out')::bigint,
         listed = i.listed + (v_counts ->> 'listed')::bigint,
         updated_at = now()
   where i.id = p_import_id;
  return v_counts;
end
$$;
comment on function public.record_contact_import_progress(uuid, integer, jsonb, text[]) is
  'Adds one batch''s counts to a running import the caller started: p_rows_read is the number of CSV rows read '
  'so far (it never goes down), p_counts {"imported", "updated", "merged", "rejected", "opted_out", "listed"} '
  '(missing keys are 0). Call it in the transaction that ran the batch''s import_contacts(), passing the batch''s '
  'numbers as p_numbers: a number an earlier batch of this import wrote is then counted as merged, not updated '
  'or opted out again. Returns the counts as added.';

create function public.import_contact_batch(p_import_id uuid, p_list_id uuid, p_rows_read bigint,
                                            p_rejected bigint default 0)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v public.contact_imports := private.own_running_contact_import(p_import_id);
  v_result jsonb;
  v_counts jsonb;
begin
  if p_rows_read is null or p_rows_read < 0 or p_rejected is null or p_rejected < 0 then
    raise exception 'p_rows_read and p_rejected are counts of CSV rows' using errcode = '22023';
  end if;
  if p_list_id is not null and not exists (
       select 1 from public.contact_lists l where l.id = p_list_id and l.workspace_id = v.workspace_id) then
    raise exception 'no such contact list in this workspace' using errcode = 'P0002';
  end if;
  v_result := private.merge_contact_import_stage(v.workspace_id, v.consent_source, p_list_id);
  v_counts := jsonb_build_object(
    'imported', v_result -> 'inserted', 'updated', v_result -> 'updated', 'merged', v_result -> 'merged',
    'rejected', p_rejected + jsonb_array_length(v_result -> 'rejected'), 'opted_out', v_result -> 'opted_out',
    'listed', v_result -> 'listed');
  update public.contact_imports i
     set rows_read = greatest(i.rows_read, p_rows_read),
         imported = i.imported + (v_counts ->> 'imported')::bigint,
         updated = i.updated + (v_counts ->> 'updated')::bigint,
         merged = i.merged + (v_counts ->> 'merged')::bigint,
         rejected_total = i.rejected_total + (v_counts ->> 'rejected')::bigint,
         opted_out = i.opted_out + (v_counts ->> 'opted_out')::bigint,
         listed = i.listed + (v_counts ->> 'listed')::bigint,
         updated_at = now()
   where i.id = v.id;
  return v_counts || jsonb_build_object('rejected_rows', v_result -> 'rejected');
end
$$;
comment on function public.import_contact_batch(uuid, uuid, bigint, bigint) is
  'One batch of a running import the caller started: merges the rows the caller staged in this transaction '
  '(begin_contact_import_batch(), then COPY into pg_temp.contact_import_stage) into the import''s workspace, '
  'into p_list_id if given (P0002 if it is no longer the workspace''s), and adds the batch''s counts to the import: '
  'p_rows_read is the CSV rows read so far (it never goes down), p_rejected the rows of the batch the caller '
  'rejected before staging. A number staged as `earlier` (an earlier batch of the import wrote it, as the caller '
  'knows) counts as merged, not updated or opted out again. Returns the counts '
  'added ({"imported", "updated", "merged", "rejected", "opted_out", "listed"}) and the staged rows refused '
  '("rejected_rows": [{"row", "reason"}]).';

create function public.finish_contact_import(p_import_id uuid, p_status text, p_error text default null)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  v public.contact_imports := private.own_running_contact_import(p_import_id);
  v_error text := nullif(btrim(p_error), '');
begin
  if p_status is null or p_status not in ('completed', 'failed') then
    raise exception 'an import finishes as completed or failed' using errcode = '22023';
  end if;
  if p_status = 'failed' and v_error is null then
    raise exception 'a failed import needs the reason in p_error' using errcode = '22023';
  end if;
  if p_status = 'completed' and v_error is not null then
    raise exception 'a completed import has no error' using errcode = '22023';
  end if;
  update public.contact_imports i
     set status = p_status, error = left(v_error, 2000), finished_at = now(), updated_at = now()
   where i.id = v.id;
  delete from private.contact_import_numbers n where n.import_id = v.id;
end
$$;
comment on function public.finish_contact_import(uuid, text, text) is
  'Ends a running import the caller started: completed, or failed with the reason (kept to 2000 characters). '
  'Batches already recorded stay imported either way.';

-- ---------------------------------------------------------------------------------------
-- Imports whose process died: marked failed by pg_cron.

create function private.fail_stale_contact_imports(p_quiet_for interval)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_ids uuid[];
begin
  with stale as (
    update public.contact_imports i
       set status = 'failed', finished_at = now(), updated_at = now(),
           error = format('The import stopped reporting progress for %s (the process importing it ended); '
                          'the rows counted were imported.', p_quiet_for)
     where i.status = 'running' and i.updated_at < now() - p_quiet_for
    returning i.id
  )
  select coalesce(array_agg(id), '{}') into v_ids from stale;
  delete from private.contact_import_numbers n where n.import_id = any(v_ids);
  return cardinality(v_ids);
end
$$;
comment on function private.fail_stale_contact_imports(interval) is
  'Marks running contact imports with no progress for p_quiet_for as failed (their process died); returns how many.';

select cron.schedule('numeraloop-fail-stale-contact-imports', '*/5 * * * *',
                     $$select private.fail_stale_contact_imports('15 minutes')$$);

revoke all on function
  public.start_contact_import(uuid, text, text, uuid),
  public.record_contact_import_progress(uuid, integer, jsonb, text[]),
  public.import_contact_batch(uuid, uuid, bigint, bigint),
  private.merge_contact_import_stage(uuid, text, uuid),
  public.finish_contact_import(uuid, text, text),
  private.own_running_contact_import(uuid),
  private.fail_stale_contact_imports(interval)
  from public, anon, authenticated, service_role;
grant execute on function
  public.start_contact_import(uuid, text, text, uuid),
  public.record_contact_import_progress(uuid, integer, jsonb, text[]),
  public.import_contact_batch(uuid, uuid, bigint, bigint),
  public.finish_contact_import(uuid, text, text)
  to authenticated;

-- ---------------------------------------------------------------------------------------
-- Row-level security and grants: members read; nobody writes from a client.

alter table public.contact_imports enable row level security;

create policy contact_imports_select_member on public.contact_imports for select to authenticated
  using (workspace_id = any(array(select private.workspace_ids_for_current_user())));

revoke all on public.contact_imports from anon, authenticated, service_role;
grant select on public.contact_imports to authenticated;

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
