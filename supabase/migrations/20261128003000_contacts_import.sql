-- Contacts import: one batch of CSV rows (already parsed and normalised by the service)
-- upserted into a workspace's contacts, optionally added to a list, with consent recorded.
-- The service calls it once per batch of about 1,000 rows, all batches of one upload in one
-- transaction; a client may also call it through PostgREST with its own batches.

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
