"""public.retention_status and `numeraloop privacy status`: each rule, how old its oldest row is, and
how many rows are past it, for service_role and operators only."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from tests.support.database import ROOT, acting_as

from .conftest import add_conversation


def run_status(database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "NUMERALOOP_ENV": "test"}
    return subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "privacy", "status"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def purge_everything(db) -> None:
    """Every retention job once, now, so no rule starts out overdue."""
    for job in db.execute(
        "select command from cron.job where jobname like 'numeraloop-%%' and command ~ 'purge|delete_due'"
    ).fetchall():
        db.execute(job["command"])


def status_rows(db) -> dict[str, dict]:
    with db.transaction():
        db.execute("set local role service_role")
        return {r["rule"]: r for r in db.execute("select * from public.retention_status")}


def test_status_names_the_overdue_rule_until_its_job_runs(db, database_url, make_user):
    purge_everything(db)
    rows = status_rows(db)
    assert rows and all(r["overdue_rows"] == 0 for r in rows.values()), rows
    assert {r["policy"] for r in rows.values()} >= {"90 days", "12 months", "7 years", "30 days after the request"}

    user = make_user("status-owner")
    add_conversation(db, user.workspace_id, "+61491580001", "+16285550101", "Old", "recent", "e")
    conv = db.execute("select id from public.conversations where workspace_id = %s", (user.workspace_id,)).fetchone()
    db.execute(
        "insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, "
        "status, created_at) values (%s, %s, 'inbound', '+16285550101', '+61491580001', 'old', 'received', "
        "now() - interval '91 days')",
        (user.workspace_id, conv["id"]),
    )

    rows = status_rows(db)
    assert rows["messages"]["overdue_rows"] == 1
    assert rows["messages"]["oldest_age"].days == 91
    done = run_status(database_url)
    assert done.returncode == 3, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("messages "))
    assert line.split()[-1] == "1" and "91 d" in line
    assert "overdue: messages" in done.stderr

    db.execute("select private.purge_expired_logs()")
    assert status_rows(db)["messages"]["overdue_rows"] == 0
    done = run_status(database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].split() == ["rule", "policy", "oldest", "overdue"]


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_clients_cannot_read_the_status(database_url, make_user, role):
    user = make_user("status-reader")
    claims = {"sub": user.id, "role": role} if role == "authenticated" else {"role": "anon"}
    with acting_as(database_url, role, claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from public.retention_status")
