-- Helpers for the pgTAP files in this folder, in the spirit of supabase-test-helpers:
-- create users, act as one the way PostgREST does per request, and check RLS coverage.
-- Runs first (file order) and is not rolled back; every statement is idempotent.
-- Lives only in test databases (`supabase test db`, `make test`), never in a migration.

create extension if not exists pgtap with schema extensions;
create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

-- A user identified in tests by a short handle, with a confirmed e-mail address as GoTrue
-- leaves one who can sign in; the signup trigger gives them a profile and a personal
-- workspace, exactly as a real signup does.
create or replace function tests.create_user(handle text, full_name text default null)
returns uuid
language plpgsql
as $$
declare
  uid uuid := gen_random_uuid();
begin
  insert into auth.users (id, email, raw_user_meta_data, aud, role, email_confirmed_at)
  values (uid, handle || '@example.test',
          jsonb_build_object('full_name', coalesce(full_name, initcap(handle)), 'test_handle', handle),
          'authenticated', 'authenticated', now());
  return uid;
end
$$;

create or replace function tests.user_id(handle text)
returns uuid
language sql stable security definer
set search_path = ''
as $$
  select id from auth.users where raw_user_meta_data ->> 'test_handle' = handle
$$;

create or replace function tests.personal_workspace(handle text)
returns uuid
language sql stable security definer
set search_path = ''
as $$
  select w.id from public.workspaces w
  where w.created_by = tests.user_id(handle) and w.is_personal
$$;

-- What PostgREST does for each request: role and claims, local to the transaction.
create or replace function tests.authenticate_as(handle text)
returns void
language plpgsql
as $$
declare
  uid uuid := tests.user_id(handle);
begin
  if uid is null then
    raise exception 'no test user with handle %', handle;
  end if;
  perform set_config('request.jwt.claims',
    json_build_object('sub', uid, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
  perform set_config('role', 'authenticated', true);
end
$$;

create or replace function tests.authenticate_as_anon()
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims', '{"role": "anon"}', true);
  perform set_config('role', 'anon', true);
end
$$;

create or replace function tests.authenticate_as_service_role()
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
  perform set_config('role', 'service_role', true);
end
$$;

create or replace function tests.clear_authentication()
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims', '', true);
  perform set_config('role', session_user, true);
end
$$;

-- An invitation from `inviter` to `invitee`'s address, made as the inviter through
-- public.invite_to_workspace(); returns its token. Leaves nobody authenticated.
create or replace function tests.invite(workspace uuid, inviter text, invitee text,
                                        invited_role public.workspace_role default 'agent')
returns text
language plpgsql
as $$
declare
  token text;
begin
  perform tests.authenticate_as(inviter);
  token := public.invite_to_workspace(workspace, invitee || '@example.test', invited_role) ->> 'token';
  perform tests.clear_authentication();
  return token;
end
$$;

-- One assertion that every table in a schema has RLS on, so a new table cannot slip through.
create or replace function tests.rls_enabled(schema_name text)
returns text
language sql
as $$
  select is(
    (select coalesce(array_agg(c.relname::text order by c.relname), '{}')
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = schema_name and c.relkind in ('r', 'p') and not c.relrowsecurity),
    '{}'::text[],
    format('every table in schema %s has row level security enabled', schema_name))
$$;

-- What a caller's statement did: 'denied' (42501: privileges or RLS) or 'rows:<n>', so a test
-- can assert that a write was refused or silently matched nothing, in one line.
create or replace function tests.attempt(statement text)
returns text
language plpgsql
as $$
declare
  n bigint;
begin
  execute statement;
  get diagnostics n = row_count;
  return 'rows:' || n;
exception when insufficient_privilege then
  return 'denied';
end
$$;

grant execute on all functions in schema tests to anon, authenticated, service_role;

begin;
select plan(8);
select has_function('tests', 'create_user', array['text', 'text'], 'tests.create_user exists');
select has_function('tests', 'authenticate_as', array['text'], 'tests.authenticate_as exists');
select has_function('tests', 'authenticate_as_anon', 'tests.authenticate_as_anon exists');
select has_function('tests', 'clear_authentication', 'tests.clear_authentication exists');
select has_function('tests', 'rls_enabled', array['text'], 'tests.rls_enabled exists');
select has_function('tests', 'attempt', array['text'], 'tests.attempt exists');
select has_function('tests', 'invite', array['uuid', 'text', 'text', 'workspace_role'], 'tests.invite exists');
select has_extension('pg_cron', 'pg_cron is installed in the test database');
select * from finish();
rollback;
