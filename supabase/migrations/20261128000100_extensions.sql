-- Extensions and the private schema every later migration builds on.

create extension if not exists pgcrypto with schema extensions;
-- pg_cron runs the retention jobs; it can only be created in cron.database_name.
create extension if not exists pg_cron;

-- Helpers that policies call, and functions that touch secrets, live in `private`:
-- PostgREST does not expose it, and nothing in it is executable unless granted by name.
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- Functions are executable by PUBLIC by default; NumeraLoop grants EXECUTE explicitly.
alter default privileges in schema private revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated, service_role;

comment on schema private is
  'Helpers for RLS policies and security-definer functions. Not exposed through PostgREST; EXECUTE is granted per function.';
