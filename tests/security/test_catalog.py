"""What the client roles may do beyond the tables, read from the catalog: which functions `anon`
and `authenticated` may execute (and which of those run as their owner), which schemas they
may use, which sequences they may advance or set, and that nothing outside `public` is
readable by them.

A function a migration grants to them, or leaves granted by PostgreSQL's and Supabase's
defaults (EXECUTE to PUBLIC; every new function in `public` to anon and authenticated), fails
this test until it is listed below with the reason the client may call it. A listed function
that is no longer executable fails too, so the list stays the truth.

Out of scope: functions that belong to an extension (pgcrypto, pgTAP, pg_cron: their grants
are the extension's) and schema `tests`, the pgTAP helpers supabase/tests/00000_test_helpers.sql
installs in the test database only.
"""

from __future__ import annotations

# Who may execute: "anon" or "authenticated" (a role with USAGE on the function's schema and
# EXECUTE on the function: without USAGE the name does not resolve, so the grant alone is not enough).
ANON, AUTHENTICATED = "anon", "authenticated"
BOTH = frozenset({ANON, AUTHENTICATED})
SIGNED_IN = frozenset({AUTHENTICATED})
DEFINER, INVOKER = True, False

# signature: (who may execute it, security definer?, why the client may)
EXECUTABLE = {
    # Supabase's own (sql/local/ stands in for them locally): read the request's JWT claims.
    "auth.jwt()": (BOTH, INVOKER, "Supabase's: the request's JWT claims"),
    "auth.role()": (BOTH, INVOKER, "Supabase's: the request's role claim"),
    "auth.uid()": (BOTH, INVOKER, "Supabase's: the caller's user id; every policy calls it"),
    # Helpers the policies, column checks and export call as the caller: RLS evaluates them
    # with the caller's privileges, so the caller must be able to execute them.
    "private.account_deletion_grace_period()": (SIGNED_IN, INVOKER, "a constant (7 days) a client may show"),
    "private.business_hours_valid(jsonb)": (SIGNED_IN, INVOKER, "check constraint on rules the client writes"),
    "private.begin_data_export(text)": (
        SIGNED_IN,
        DEFINER,
        "records the caller's own export as it starts, within their rate limit",
    ),
    "private.data_inventory()": (SIGNED_IN, INVOKER, 'the export\'s "what we hold and why" section, a constant'),
    "private.export_columns(text, text[])": (
        SIGNED_IN,
        INVOKER,
        "the columns of a table the caller may read, for their export",
    ),
    "private.export_rows(text, text, uuid, text, text[])": (
        SIGNED_IN,
        INVOKER,
        "export_my_data's per-table read, as the caller (RLS applies)",
    ),
    "private.export_tables()": (SIGNED_IN, INVOKER, "the list of tables an export reads"),
    "private.finish_data_export(uuid, jsonb, boolean)": (
        SIGNED_IN,
        DEFINER,
        "completes the caller's own export (data_requests, audit_log)",
    ),
    "private.is_e164_list(text[])": (SIGNED_IN, INVOKER, "check constraint on phone number lists the client writes"),
    "private.policy_notices(timestamp with time zone)": (
        SIGNED_IN,
        INVOKER,
        "the material policy changes to show now, read as the caller",
    ),
    "private.role_in_workspace(uuid)": (SIGNED_IN, DEFINER, "the caller's role in a workspace, for policies"),
    "private.workspace_ids_for_current_user(workspace_role)": (
        SIGNED_IN,
        DEFINER,
        "the caller's workspaces, for every policy (definer: it reads workspace_members "
        "without recursing into its own policy)",
    ),
    # The client API (PostgREST rpc and the service acting as the caller). Each checks the caller's role
    # in the workspace itself.
    "public.campaign_report(uuid)": (SIGNED_IN, DEFINER, "a campaign's delivery report, members only"),
    "public.schedule_message(uuid, uuid, text, text, timestamp with time zone)": (
        SIGNED_IN,
        DEFINER,
        "send later: members of the workspace, its own numbers",
    ),
    "public.campaign_estimate_rows(uuid)": (SIGNED_IN, DEFINER, "a campaign's recipients and bodies, members only"),
    "public.cancel_account_deletion()": (SIGNED_IN, DEFINER, "the caller's own deletion request"),
    "public.cancel_campaign(uuid)": (SIGNED_IN, DEFINER, "admins of the campaign's workspace"),
    "public.export_my_data(text)": (SIGNED_IN, INVOKER, "the caller's export, read under their RLS"),
    "public.file_data_request(text, text, text)": (SIGNED_IN, DEFINER, "a request about the caller's own data"),
    "public.begin_contact_import_batch()": (
        SIGNED_IN,
        INVOKER,
        "creates the caller's own temporary staging table for an import batch",
    ),
    "public.finish_contact_import(uuid, text, text)": (SIGNED_IN, DEFINER, "the caller's own import"),
    "public.import_contact_batch(uuid, uuid, bigint, bigint)": (
        SIGNED_IN,
        DEFINER,
        "merges the caller's staged rows into the caller's own running import",
    ),
    "public.import_contacts(uuid, jsonb, text, uuid)": (SIGNED_IN, DEFINER, "admins of the workspace"),
    "public.is_opted_out(uuid, text)": (SIGNED_IN, DEFINER, "members of the workspace"),
    "public.launch_campaign(uuid, timestamp with time zone)": (SIGNED_IN, DEFINER, "admins of the workspace"),
    "public.lift_my_restriction()": (SIGNED_IN, DEFINER, "the caller's own account (audited)"),
    "public.mark_conversation_read(uuid)": (SIGNED_IN, DEFINER, "members of the conversation's workspace"),
    "public.note_conversation_viewed(uuid)": (
        SIGNED_IN,
        DEFINER,
        "the inbox page notes the caller has a conversation open (members only; else a no-op)",
    ),
    "public.opt_in(uuid, text, text)": (SIGNED_IN, DEFINER, "members of the workspace"),
    "public.opt_out(uuid, text, text)": (SIGNED_IN, DEFINER, "members of the workspace"),
    "public.pause_campaign(uuid)": (SIGNED_IN, DEFINER, "admins of the workspace"),
    "public.record_contact_import_progress(uuid, integer, jsonb, text[])": (
        SIGNED_IN,
        DEFINER,
        "the caller's own import",
    ),
    "public.record_opt_in_consent(uuid, text, text)": (
        SIGNED_IN,
        DEFINER,
        "admins of the workspace, with the person's documented consent (audited)",
    ),
    "public.render_template(text, uuid, jsonb)": (
        SIGNED_IN,
        INVOKER,
        "previews a message for a contact, reading the contact under the caller's RLS",
    ),
    "public.request_account_deletion()": (SIGNED_IN, DEFINER, "the caller's own account"),
    "public.restrict_my_processing()": (SIGNED_IN, DEFINER, "the caller's own account"),
    "public.resume_campaign(uuid)": (SIGNED_IN, DEFINER, "admins of the workspace"),
    "public.rotate_webhook_secret(uuid)": (SIGNED_IN, DEFINER, "admins of the endpoint's workspace"),
    "public.set_product_email_consent(boolean, text)": (
        SIGNED_IN,
        DEFINER,
        "the caller's own consent to product e-mails",
    ),
    "public.start_contact_import(uuid, text, text, uuid)": (SIGNED_IN, DEFINER, "admins of the workspace"),
    "public.workspace_entitlements(uuid)": (SIGNED_IN, DEFINER, "members of the workspace"),
    "public.workspace_usage(uuid)": (SIGNED_IN, DEFINER, "members of the workspace"),
    "public.accept_workspace_invitation(text)": (SIGNED_IN, DEFINER, "the invitee accepts, with their own address"),
    "public.confirm_adult_age()": (SIGNED_IN, DEFINER, "the caller's own profile"),
    "public.create_workspace(text)": (SIGNED_IN, DEFINER, "any signed-in user, within their workspace limit"),
    "public.invite_to_workspace(uuid, text, workspace_role)": (SIGNED_IN, DEFINER, "admins of the workspace"),
    "public.revoke_workspace_invitation(uuid, uuid)": (SIGNED_IN, DEFINER, "admins of the workspace"),
    "public.workspace_member_directory(uuid)": (
        SIGNED_IN,
        DEFINER,
        "members of the workspace: their teammates' names and e-mails",
    ),
}

# Schemas each client role may use (USAGE): the names a request can reach at all.
SCHEMA_USAGE = {
    ANON: {"public", "auth", "extensions"},  # Supabase's defaults; tables and functions decide the rest
    # private: the policy helpers above, which RLS evaluates as the caller.
    AUTHENTICATED: {"public", "private", "auth", "extensions"},
}

# pg_catalog and information_schema are PostgreSQL's; `tests` exists only in the test database.
NOT_OURS = "('pg_catalog', 'information_schema', 'tests')"


def executable(db) -> dict[str, tuple[frozenset, bool]]:
    rows = db.execute(f"""
        select format('%s.%s(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)) as signature,
               p.prosecdef as definer,
               array_remove(array[
                 case when has_schema_privilege('anon', n.oid, 'usage')
                           and has_function_privilege('anon', p.oid, 'execute') then 'anon' end,
                 case when has_schema_privilege('authenticated', n.oid, 'usage')
                           and has_function_privilege('authenticated', p.oid, 'execute') then 'authenticated' end
               ], null) as who
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname not in {NOT_OURS} and n.nspname not like 'pg\\_%'
           and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass
                             and d.objid = p.oid and d.deptype = 'e')""").fetchall()
    return {r["signature"]: (frozenset(r["who"]), r["definer"]) for r in rows if r["who"]}


def test_functions_the_client_roles_may_execute_are_the_listed_ones(db):
    actual = executable(db)
    assert "public.export_my_data(text)" in actual, "expected the migrated schema"
    problems = []
    for signature, (who, definer) in sorted(actual.items()):
        if signature not in EXECUTABLE:
            problems.append(
                f"{signature}: executable by {', '.join(sorted(who))}"
                f"{' (security definer)' if definer else ''} but not listed: revoke it, or list it "
                f"with the reason the client may call it"
            )
            continue
        listed_who, listed_definer, _why = EXECUTABLE[signature]
        if who != listed_who:
            problems.append(f"{signature}: executable by {sorted(who)}, listed for {sorted(listed_who)}")
        if definer != listed_definer:
            problems.append(
                f"{signature}: security {'definer' if definer else 'invoker'}, listed as "
                f"{'definer' if listed_definer else 'invoker'}"
            )
    for signature in sorted(set(EXECUTABLE) - set(actual)):
        problems.append(
            f"{signature}: listed, but anon and authenticated can no longer execute it "
            f"(or it is gone): take it off the list"
        )
    assert problems == [], "\n".join(problems)


def test_every_security_definer_function_pins_its_search_path(db):
    # A definer function resolving names through the caller's search_path runs the caller's
    # objects with the owner's rights.
    loose = [
        r["f"]
        for r in db.execute(f"""
        select format('%s.%s(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)) as f
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.prosecdef and n.nspname not in {NOT_OURS} and n.nspname not like 'pg\\_%'
           and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass
                             and d.objid = p.oid and d.deptype = 'e')
           and not exists (select 1 from unnest(p.proconfig) c where c like 'search\\_path=%%')
         order by 1""")
    ]
    assert loose == []


def test_client_roles_use_only_the_listed_schemas(db):
    for role, allowed in SCHEMA_USAGE.items():
        used = {
            r["nspname"]
            for r in db.execute(
                f"select nspname from pg_namespace where has_schema_privilege(%s, oid, 'usage') "
                f"and nspname not in {NOT_OURS} and nspname not like 'pg\\_%%'",
                (role,),
            )
        }
        assert used == allowed, role
        created = [
            r["nspname"]
            for r in db.execute(
                "select nspname from pg_namespace where has_schema_privilege(%s, oid, 'create')", (role,)
            )
        ]
        assert created == [], f"{role} may create objects in {created}"


def test_nothing_outside_public_is_readable_or_writable_by_client_roles(db):
    # Tables in public are RLS's business (test_rls_everywhere, test_cross_workspace); anywhere
    # else a client role must hold nothing usable, such as private.twilio_credentials.
    reachable = db.execute(f"""
        select r.role, format('%s.%s', n.nspname, c.relname) as relation
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
         cross join (values ('anon'), ('authenticated')) r(role)
         where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname <> 'public'
           and n.nspname not in {NOT_OURS} and n.nspname not like 'pg\\_%'
           and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                             and d.objid = c.oid and d.deptype = 'e')
           and has_schema_privilege(r.role, n.oid, 'usage')
           and (has_any_column_privilege(r.role, c.oid, 'select, insert, update, references')
                or has_table_privilege(r.role, c.oid, 'delete, truncate, trigger'))
         order by 1, 2""").fetchall()
    assert [(r["role"], r["relation"]) for r in reachable] == []


# Sequences a client role holds any privilege on (USAGE lets nextval, UPDATE lets setval).
# TODO security: Supabase's default privileges give anon and authenticated USAGE, SELECT and
# UPDATE on every sequence in public, and no migration revokes them: setval() to the maximum
# would make every later insert into the table fail. Identity columns need no privilege on
# their sequence, so revoking all from anon and authenticated breaks no insert. (PostgREST
# does not expose sequences, so this is reachable only with a direct database connection.)
SEQUENCES = {
    f"public.{name}": BOTH
    for name in (
        "access_log_id_seq",
        "audit_log_id_seq",
        "campaign_recipients_id_seq",
        "opt_out_events_id_seq",
        "webhook_deliveries_id_seq",
    )
}


def test_client_roles_hold_only_the_listed_sequence_privileges(db):
    rows = db.execute(f"""
        select format('%s.%s', n.nspname, c.relname) as seq,
               array_remove(array[
                 case when has_sequence_privilege('anon', c.oid, 'usage, select, update') then 'anon' end,
                 case when has_sequence_privilege('authenticated', c.oid, 'usage, select, update')
                      then 'authenticated' end], null) as who
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind = 'S' and n.nspname not in {NOT_OURS} and n.nspname not like 'pg\\_%'
           and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                             and d.objid = c.oid and d.deptype = 'e')""").fetchall()
    actual = {r["seq"]: frozenset(r["who"]) for r in rows if r["who"]}
    assert actual == SEQUENCES
