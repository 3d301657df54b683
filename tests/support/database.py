"""The test database: recreated and migrated once per test run, and helpers that act as a
user the way PostgREST does (role + request.jwt.claims, local to a transaction)."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from numeraloop import migrations

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5433/numeraloop_test"


def test_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL


_session: dict = {}


def lock_path(url: str) -> str:
    params = conninfo_to_dict(url)
    where = f"{params.get('host', 'local')}-{params.get('port', '5432')}-{params.get('dbname', '')}"
    return f"/tmp/numeraloop-test-database-{''.join(c if c.isalnum() or c in '.-' else '_' for c in where)}.lock"


def session_database() -> str:
    """The test database for this run: recreated and migrated on first use.

    Test runs on one machine against the same database take turns (a file lock held until
    the run ends), since each run empties and migrates it; runs against other servers do not wait.
    """
    if "url" not in _session:
        url = test_database_url()
        handle = open(lock_path(url), "w")
        fcntl.flock(handle, fcntl.LOCK_EX)
        _session["lock"] = handle
        recreate_and_migrate(url)
        _session["url"] = url
    return _session["url"]


def release_session_database() -> None:
    handle = _session.pop("lock", None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def recreate_and_migrate(url: str) -> None:
    """Empty the test database and migrate it from scratch.

    The database is emptied, not dropped, and pg_cron is emptied, not dropped: its scheduler
    is connected to this database (cron.database_name) and caches the extension's tables;
    after DROP DATABASE or DROP EXTENSION it runs no job until the server restarts, which
    would leave the scheduled jobs untestable.
    """
    params = conninfo_to_dict(url)
    dbname = params.get("dbname")
    if not dbname or dbname in {"postgres", "template0", "template1"}:
        raise RuntimeError(f"TEST_DATABASE_URL must name a disposable database, not {dbname!r}")
    admin_url = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    migrations.reset(url, ROOT / "supabase" / "migrations")


@dataclass(frozen=True)
class User:
    id: str
    email: str
    workspace_id: str  # their personal workspace

    @property
    def claims(self) -> dict:
        return {"sub": self.id, "role": "authenticated", "aud": "authenticated", "email": self.email}


def create_user(
    conn: psycopg.Connection, handle: str | None = None, full_name: str | None = None, adult: bool = True
) -> User:
    """A signed-up user with a confirmed e-mail address, as GoTrue leaves one who can sign in
    (the signup trigger gives them a profile and a personal workspace). `adult`: they have also
    confirmed being 18 or older, without which /api/v1 refuses them anything in a workspace."""
    uid = str(uuid.uuid4())
    email = f"{handle or 'user'}-{uid[:8]}@example.test"
    conn.execute(
        "insert into auth.users (id, email, raw_user_meta_data, aud, role, email_confirmed_at) "
        "values (%s, %s, %s, 'authenticated', 'authenticated', now())",
        (uid, email, json.dumps({"full_name": full_name or (handle or "Test User").title()})),
    )
    if adult:
        conn.execute("update public.profiles set age_confirmed_at = now() where id = %s", (uid,))
    row = conn.execute("select id from public.workspaces where created_by = %s and is_personal", (uid,)).fetchone()
    return User(id=uid, email=email, workspace_id=str(row["id"] if isinstance(row, dict) else row[0]))


def add_member(conn: psycopg.Connection, workspace_id: str, user: User, role: str = "agent") -> None:
    """Arrange a membership directly (`conn` is the superuser's). Clients cannot: a user joins
    a workspace only by accepting an invitation (tests/workspaces/test_invitations.py)."""
    conn.execute(
        "insert into public.workspace_members (workspace_id, user_id, role) values (%s, %s, %s)",
        (workspace_id, user.id, role),
    )


@contextmanager
def acting_as(url: str, role: str, claims: dict | None = None):
    """A connection inside a transaction that PostgREST would open for this caller; rolled back."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction(force_rollback=True):
            conn.execute(
                "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                (role, json.dumps(claims or {"role": role})),
            )
            yield conn
