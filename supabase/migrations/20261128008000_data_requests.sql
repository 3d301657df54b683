-- Your data: a user exports everything they can see, and deletes their account.
--
--   public.data_requests          one row per export or deletion request; the user reads their own.
--   public.export_my_data()       everything the caller can read about themself and in their
--                                 workspaces, as JSON (profile, memberships, their own access log
--                                 and requests, and per workspace every table users read, billing
--                                 included); records a completed `export` request.
--   public.request_account_deletion() / public.cancel_account_deletion()
--                                 one open deletion request per user, carried out after a 7-day
--                                 grace period during which the user can cancel it.
--   private.delete_due_accounts() run daily by pg_cron (job numeraloop-account-deletion): deletes
--                                 the accounts whose grace period is over.
--
-- The promise is deletion within 30 days of the request. The grace period is 7 days and the job
-- runs every day; a run that fails for one account marks that request `failed` and the next
-- day's run tries it again, so up to 23 daily attempts fit inside the promise.

create table public.data_requests (
  id uuid primary key default gen_random_uuid(),
  -- Set null when the user is deleted: the completed deletion request stays as the record that
  -- the promise was kept, and no longer says whose account it was.
  user_id uuid references auth.users (id) on delete set null,
  kind text not null check (kind in ('export', 'deletion')),
  status text not null check (status in ('requested', 'scheduled', 'completed', 'canceled', 'failed')),
  requested_at timestamptz not null default now(),
  scheduled_for timestamptz,
  completed_at timestamptz,
  canceled_at timestamptz,
  details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object'),
  constraint data_requests_deletion_is_scheduled check ((kind = 'deletion') = (scheduled_for is not null)),
  constraint data_requests_within_30_days check (scheduled_for <= requested_at + interval '30 days'),
  constraint data_requests_completed_at check ((status = 'completed') = (completed_at is not null)),
  constraint data_requests_canceled_at check ((status = 'canceled') = (canceled_at is not null)),
  constraint data_requests_only_deletions_cancel check (status <> 'canceled' or kind = 'deletion')
);
-- One open deletion request per user; also what makes request_account_deletion() idempotent
-- under concurrent calls.
create unique index data_requests_one_open_deletion_key on public.data_requests (user_id)
  where kind = 'deletion' and status in ('requested', 'scheduled', 'failed');
create index data_requests_user_idx on public.data_requests (user_id, requested_at desc);
-- What the daily job looks for.
create index data_requests_due_deletions_idx on public.data_requests (scheduled_for)
  where kind = 'deletion' and status in ('scheduled', 'failed');

comment on table public.data_requests is
  'A user''s data exports and account deletion requests (per user, not per workspace). The user reads '
  'their own; rows are written only by export_my_data(), request_account_deletion(), '
  'cancel_account_deletion() and the daily private.delete_due_accounts().';
comment on column public.data_requests.status is
  'requested: recorded, not yet scheduled; scheduled: a deletion waiting for its grace period to end; '
  'completed; canceled (by the user, during the grace period); failed: the last deletion attempt failed '
  '(details.last_error) and the next daily run retries it.';
comment on column public.data_requests.scheduled_for is
  'Deletions only: when the account is deleted (requested_at + 7 days; never later than 30 days).';
comment on column public.data_requests.details is
  'Counts and error codes only, never personal data: rows exported, rows deleted, failed attempts.';

alter table public.data_requests enable row level security;

create policy data_requests_select_own on public.data_requests for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.data_requests from anon, authenticated, service_role;
grant select on public.data_requests to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Account deletion: request and cancel (the caller's own account only)

create function private.account_deletion_grace_period()
returns interval
language sql immutable
set search_path = ''
as $$ select interval '7 days' $$;
comment on function private.account_deletion_grace_period() is
  'How long a user has to cancel an account deletion. Must stay well under 30 days (the promise), '
  'leaving room for daily retries; the data_requests_within_30_days constraint holds the hard limit.';
grant execute on function private.account_deletion_grace_period() to authenticated, service_role;

create function public.request_account_deletion()
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req public.data_requests;
begin
  if uid is null or not exists (select 1 from auth.users u where u.id = uid) then
    raise exception 'sign in to delete your account' using errcode = '42501';
  end if;

  insert into public.data_requests (user_id, kind, status, scheduled_for)
  values (uid, 'deletion', 'scheduled', now() + private.account_deletion_grace_period())
  on conflict (user_id) where kind = 'deletion' and status in ('requested', 'scheduled', 'failed')
  do nothing
  returning * into req;

  if req.id is null then
    -- Already requested: the open request stands, its date unchanged.
    select * into req from public.data_requests r
     where r.user_id = uid and r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed');
  else
    perform private.write_audit_log(null, uid, 'account.deletion_requested', 'data_request', req.id::text,
                                    jsonb_build_object('scheduled_for', req.scheduled_for), null);
  end if;
  return req;
end
$$;
comment on function public.request_account_deletion() is
  'Schedules the deletion of the caller''s account after the grace period (7 days). Idempotent: '
  'while a deletion request is open, returns it unchanged.';

create function public.cancel_account_deletion()
returns public.data_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req public.data_requests;
begin
  if uid is null then
    raise exception 'sign in to cancel your account deletion' using errcode = '42501';
  end if;
  update public.data_requests r
     set status = 'canceled', canceled_at = now()
   where r.user_id = uid and r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed')
  returning * into req;
  if req.id is not null then
    perform private.write_audit_log(null, uid, 'account.deletion_canceled', 'data_request', req.id::text,
                                    '{}'::jsonb, null);
  end if;
  return req;  -- null: nothing open to cancel
end
$$;
comment on function public.cancel_account_deletion() is
  'Cancels the caller''s open account deletion request; returns it, or null when none is open.';

revoke all on function public.request_account_deletion(), public.cancel_account_deletion() from public, anon;
grant execute on function public.request_account_deletion(), public.cancel_account_deletion() to authenticated;

-- ---------------------------------------------------------------------------------------
-- The daily job

create function private.delete_account(p_user_id uuid)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  sole_owned uuid[];
  n_contacts bigint;
  n_messages bigint;
  n_calls bigint;
  n_workspaces integer;
  n_memberships integer;
  n_profiles integer;
  n_users integer;
begin
  -- Workspaces where the user is the only owner go, with everything in them (foreign keys
  -- cascade). They go first: the last-owner guard on workspace_members refuses to remove a
  -- workspace's only owner while the workspace exists.
  select coalesce(array_agg(m.workspace_id), '{}') into sole_owned
    from public.workspace_members m
   where m.user_id = p_user_id and m.role = 'owner'
     and not exists (select 1 from public.workspace_members o
                      where o.workspace_id = m.workspace_id and o.role = 'owner' and o.user_id <> p_user_id);

  select count(*) into n_contacts from public.contacts c where c.workspace_id = any(sole_owned);
  select count(*) into n_messages from public.messages m where m.workspace_id = any(sole_owned);
  select count(*) into n_calls from public.calls c where c.workspace_id = any(sole_owned);

  delete from public.workspaces w where w.id = any(sole_owned);
  get diagnostics n_workspaces = row_count;

  -- Memberships of workspaces that have another owner: the workspace and its records stay;
  -- what the user did there (messages sent, calls placed) is no longer linked to them.
  delete from public.workspace_members m where m.user_id = p_user_id;
  get diagnostics n_memberships = row_count;

  -- Their own past requests go too; the caller keeps (unlinked) the deletion request itself.
  delete from public.data_requests r
   where r.user_id = p_user_id and not (r.kind = 'deletion' and r.status in ('requested', 'scheduled', 'failed'));

  delete from public.profiles p where p.id = p_user_id;
  get diagnostics n_profiles = row_count;

  -- Supabase Auth's own row (identities, sessions and refresh tokens cascade from it). This
  -- is also how Supabase's admin API deletes a user.
  delete from auth.users u where u.id = p_user_id;
  get diagnostics n_users = row_count;

  return jsonb_build_object('workspaces_deleted', n_workspaces, 'contacts_deleted', n_contacts,
                            'messages_deleted', n_messages, 'calls_deleted', n_calls,
                            'memberships_removed', n_memberships, 'profile_deleted', n_profiles = 1,
                            'user_deleted', n_users = 1);
end
$$;
comment on function private.delete_account(uuid) is
  'Deletes one user''s data: workspaces they alone own (with all their rows), their other memberships, '
  'their profile and requests, and their auth.users row. Returns counts. Called by delete_due_accounts().';
revoke all on function private.delete_account(uuid) from public, anon, authenticated, service_role;

create function private.delete_due_accounts(p_now timestamptz default now())
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  req record;
  v_outcome jsonb;
  attempts integer;
  err_state text;
  err_table text;
  err_constraint text;
  n_completed integer := 0;
  n_failed integer := 0;
begin
  for req in
    select r.id, r.user_id, r.details, r.requested_at from public.data_requests r
     where r.kind = 'deletion' and r.status in ('scheduled', 'failed') and r.scheduled_for <= p_now
     order by r.scheduled_for
     for update skip locked  -- a second run at the same time takes other requests, never the same
  loop
    attempts := coalesce((req.details ->> 'attempts')::integer, 0) + 1;
    begin
      if req.user_id is null then
        -- The user was deleted some other way (e.g. from the Supabase dashboard) meanwhile.
        v_outcome := jsonb_build_object('user_deleted', false, 'already_gone', true);
      else
        -- What Twilio and Stripe still have to delete is due 30 days after this request.
        perform set_config('numeraloop.deletion_requested_at', req.requested_at::text, true);
        v_outcome := private.delete_account(req.user_id);
      end if;
      update public.data_requests r
         set status = 'completed', completed_at = p_now, user_id = null,
             -- What the request said (why it was made) stays; a failed attempt's error does not.
             details = (r.details - 'last_error' - 'last_attempt_at') || v_outcome
                       || jsonb_build_object('attempts', attempts)
       where r.id = req.id;
      perform private.write_audit_log(null, null, 'account.deletion', 'data_request', req.id::text,
                                      v_outcome || jsonb_build_object('attempts', attempts), null);
      n_completed := n_completed + 1;
    exception when others then
      -- Everything this account's attempt did is rolled back; the next daily run retries it.
      -- Only the error's code and schema names are kept: a message could quote row values.
      get stacked diagnostics err_state = returned_sqlstate, err_table = table_name,
                              err_constraint = constraint_name;
      update public.data_requests r
         set status = 'failed',
             details = r.details || jsonb_build_object(
               'attempts', attempts, 'last_attempt_at', p_now,
               'last_error', jsonb_strip_nulls(jsonb_build_object(
                 'sqlstate', err_state, 'table', nullif(err_table, ''), 'constraint', nullif(err_constraint, ''))))
       where r.id = req.id;
      perform private.write_audit_log(null, null, 'account.deletion_failed', 'data_request', req.id::text,
                                      jsonb_build_object('attempts', attempts, 'sqlstate', err_state), null);
      n_failed := n_failed + 1;
    end;
  end loop;
  return jsonb_build_object('completed', n_completed, 'failed', n_failed);
end
$$;
comment on function private.delete_due_accounts(timestamptz) is
  'Deletes every account whose deletion request is due (grace period over), each in its own subtransaction: '
  'one failure is recorded on its request (status failed, retried by the next run) and the others proceed. '
  'Run daily by pg_cron (job numeraloop-account-deletion).';

revoke all on function private.delete_due_accounts(timestamptz) from public, anon, authenticated;
grant execute on function private.delete_due_accounts(timestamptz) to service_role;

select cron.schedule('numeraloop-account-deletion', '43 2 * * *', $$select private.delete_due_accounts()$$);

-- ---------------------------------------------------------------------------------------
-- Export
--
-- export_my_data() is security invoker: every read runs under the caller's RLS, so an agent's
-- export has no invoices, payment methods, webhook endpoints or audit log (admins only), and
-- no row of a workspace the caller is not a member of. A table the caller has no SELECT grant
-- on at all yields an empty list, not an error.
--
-- The per-table reads are one helper over one list, private.export_workspace_tables(), instead
-- of a hand-written sub-select per table. Secrets never leave: columns listed there as omitted
-- (webhook_endpoints.secret) are removed from every row, and nothing is read from `private`.
-- Tables are read by name when the export runs, so the list also names tables that later
-- migrations create (campaigns, access log, billing).

create function private.record_data_export(p_format text, p_counts jsonb)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  req_id uuid;
begin
  if uid is null then
    raise exception 'sign in to export your data' using errcode = '42501';
  end if;
  insert into public.data_requests (user_id, kind, status, completed_at, details)
  values (uid, 'export', 'completed', now(), jsonb_build_object('format', p_format, 'counts', p_counts))
  returning id into req_id;
  perform private.write_audit_log(null, uid, 'data.export', 'data_request', req_id::text,
                                  jsonb_build_object('format', p_format, 'counts', p_counts), null);
  return req_id;
end
$$;
comment on function private.record_data_export(text, jsonb) is
  'Records the caller''s export as a completed data_request and in audit_log (format and row counts only). '
  'Called by public.export_my_data(), which reads as the caller.';
revoke all on function private.record_data_export(text, jsonb) from public, anon, service_role;
grant execute on function private.record_data_export(text, jsonb) to authenticated;

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
create function public.export_my_data(p_format text default 'json')
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

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
