-- Who may execute what in schema private. PUBLIC (so anon) executes nothing there: PostgreSQL
-- grants PUBLIC EXECUTE on every new function, and only an explicit revoke takes it back.
-- authenticated executes exactly the helpers that run with the caller's own rights (RLS
-- policies, check constraints, security-invoker functions); everything else is service_role's
-- or nobody's.
begin;
select plan(8);

-- Every function in private with whether PUBLIC holds EXECUTE on it (a null ACL means the
-- built-in default, which includes PUBLIC).
create temporary view private_function_acl as
select p.oid::regprocedure::text as fn,
       exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public_executes
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = 'private';

select is((select coalesce(array_agg(fn order by fn), '{}') from private_function_acl where public_executes),
  '{}'::text[], 'PUBLIC executes no function in schema private');
select is((select coalesce(array_agg(fn order by fn), '{}') from private_function_acl
            where has_function_privilege('anon', fn::regprocedure, 'execute')),
  '{}'::text[], 'anon executes no function in schema private');

select set_eq($$ select fn from private_function_acl
                 where has_function_privilege('authenticated', fn::regprocedure, 'execute') $$,
  array[
    -- RLS policies: the caller's workspaces, and their own role in one.
    'private.workspace_ids_for_current_user(workspace_role)',
    'private.role_in_workspace(uuid)',
    -- Check constraints on tables members write (they run with the writer's rights).
    'private.is_e164_list(text[])',
    'private.business_hours_valid(jsonb)',
    -- Called by public.export_my_data() and the service's streamed export, which run as the
    -- caller so RLS bounds the export (begin/finish record it, as definers, for the caller only),
    -- and by the service as the caller for the deletion grace period and the policy notices.
    'private.account_deletion_grace_period()',
    'private.begin_data_export(text)',
    'private.finish_data_export(uuid,jsonb,boolean)',
    'private.export_tables()',
    'private.export_columns(text,text[])',
    'private.export_rows(text,text,uuid,text,text[])',
    'private.data_inventory()',
    'private.policy_notices(timestamp with time zone)'
  ],
  'authenticated executes only the private helpers that run with its own rights');

select ok(not has_function_privilege('authenticated', 'private.write_audit_log(uuid,uuid,text,text,text,jsonb,text)', 'execute')
          and has_function_privilege('service_role', 'private.write_audit_log(uuid,uuid,text,text,text,jsonb,text)', 'execute'),
  'write_audit_log is the service''s alone');

select tests.create_user('alice');
select tests.personal_workspace('alice') as ws \gset

select tests.authenticate_as('alice');
select throws_ok(format($$ select private.write_audit_log(%L, %L, 'number.buy', 'phone_number', 'PN1', '{}') $$,
                        :'ws', tests.user_id('alice')),
  '42501', null, 'a member cannot write their workspace''s audit log');
select throws_ok($$ select private.tg_set_updated_at() $$, '42501', null,
  'nor call a trigger function directly');
select tests.clear_authentication();

select tests.authenticate_as_anon();
select throws_ok($$ select private.workspace_ids_for_current_user() $$, '42501', null,
  'anon cannot call even the policy helpers');
select tests.clear_authentication();

select is((select count(*)::int from public.audit_log where workspace_id = :'ws'), 0, 'nothing reached the audit log');

select * from finish();
rollback;
