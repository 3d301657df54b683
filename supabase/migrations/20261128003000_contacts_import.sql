-- Contacts import: a CSV upload (parsed and normalised by the service) upserted into a
-- workspace's contacts, optionally added to a list, with consent recorded.
--
--   public.import_contacts()   one batch of rows (at most 5,000; the service sends about 1,000).
--                              A client may also call it through PostgREST with its own batches.
--   public.contact_imports     one row per upload, so the member importing (and their teammates)
--                              can watch a long import's progress through PostgREST
--                              (`contact_imports?id=eq.<id>`) while the service is still reading
--                              the file. The service commits each batch on its own, together with
--                              the progress it made: import_contacts() for the batch, then
--                              record_contact_import_progress(), in one transaction. Rows are
--                              written only through the functions below; clients read.
--
-- A process that dies mid-import leaves its row 'running'; a pg_cron job marks an import that
-- has reported no progress for 15 minutes as failed (every 5 minutes, so such a row reads
-- 'failed' at most about 20 minutes after its last batch).

-- ---------------------------------------------------------------------------------------
-- One batch

create function public.import_contacts(p_workspace_id uuid, p_rows jsonb, p_consent_source text,
                                       p_list_id uuid default null)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_source text := btrim(p_consent_source);
  v_result jsonb;
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

  with input as materialized (
    select t.r, t.ord from jsonb_array_elements(p_rows) with ordinality as t(r, ord)
  ),
  checked as materialized (
    select s.*,
           case
             when not s.is_object then 'row must be a JSON object'
             when s.phone is null or s.phone = '' then 'phone is missing'
             when s.phone !~ '^\+[1-9][0-9]{6,14}$' then 'phone must be an E.164 number'
             when char_length(s.first_name) > 100 then 'first_name is longer than 100 characters'
             when char_length(s.last_name) > 100 then 'last_name is longer than 100 characters'
             when s.email is not null and (char_length(s.email) > 320 or s.email !~ '^[^@[:space:]]+@[^@[:space:]]+$')
               then 'email is not a valid address'
             when s.bad_tags then 'tags must be an array of strings'
             when s.bad_custom then 'custom must be an object'
             when cardinality(s.tags) > 100 then 'more than 100 tags'
           end as problem
      from (
        select i.ord,
               case when jsonb_typeof(i.r) = 'object' then coalesce(i.r -> 'row', to_jsonb(i.ord)) else to_jsonb(i.ord) end as row_ref,
               jsonb_typeof(i.r) = 'object' as is_object,
               case when jsonb_typeof(i.r) = 'object' then btrim(i.r ->> 'phone') end as phone,
               case when jsonb_typeof(i.r) = 'object' then nullif(btrim(i.r ->> 'first_name'), '') end as first_name,
               case when jsonb_typeof(i.r) = 'object' then nullif(btrim(i.r ->> 'last_name'), '') end as last_name,
               case when jsonb_typeof(i.r) = 'object' then nullif(btrim(i.r ->> 'email'), '') end as email,
               case when jsonb_typeof(i.r -> 'tags') = 'array'
                    then array(select btrim(x) from jsonb_array_elements_text(i.r -> 'tags') as x where btrim(x) <> '')
                    else '{}'::text[] end as tags,
               coalesce(jsonb_typeof(i.r -> 'tags') not in ('array', 'null'), false) as bad_tags,
               case when jsonb_typeof(i.r -> 'custom') = 'object'
                    then (select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
                            from jsonb_each(i.r -> 'custom') as e
                           where jsonb_typeof(e.value) <> 'null' and e.value <> '""'::jsonb)
                    else '{}'::jsonb end as custom,
               coalesce(jsonb_typeof(i.r -> 'custom') not in ('object', 'null'), false) as bad_custom
          from input i
      ) as s
  ),
  -- Rows of the batch with the same number are merged: the last non-empty value of a field
  -- wins, tags are united (in order of first appearance), custom fields merged (later rows win).
  merged as materialized (
    select v.phone,
           (array_agg(v.first_name order by v.ord desc) filter (where v.first_name is not null))[1] as first_name,
           (array_agg(v.last_name order by v.ord desc) filter (where v.last_name is not null))[1] as last_name,
           (array_agg(v.email order by v.ord desc) filter (where v.email is not null))[1] as email,
           count(*) as n_rows,
           (array_agg(v.row_ref order by v.ord desc))[1] as last_row_ref,
           jsonb_agg(to_jsonb(v.tags) order by v.ord) as tag_lists,
           jsonb_agg(v.custom order by v.ord) as customs
      from checked v
     where v.problem is null
     group by v.phone
  ),
  incoming as materialized (
    select m.phone, m.first_name, m.last_name, m.email, m.n_rows, m.last_row_ref,
           array(select b.x
                   from jsonb_array_elements(m.tag_lists) with ordinality as a(arr, n),
                        jsonb_array_elements_text(a.arr) with ordinality as b(x, k)
                  group by b.x order by min(a.n * 1000 + b.k)) as tags,
           (select coalesce(jsonb_object_agg(e.key, e.value order by a.n), '{}'::jsonb)
              from jsonb_array_elements(m.customs) with ordinality as a(obj, n), jsonb_each(a.obj) as e) as custom,
           e.id as existing_id,
           e.tags as existing_tags,
           -- Written earlier in this same transaction (updated_at is the transaction's now()):
           -- an earlier batch of the same upload had this number, so it is a duplicate within
           -- the file, not an update of a contact that existed before.
           (e.id is not null and e.updated_at = now()) as seen_in_this_import
      from merged m
      -- lateral: one index lookup on (workspace_id, phone_e164) per number, whatever the estimates
      left join lateral (select c.id, c.tags, c.updated_at from public.contacts c
                          where c.workspace_id = p_workspace_id and c.phone_e164 = m.phone) as e on true
  ),
  sized as materialized (
    select i.*,
           array(select x from unnest(coalesce(i.existing_tags, '{}'::text[]) || i.tags) with ordinality as u(x, n)
                  group by x order by min(n)) as all_tags
      from incoming i
  ),
  upserted as (
    insert into public.contacts as c (workspace_id, phone_e164, first_name, last_name, email, tags, custom_fields,
                                      consent_source, consent_at)
    select p_workspace_id, i.phone, i.first_name, i.last_name, i.email, i.all_tags, i.custom, v_source, now()
      from sized i
     where cardinality(i.all_tags) <= 100
    on conflict (workspace_id, phone_e164) do update set
      first_name = coalesce(excluded.first_name, c.first_name),
      last_name = coalesce(excluded.last_name, c.last_name),
      email = coalesce(excluded.email, c.email),
      tags = array(select x from unnest(c.tags || excluded.tags) with ordinality as u(x, n) group by x order by min(n)),
      custom_fields = c.custom_fields || excluded.custom_fields,
      consent_source = excluded.consent_source,
      consent_at = excluded.consent_at
    returning c.id, c.phone_e164
  ),
  listed as (
    insert into public.contact_list_members (workspace_id, list_id, contact_id)
    select p_workspace_id, p_list_id, u.id from upserted u where p_list_id is not null
    on conflict do nothing
    returning 1
  ),
  rejected as (
    select c.ord, c.row_ref, c.problem from checked c where c.problem is not null
    union all
    select null, i.last_row_ref, 'the contact would have more than 100 tags'
      from sized i where cardinality(i.all_tags) > 100
  )
  select jsonb_build_object(
           'inserted', (select count(*) from sized i
                         where cardinality(i.all_tags) <= 100 and i.existing_id is null),
           'updated', (select count(*) from sized i
                        where cardinality(i.all_tags) <= 100 and i.existing_id is not null and not i.seen_in_this_import),
           'merged', (select coalesce(sum(i.n_rows), 0) from sized i where cardinality(i.all_tags) <= 100)
                     - (select count(*) from sized i
                         where cardinality(i.all_tags) <= 100 and not coalesce(i.seen_in_this_import, false)),
           'listed', (select count(*) from listed),
           'opted_out', (select count(*) from sized i
                          where cardinality(i.all_tags) <= 100 and not i.seen_in_this_import
                            and exists (select 1 from public.opt_outs o
                                         where o.workspace_id = p_workspace_id and o.phone_e164 = i.phone)),
           'rejected', coalesce((select jsonb_agg(jsonb_build_object('row', r.row_ref, 'reason', r.problem)
                                                  order by r.ord nulls last)
                                   from rejected r), '[]'::jsonb))
    into v_result;
  return v_result;
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
  public.finish_contact_import(uuid, text, text),
  private.own_running_contact_import(uuid),
  private.fail_stale_contact_imports(interval)
  from public, anon, authenticated, service_role;
grant execute on function
  public.start_contact_import(uuid, text, text, uuid),
  public.record_contact_import_progress(uuid, integer, jsonb, text[]),
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
