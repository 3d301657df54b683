"""`numeraloop privacy request ...`, `delete-minor`, `restrict` and `lift-restriction`: the operator's
side of data-subject requests and of the adults-only rule, from a shell."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.database import ROOT


def run(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "NUMERALOOP_ENV": "test"}
    return subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "privacy", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def listed(database_url: str, request_id: str) -> tuple[int, str | None]:
    r = run(database_url, "request", "list")
    assert r.returncode in (0, 3), r.stderr
    line = next((line for line in r.stdout.splitlines() if line.startswith(request_id)), None)
    return r.returncode, line


def test_an_emailed_request_is_filed_listed_verified_and_answered(make_user, db, database_url):
    user = make_user("writer")
    r = run(
        database_url,
        "request",
        "file",
        "--email",
        user.email.upper(),
        "--law",
        "gdpr",
        "--kind",
        "access",
        "--received",
        "2026-01-05",
        "--description",
        "What do you hold about me?",
    )
    assert r.returncode == 0, r.stderr
    assert "the account with that address" in r.stdout and "due 2026-02-04" in r.stdout, r.stdout
    request_id = r.stdout.split()[1].rstrip(":")
    row = db.execute(
        "select user_id, channel, identity_verification from public.data_requests where id = %s", (request_id,)
    ).fetchone()
    assert (str(row["user_id"]), row["channel"], row["identity_verification"]) == (user.id, "email", "pending")

    code, line = listed(database_url, request_id)
    assert code == 3 and "OVERDUE" in line and "pending" in line, "received in January: long overdue"

    r = run(database_url, "request", "close", request_id, "--outcome", "Sent the export.")
    assert r.returncode == 1 and "verify the requester's identity" in r.stderr
    r = run(database_url, "request", "verify", request_id)
    assert r.returncode == 0 and "identity verified, in_progress" in r.stdout, r.stdout
    r = run(database_url, "request", "close", request_id, "--outcome", "Sent the export by e-mail.")
    assert r.returncode == 0 and "completed (after its due date)" in r.stdout, r.stdout
    assert listed(database_url, request_id)[1] is None

    r = run(database_url, "request", "file", "--email", "someone@example.test", "--law", "ccpa", "--kind", "erasure")
    assert r.returncode == 1 and "not a kind of request under CCPA" in r.stderr


def test_a_requester_who_cannot_be_verified_is_refused(db, database_url):
    r = run(
        database_url,
        "request",
        "file",
        "--email",
        "claims-to-be@example.test",
        "--law",
        "pipeda",
        "--kind",
        "correction",
    )
    request_id = r.stdout.split()[1].rstrip(":")
    assert "no account has that address" in r.stdout
    r = run(database_url, "request", "verify", request_id, "--failed", "--note", "The address does not match.")
    assert r.returncode == 0 and "refused: The address does not match." in r.stdout, r.stdout


def test_an_emailed_restriction_takes_effect_once_verified_and_the_operator_lifts_it(make_user, db, database_url):
    user = make_user("emailed-restriction")
    r = run(database_url, "request", "file", "--email", user.email, "--law", "gdpr", "--kind", "restriction")
    request_id = r.stdout.split()[1].rstrip(":")

    def restricted() -> bool:
        return (
            db.execute(
                "select count(*) as n from public.processing_restrictions where user_id = %s", (user.id,)
            ).fetchone()["n"]
            == 1
        )

    assert not restricted(), "not before the requester is verified"
    assert run(database_url, "request", "verify", request_id).returncode == 0
    assert restricted()
    assert (
        db.execute("select source from public.processing_restrictions where user_id = %s", (user.id,)).fetchone()[
            "source"
        ]
        == "email"
    )
    r = run(database_url, "lift-restriction", user.email)
    assert r.returncode == 0 and "lifted" in r.stdout and not restricted()
    r = run(database_url, "restrict", user.id)
    assert r.returncode == 0 and restricted()


def test_an_account_reported_as_a_minors_is_deleted_at_once(make_user, db, database_url):
    minor, other = make_user("minor"), make_user("adult")
    r = run(database_url, "delete-minor", minor.email)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert db.execute("select 1 from auth.users where id = %s", (minor.id,)).fetchone() is not None

    r = run(database_url, "delete-minor", minor.email, "--yes")
    assert r.returncode == 0, r.stderr
    assert f"deleted account {minor.id}" in r.stdout
    assert db.execute("select 1 from auth.users where id = %s", (minor.id,)).fetchone() is None
    assert db.execute("select 1 from public.workspaces where id = %s", (minor.workspace_id,)).fetchone() is None
    done = db.execute(
        "select r.status, r.details ->> 'reason' as reason, r.completed_at - r.requested_at as took "
        "from public.data_requests r join public.audit_log a on a.target_id = r.id::text "
        "and a.action = 'account.reported_minor' order by r.requested_at desc limit 1"
    ).fetchone()
    assert (done["status"], done["reason"]) == ("completed", "minor") and done["took"].days == 0
    assert db.execute("select 1 from auth.users where id = %s", (other.id,)).fetchone() is not None

    r = run(database_url, "delete-minor", "nobody@example.test", "--yes")
    assert r.returncode == 1 and "no account" in r.stderr
