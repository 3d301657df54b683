-- Your data, complete: public.export_my_data() also exports what was added since it was
-- written (or left out then): the caller's own access log, and per workspace its contact
-- imports, campaigns and their recipients, canned messages, keyword triggers, auto-replies,
-- call routing rules, webhook endpoints (without their signing secret), audit log, and
-- billing (customer, subscriptions, invoices, payment methods).
--
-- The function stays security invoker: every read runs under the caller's RLS, so an agent's
-- export has no invoices, payment methods, webhook endpoints or audit log (admins only), and
-- no row of a workspace the caller is not a member of. A table the caller has no SELECT grant
-- on at all yields an empty list, not an error.
--
-- The per-table reads are one helper over one list, private.export_workspace_tables(), instead
-- of a hand-written sub-select per table. Secrets never leave: columns listed there as omitted
-- (webhook_endpoints.secret) are removed from every row, and nothing is read from `private`.

create function private.export_workspace_tables()
returns table (table_name text, order_by text, omitted_columns text[])
language sql immutable
set search_path = ''
as $$
  values
    ('phone_numbers',        'created_at', '{}'::text[]),
    ('call_routing_rules',   'created_at', '{}'),
    ('contacts',             'created_at', '{}'),
    ('contact_lists',        'created_at', '{}'),
    ('contact_list_members', 'added_at',   '{}'),
    ('contact_imports',      'started_at', '{}'),
    ('opt_outs',             'opted_out_at', '{}'),
    ('conversations',        'created_at', '{}'),
    -- messages are read separately, with their media nested (see export_my_data)
    ('calls',                'created_at', '{}'),
    ('canned_messages',      'created_at', '{}'),
    ('keyword_triggers',     'created_at', '{}'),
    ('auto_reply_rules',     'created_at', '{}'),
    ('campaigns',            'created_at', '{}'),
    ('campaign_recipients',  'id',         '{}'),
    ('webhook_endpoints',    'created_at', '{secret}'),
    ('audit_log',            'id',         '{}'),
    ('billing_customers',    'created_at', '{}'),
    ('subscriptions',        'created_at', '{}'),
    ('invoices',             'stripe_created', '{}'),
    ('payment_methods',      'created_at', '{}')
$$;
comment on function private.export_workspace_tables() is
  'The public tables exported per workspace by export_my_data() (besides messages, which carry their media): '
  'the key and table name, the column rows are ordered by, and columns never exported (secrets). '
  'A table added to the product that users can read belongs here.';
grant execute on function private.export_workspace_tables() to authenticated;

create function private.export_rows(p_table text, p_owner_column text, p_owner uuid, p_order_by text,
                                    p_omitted_columns text[] default '{}')
returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  rows_ jsonb;
begin
  -- Without a SELECT grant the table simply has nothing this caller can export.
  if not has_table_privilege(format('public.%I', p_table), 'select') then
    return '[]'::jsonb;
  end if;
  execute format('select coalesce(jsonb_agg(to_jsonb(x) - $2 order by x.%I), ''[]''::jsonb) '
                 'from public.%I x where x.%I = $1', p_order_by, p_table, p_owner_column)
     into rows_ using p_owner, p_omitted_columns;
  return rows_;
end
$$;
comment on function private.export_rows(text, text, uuid, text, text[]) is
  'The rows of public.<p_table> whose <p_owner_column> is p_owner, as a JSON array ordered by <p_order_by>, '
  'without p_omitted_columns. Security invoker: RLS and grants decide what the caller gets; a table they '
  'cannot SELECT yields []. Identifiers are quoted with %I; values are bound, never spliced.';
grant execute on function private.export_rows(text, text, uuid, text, text[]) to authenticated;

-- Security invoker: every read below runs under the caller's RLS, so the export is at most
-- what the caller can already read, whatever the filters say.
create or replace function public.export_my_data(p_format text default 'json')
returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  ws_ids uuid[];
  v_profile jsonb;
  v_memberships jsonb;
  v_workspaces jsonb;
  v_access_log jsonb;
  v_counts jsonb;
  v_requests jsonb;
begin
  if uid is null then
    raise exception 'sign in to export your data' using errcode = '42501';
  end if;
  if p_format is null or p_format not in ('json', 'csv') then
    raise exception 'format must be json or csv' using errcode = '22023';
  end if;
  ws_ids := array(select private.workspace_ids_for_current_user());

  select to_jsonb(p) into v_profile from public.profiles p where p.id = uid;
  if v_profile is null then
    -- A still-valid token of an account deleted since it was issued.
    raise exception 'this account no longer exists' using errcode = '42501';
  end if;

  select coalesce(jsonb_agg(to_jsonb(m) order by m.created_at), '[]') into v_memberships
    from public.workspace_members m where m.user_id = uid;

  v_access_log := private.export_rows('access_log', 'user_id', uid, 'id');

  select coalesce(jsonb_agg(to_jsonb(w)
      || (select jsonb_object_agg(t.table_name,
                                  private.export_rows(t.table_name, 'workspace_id', w.id, t.order_by, t.omitted_columns))
            from private.export_workspace_tables() t)
      || jsonb_build_object('messages',
           (select coalesce(jsonb_agg(to_jsonb(x) || jsonb_build_object('media',
                     (select coalesce(jsonb_agg(to_jsonb(mm) order by mm.position), '[]')
                        from public.message_media mm
                       where mm.workspace_id = x.workspace_id and mm.message_id = x.id))
                     order by x.created_at, x.id), '[]')
              from public.messages x where x.workspace_id = w.id))
    order by w.created_at), '[]') into v_workspaces
    from public.workspaces w where w.id = any(ws_ids);

  -- Row counts per key, summed over the workspaces; never any content.
  select jsonb_object_agg(k.key, (select coalesce(sum(jsonb_array_length(ws -> k.key)), 0)
                                    from jsonb_array_elements(v_workspaces) ws))
    into v_counts
    from (select t.table_name as key from private.export_workspace_tables() t
          union all select 'messages') k;
  v_counts := v_counts || jsonb_build_object('workspaces', jsonb_array_length(v_workspaces),
                                             'access_log', jsonb_array_length(v_access_log));

  perform private.record_data_export(p_format, v_counts);

  -- Read after recording, so the export lists itself among the requests.
  select coalesce(jsonb_agg(to_jsonb(r) order by r.requested_at), '[]') into v_requests
    from public.data_requests r where r.user_id = uid;

  return jsonb_build_object(
    'format_version', 1,
    'exported_at', now(),
    'user_id', uid,
    'profile', v_profile,
    'memberships', v_memberships,
    'workspaces', v_workspaces,
    'access_log', v_access_log,
    'data_requests', v_requests);
end
$$;
comment on function public.export_my_data(text) is
  'Everything the caller can read about themself and in their workspaces: profile, memberships, their own '
  'access log and data requests, and per workspace the tables listed by private.export_workspace_tables() '
  '(phone numbers, routing rules, contacts, lists, imports, opt-outs, conversations, calls, canned messages, '
  'keyword triggers, auto-replies, campaigns and recipients, webhook endpoints without secrets, audit log, '
  'billing) plus messages with their media. Runs as the caller (RLS applies: admin-only tables are empty for '
  'agents). Records a completed export request and a data.export audit row with row counts; p_format '
  '(json|csv) is how the caller delivers it, recorded only.';

revoke all on function public.export_my_data(text) from public, anon, service_role;
grant execute on function public.export_my_data(text) to authenticated;
