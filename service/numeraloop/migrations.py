"""`numeraloop db migrate`: apply supabase/migrations in order, as the Supabase CLI would.

Each file runs in its own transaction and is recorded in
`supabase_migrations.schema_migrations` (version, name, statements) in the same
transaction, so a failing file leaves the database exactly as it was and a later
`supabase db push` sees the same history. On a plain PostgreSQL (no `auth` schema) the
Supabase stand-in in sql/local/ is applied first; on Supabase it never runs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .config import default_project_root

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[A-Za-z0-9_\-]+)\.sql$")

HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text not null primary key,
  statements text[],
  name text
);
"""


class MigrationError(RuntimeError):
    def __init__(self, path: Path, error: Exception):
        self.path = path
        self.error = error
        detail = getattr(error, "diag", None)
        where = ""
        if detail is not None and getattr(detail, "context", None):
            where = f"\n  context: {detail.context.strip()}"
        super().__init__(f"migration {path.name} failed: {str(error).strip()}{where}")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path


def discover(migrations_dir: Path) -> list[Migration]:
    found = []
    for path in sorted(migrations_dir.glob("*.sql")):
        m = MIGRATION_NAME.match(path.name)
        if not m:
            raise ValueError(f"{path.name}: migration files are named <14-digit timestamp>_<name>.sql")
        found.append(Migration(m["version"], m["name"], path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise ValueError("two migration files share a version")
    return found


def applied_versions(conn: psycopg.Connection) -> set[str]:
    exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
    if not _first(exists):
        return set()
    return {_first(r) for r in conn.execute("select version from supabase_migrations.schema_migrations")}


def pending(conn: psycopg.Connection, migrations_dir: Path) -> list[Migration]:
    done = applied_versions(conn)
    return [m for m in discover(migrations_dir) if m.version not in done]


def drift(conn: psycopg.Connection, migrations_dir: Path) -> list[str]:
    """Applied migrations that the files no longer match: a version with no file, or a file
    whose text changed since it was applied (recorded whole, as one statement, by `migrate`).

    A database in this state was migrated under other files; applying the pending ones on
    top would leave it half old, half new.
    """
    if not _first(conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()):
        return []
    files = {m.version: m for m in discover(migrations_dir)}
    problems = []
    for row in conn.execute(
        "select version, name, statements from supabase_migrations.schema_migrations order by version"
    ):
        version, name, statements = (row["version"], row["name"], row["statements"]) if isinstance(row, dict) else row
        migration = files.get(version)
        if migration is None:
            problems.append(f"{version}_{name}.sql was applied but no longer exists")
        elif statements and len(statements) == 1 and statements[0] != migration.path.read_text():
            problems.append(f"{migration.path.name} changed since it was applied")
    return problems


class MigrationDrift(RuntimeError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the database was migrated under other migration files: " + "; ".join(problems))


def _first(row):
    if row is None:
        return None
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]


def apply_local_standin(conn: psycopg.Connection, local_dir: Path | None = None) -> bool:
    """Apply sql/local/ when the database has no `auth` schema (i.e. it is not Supabase)."""
    has_auth = _first(conn.execute("select exists (select 1 from pg_namespace where nspname = 'auth')").fetchone())
    if has_auth:
        return False
    local_dir = local_dir or default_project_root() / "sql" / "local"
    with conn.transaction():
        for path in sorted(local_dir.glob("*.sql")):
            log.info("applying Supabase stand-in %s", path.name)
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                raise MigrationError(path, exc) from exc
    return True


def migrate(database_url: str, migrations_dir: Path, with_local_standin: bool = True) -> list[Migration]:
    """Apply every pending migration; returns what was applied (empty on a second run)."""
    applied: list[Migration] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        # One migrator at a time per database, so two processes starting together cannot
        # apply the same file twice.
        conn.execute("select pg_advisory_lock(hashtext('numeraloop.migrate'))")
        try:
            if with_local_standin:
                apply_local_standin(conn)
            conn.execute(HISTORY_DDL)
            problems = drift(conn, migrations_dir)
            if problems:
                raise MigrationDrift(problems)
            for migration in pending(conn, migrations_dir):
                sql = migration.path.read_text()
                try:
                    with conn.transaction():
                        conn.execute(sql)
                        conn.execute(
                            "insert into supabase_migrations.schema_migrations (version, name, statements) "
                            "values (%s, %s, %s)",
                            (migration.version, migration.name, [sql]),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(migration.path, exc) from exc
                log.info("applied %s", migration.path.name)
                applied.append(migration)
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('numeraloop.migrate'))")
    return applied


# Extensions a reset keeps: pg_cron's scheduler stays attached to its database only while
# the extension lives (pg_cron 1.4 runs no job after DROP EXTENSION until a server restart).
KEPT_EXTENSIONS = ("plpgsql", "pg_cron")


def empty_database(conn: psycopg.Connection) -> None:
    """Drop every schema, extension and scheduled job of the database; pg_cron is emptied, not dropped."""
    from psycopg import sql

    with conn.transaction():
        for (ext,) in conn.execute(
            "select extname from pg_extension where extname <> all(%s)", (list(KEPT_EXTENSIONS),)
        ).fetchall():
            conn.execute(sql.SQL("drop extension if exists {} cascade").format(sql.Identifier(ext)))
        if conn.execute("select 1 from pg_extension where extname = 'pg_cron'").fetchone():
            # Unscheduling through pg_cron's own function keeps its job cache in step.
            conn.execute("select cron.unschedule(jobid) from cron.job")
            conn.execute("delete from cron.job_run_details")
        schemas = conn.execute(
            "select nspname from pg_namespace where nspname not in ('pg_catalog', 'information_schema', 'cron') "
            "and nspname not like 'pg\\_%'"
        ).fetchall()
        for (schema,) in schemas:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        # PostgreSQL 15's own public schema: owned by the database owner, usable by everyone.
        conn.execute("create schema public authorization pg_database_owner")
        conn.execute("grant usage on schema public to public")


def reset(database_url: str, migrations_dir: Path) -> list[Migration]:
    """Empty a development database and migrate it from scratch: every row is lost."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_database(conn)
    return migrate(database_url, migrations_dir)
