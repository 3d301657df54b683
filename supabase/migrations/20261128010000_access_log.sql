-- Access log: every call a signed-in user makes to the service's /api/v1, so a user (and
-- an operator) can see which account did what from where. The path is the route's pattern
-- (/api/v1/numbers/<number_id>), never the concrete URL or query string, which can carry
-- phone numbers. A security log: kept 12 months, then purged by pg_cron.

create table public.access_log (
  id bigint generated always as identity primary key,
  user_id uuid references auth.users (id) on delete cascade,
  method text not null check (method ~ '^[A-Z]{3,7}$'),
  route text not null check (char_length(route) <= 200),
  status integer not null check (status between 100 and 599),
  ip inet,
  user_agent text check (char_length(user_agent) <= 300),
  request_id text check (char_length(request_id) <= 128),
  created_at timestamptz not null default now()
);
create index access_log_user_created_idx on public.access_log (user_id, created_at desc);
create index access_log_created_idx on public.access_log (created_at);
comment on table public.access_log is
  'One row per authenticated /api/v1 request: who, which route (its pattern, not the URL), the outcome, '
  'from where. Users read their own rows; written only by the service; purged after 12 months.';

alter table public.access_log enable row level security;
create policy access_log_select_own on public.access_log for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.access_log from anon, authenticated, service_role;
grant select on public.access_log to authenticated;
grant select on public.access_log to service_role;

create function private.write_access_log(p_user_id uuid, p_method text, p_route text, p_status integer,
                                         p_ip inet, p_user_agent text, p_request_id text)
returns void
language sql security definer
set search_path = ''
as $$
  insert into public.access_log (user_id, method, route, status, ip, user_agent, request_id)
  select p_user_id, p_method, left(p_route, 200), p_status, p_ip, left(p_user_agent, 300), left(p_request_id, 128)
  where exists (select 1 from auth.users u where u.id = p_user_id)
$$;
comment on function private.write_access_log(uuid, text, text, integer, inet, text, text) is
  'The one way rows enter access_log (service_role). A token whose user no longer exists writes nothing.';
revoke all on function private.write_access_log(uuid, text, text, integer, inet, text, text) from public, anon, authenticated;
grant execute on function private.write_access_log(uuid, text, text, integer, inet, text, text) to service_role;

create function private.purge_expired_access_log(p_now timestamptz default now())
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  n integer;
begin
  delete from public.access_log where created_at < p_now - interval '12 months';
  get diagnostics n = row_count;
  return n;
end
$$;
comment on function private.purge_expired_access_log(timestamptz) is
  'Deletes access_log rows older than 12 months. Run nightly by pg_cron (job numeraloop-access-log-retention).';
revoke all on function private.purge_expired_access_log(timestamptz) from public, anon, authenticated;
grant execute on function private.purge_expired_access_log(timestamptz) to service_role;

select cron.schedule('numeraloop-access-log-retention', '27 3 * * *', $$select private.purge_expired_access_log()$$);

-- ---------------------------------------------------------------------------------------
-- A new function is executable by PUBLIC, and no per-schema default privilege changes that, so
-- EXECUTE on `private` is taken back here; a role calls only what is granted to it above.
revoke execute on all functions in schema private from public, anon;
