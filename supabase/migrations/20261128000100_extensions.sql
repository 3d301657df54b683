-- Extensions and the private schema every later migration builds on.

create extension if not exists pgcrypto with schema extensions;
-- pg_cron runs the retention jobs; it can only be created in cron.database_name.
create extension if not exists pg_cron;

-- Helpers that policies call, and functions that touch secrets, live in `private`:
-- PostgREST does not expose it, and nothing in it is executable unless granted by name.
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- Supabase's per-schema default privileges let the API roles execute every new function in
-- public; take that back, so EXECUTE is granted per function. PUBLIC's EXECUTE on a new
-- function is a global default that no per-schema statement can revoke (per-schema default
-- privileges only add to the global ones): the migrations that create functions in `private`
-- end with `revoke execute on all functions in schema private from public, anon`, and
-- supabase/tests/private_functions.test.sql holds every function there to it.
alter default privileges in schema public revoke execute on functions from anon, authenticated, service_role;

comment on schema private is
  'Helpers for RLS policies and security-definer functions. Not exposed through PostgREST; EXECUTE is granted per function.';
