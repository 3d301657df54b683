"""`numeraloop db migrate`: ordered, recorded as the Supabase CLI records them, atomic per file."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from numeraloop import migrations
from tests.support.database import ROOT


@pytest.fixture
def scratch_url(database_url):
    """A throwaway database on the test server, for migration sets other than the project's."""
    name = "numeraloop_scratch"
    admin = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield make_conninfo(database_url, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_every_migration_is_recorded_with_the_cli_history_columns(db):
    files = migrations.discover(ROOT / "supabase" / "migrations")
    rows = db.execute(
        "select version, name, statements from supabase_migrations.schema_migrations order by version"
    ).fetchall()
    assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in files]
    assert all(r["statements"] for r in rows)


def test_second_run_applies_nothing(database_url):
    result = subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "db", "migrate", "--database-url", database_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing to apply" in result.stdout
    assert migrations.migrate(database_url, ROOT / "supabase" / "migrations") == []


def test_failing_migration_leaves_database_as_it_was_and_names_file(scratch_url, tmp_path):
    (tmp_path / "20260101000000_good.sql").write_text("create table public.good_one (id int);")
    (tmp_path / "20260101000100_bad.sql").write_text(
        "create table public.half_done (id int);\ninsert into public.half_done values (1);\nselect * from no_such_table;"
    )
    (tmp_path / "20260101000200_after.sql").write_text("create table public.never_reached (id int);")

    result = subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "db", "migrate", "--database-url", scratch_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**__import__("os").environ, "NUMERALOOP_MIGRATIONS_DIR": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "20260101000100_bad.sql" in result.stderr
    assert "no_such_table" in result.stderr
    assert "Traceback" not in result.stderr

    with psycopg.connect(scratch_url) as conn:
        tables = {r[0] for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")}
        versions = {r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations")}
    assert tables == {"good_one"}
    assert versions == {"20260101000000"}


def test_misnamed_migration_file_is_refused(tmp_path):
    (tmp_path / "add_things.sql").write_text("select 1;")
    with pytest.raises(ValueError, match="timestamp"):
        migrations.discover(tmp_path)


def _cli(url, migrations_dir, *args):
    import os

    return subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "db", *args, "--database-url", url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "NUMERALOOP_MIGRATIONS_DIR": str(migrations_dir)},
    )


def test_a_database_migrated_under_other_files_is_refused_and_reset_rebuilds_it(scratch_url, tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "20260101000000_things.sql").write_text("create table public.things (id int);")
    (old / "20260101000100_patch.sql").write_text("alter table public.things add column name text;")
    (new / "20260101000000_things.sql").write_text("create table public.things (id int, name text);")
    assert _cli(scratch_url, old, "migrate").returncode == 0
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("insert into public.things values (1, 'kept until reset')")

    refused = _cli(scratch_url, new, "migrate")
    assert refused.returncode == 1
    assert "20260101000100_patch.sql was applied but no longer exists" in refused.stderr
    assert "numeraloop db reset" in refused.stderr
    assert "Traceback" not in refused.stderr
    (new / "20260101000000_things.sql").write_text("create table public.things (id bigint, name text);")
    assert "20260101000000_things.sql changed since it was applied" in _cli(scratch_url, new, "migrate").stderr

    unconfirmed = _cli(scratch_url, new, "reset")
    assert unconfirmed.returncode == 2 and "--yes numeraloop_scratch" in unconfirmed.stderr
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("select count(*) from public.things").fetchone()[0] == 1

    done = _cli(scratch_url, new, "reset", "--yes", "numeraloop_scratch")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("select count(*) from public.things").fetchone()[0] == 0
        assert (
            conn.execute(
                "select data_type from information_schema.columns where table_name = 'things' and column_name = 'id'"
            ).fetchone()[0]
            == "bigint"
        )
        versions = [r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations")]
    assert versions == ["20260101000000"]


def test_each_function_view_policy_and_trigger_is_defined_once_in_the_migrations():
    """Nothing is deployed that needs a patch: every object has one definition, in its capability's file."""
    import re
    from collections import defaultdict

    kinds = {
        "function": re.compile(r"^\s*create\s+(?:or\s+replace\s+)?function\s+([\w.]+)\s*\(", re.I | re.M),
        "view": re.compile(r"^\s*create\s+(?:or\s+replace\s+)?(?:materialized\s+)?view\s+([\w.]+)", re.I | re.M),
        "policy": re.compile(r"^\s*create\s+policy\s+(\w+)\s+on\s+([\w.]+)", re.I | re.M),
        "trigger": re.compile(
            r"^\s*create\s+(?:or\s+replace\s+)?trigger\s+(\w+)\s+.*?\s+on\s+([\w.]+)", re.I | re.M | re.S
        ),
    }
    undone = re.compile(
        r"^\s*(?:drop\s+(?:function|view|policy|trigger)|alter\s+function|"
        r"create\s+or\s+replace\s+function)\b",
        re.I | re.M,
    )
    seen: dict[tuple, list[str]] = defaultdict(list)
    redefinitions = []
    for migration in migrations.discover(ROOT / "supabase" / "migrations"):
        text = re.sub(r"--[^\n]*", "", migration.path.read_text())
        text = re.sub(r"\$\$.*?\$\$", "$$ $$", text, flags=re.S)  # bodies may quote SQL; they define nothing
        for kind, pattern in kinds.items():
            for match in pattern.finditer(text):
                seen[(kind, *match.groups())].append(migration.path.name)
        redefinitions += [f"{migration.path.name}: {m.group(0).strip()}" for m in undone.finditer(text)]
    twice = {" ".join(key): files for key, files in seen.items() if len(files) > 1}
    assert twice == {}
    assert redefinitions == []
