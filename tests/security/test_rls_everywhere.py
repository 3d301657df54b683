"""Every table in `public` has RLS on, and `anon` reads no row of any of them.

Walks the catalog, so tables added by later migrations are covered without editing this file.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.support.database import acting_as


def public_tables(db) -> list[str]:
    return [
        r["tablename"]
        for r in db.execute("select tablename from pg_tables where schemaname = 'public' order by tablename")
    ]


def test_every_public_table_has_rls_enabled(db):
    missing = [
        r["relname"]
        for r in db.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity"
        )
    ]
    assert public_tables(db), "expected tables in public"
    assert missing == []


def test_anon_reads_no_row_of_any_table(db, database_url, make_user):
    # Make sure there is something to leak.
    make_user("anon-target")
    tables = public_tables(db)
    nonempty = [
        t
        for t in tables
        if db.execute(sql.SQL("select exists (select 1 from public.{})").format(sql.Identifier(t))).fetchone()["exists"]
    ]
    assert nonempty, "the check needs rows to exist"

    leaked = {}
    for table in tables:
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "select set_config('role', 'anon', false), set_config('request.jwt.claims', '{\"role\":\"anon\"}', false)"
            )
            try:
                count = conn.execute(
                    sql.SQL("select count(*) from public.{}").format(sql.Identifier(table))
                ).fetchone()[0]
            except psycopg.errors.InsufficientPrivilege:
                continue
            if count:
                leaked[table] = count
    assert leaked == {}


def test_anon_holds_no_privilege_on_any_public_table(db):
    # Supabase's default privileges grant anon everything in public; each migration revokes it.
    granted = [
        r["relname"]
        for r in db.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f') "
            "and (has_any_column_privilege('anon', c.oid, 'select, insert, update, references') "
            "     or has_table_privilege('anon', c.oid, 'delete, truncate, trigger')) order by 1"
        )
    ]
    assert granted == []


def test_anon_can_write_no_table(db, database_url):
    for table in public_tables(db):
        with psycopg.connect(database_url) as conn:
            conn.execute("select set_config('role', 'anon', false)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("delete from public.{}").format(sql.Identifier(table)))


def test_acting_as_user_sees_only_their_rows(make_user, database_url):
    alice, bob = make_user("alice"), make_user("bob")
    with acting_as(database_url, "authenticated", alice.claims) as conn:
        workspaces = [str(r["id"]) for r in conn.execute("select id from public.workspaces")]
        profiles = [str(r["id"]) for r in conn.execute("select id from public.profiles")]
    assert workspaces == [alice.workspace_id]
    assert profiles == [alice.id]
    assert bob.workspace_id not in workspaces
