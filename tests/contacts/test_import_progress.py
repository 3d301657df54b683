"""Contact imports as rows a client can watch: each batch commits with its progress, so another
session sees the counts grow while the upload runs; a file malformed halfway keeps its earlier
batches and fails; members read the row, nobody else, and no client writes it."""

from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest

from tests.support.database import acting_as, add_member

from .test_import import PATH, contacts, error_of, upload


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr("numeraloop.contacts.api.BATCH_ROWS", 100)


def import_rows(database_url, user, workspace_id=None):
    """contact_imports as `user` sees them through PostgREST (RLS applies)."""
    with acting_as(database_url, "authenticated", user.claims) as conn:
        return conn.execute(
            "select * from public.contact_imports where workspace_id = %s order by started_at",
            (workspace_id or user.workspace_id,),
        ).fetchall()


def lines(n, start=0):
    """n CSV rows of about 50 bytes: distinct numbers from +12015550000 on, a first name each."""
    return "".join(f"+1201555{i:04d},Person {i:04d} {'x' * 24}\n" for i in range(start, start + n))


def test_progress_is_visible_to_another_session_while_the_upload_runs(service, make_user, database_url, small_batches):
    user = make_user()
    release = threading.Event()
    first, rest = 1500, 500  # the first part is well past what the server buffers before parsing (64 KB)

    def chunks():
        yield b"phone,first_name\n"
        for start in range(0, first, 500):
            yield lines(500, start).encode()
        assert release.wait(30), "the test never saw progress"
        yield lines(rest, first).encode()

    response = {}

    def post():
        response["r"] = service.post(
            f"{PATH}?workspace_id={user.workspace_id}&consent_source=API&filename=big.csv",
            user=user,
            data=chunks(),
            headers={"Content-Type": "text/csv"},
        )

    poster = threading.Thread(target=post)
    poster.start()
    try:
        seen = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            rows = import_rows(database_url, user)
            if rows and rows[0]["rows_read"] > 0:
                seen = rows[0]
                break
            time.sleep(0.05)
        assert seen is not None, "no progress became visible while the upload was held"
        assert seen["status"] == "running" and seen["finished_at"] is None
        assert 0 < seen["rows_read"] <= first and seen["imported"] == seen["rows_read"]  # committed batch by batch
        assert seen["filename"] == "big.csv" and seen["consent_source"] == "API" and str(seen["created_by"]) == user.id
        with acting_as(database_url, "authenticated", user.claims) as conn:
            committed = conn.execute(
                "select count(*) as n from public.contacts where workspace_id = %s", (user.workspace_id,)
            ).fetchone()["n"]
        assert committed >= seen["imported"]
    finally:
        release.set()
        poster.join(30)

    r = response["r"]
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["import_id"] == str(seen["id"]) and body["status"] == "completed"
    assert (body["rows"], body["imported"], body["rejected_total"]) == (first + rest, first + rest, 0)
    final = import_rows(database_url, user)[0]
    assert final["status"] == "completed" and final["finished_at"] is not None and final["error"] is None
    assert (final["rows_read"], final["imported"], final["updated"], final["merged"], final["rejected_total"]) == (
        first + rest,
        first + rest,
        0,
        0,
        0,
    )


def test_malformed_halfway_keeps_earlier_batches_and_fails_the_import(
    service, make_user, db, database_url, small_batches
):
    user = make_user()
    good = 250  # two committed batches of 100, and 50 rows read before the bad line
    csv_text = "phone,first_name\n" + lines(good) + '+12025550100,"Bo"x\n' + lines(10, 5000)
    error = error_of(upload(service, user, csv_text), 422)
    assert error["code"] == "malformed_csv" and error["line"] == good + 2
    assert error["import_status"] == "failed"
    assert (error["rows"], error["imported"], error["rejected_total"]) == (good, good, 0)
    assert len(contacts(db, user.workspace_id)) == good  # every row before the bad line, none after

    row = import_rows(database_url, user)[0]
    assert str(row["id"]) == error["import_id"]
    assert row["status"] == "failed" and row["finished_at"] is not None
    assert f"malformed at line {good + 2}" in row["error"]
    assert (row["rows_read"], row["imported"]) == (good, good)
    assert (
        db.execute(
            "select count(*) as n from private.contact_import_numbers where import_id = %s", (row["id"],)
        ).fetchone()["n"]
        == 0
    )  # bookkeeping emptied when it finished


def test_bad_rows_only_still_complete(service, make_user, database_url, small_batches):
    user = make_user()
    r = upload(service, user, "phone\n" + "not a number\n" * 150 + "4155552671\n")
    assert r.status_code == 200, r.text
    row = import_rows(database_url, user)[0]
    assert row["status"] == "completed" and row["error"] is None
    assert (row["rows_read"], row["imported"], row["rejected_total"]) == (151, 1, 150)
    assert r.json()["rejected_total"] == 150 and r.json()["status"] == "completed"


def test_duplicates_and_opt_outs_across_committed_batches_count_once(service, make_user, db, monkeypatch):
    monkeypatch.setattr("numeraloop.contacts.api.BATCH_ROWS", 2)
    user = make_user()
    db.execute(
        "insert into public.contacts (workspace_id, phone_e164, first_name) values (%s, '+14155550001', 'Old')",
        (user.workspace_id,),
    )
    db.execute("select private.record_opt_out(%s, '+14155550003', 'manual')", (user.workspace_id,))
    csv_text = (
        "phone,first_name\n"
        "4155550001,A\n4155550002,B\n"  # batch 1: one updated, one new
        "4155550003,C\n4155550002,B2\n"  # batch 2: one new (opted out), one repeat
        "4155550001,A2\n4155550003,C2\n"
    )  # batch 3: two repeats
    r = upload(service, user, csv_text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["imported"], body["updated"], body["merged"], body["opted_out"]) == (6, 2, 1, 3, 1)
    stored = contacts(db, user.workspace_id)
    assert (stored["+14155550001"]["first_name"], stored["+14155550002"]["first_name"]) == ("A2", "B2")
    row = db.execute(
        "select imported, updated, merged, opted_out from public.contact_imports where id = %s", (body["import_id"],)
    ).fetchone()
    assert row == {"imported": 2, "updated": 1, "merged": 3, "opted_out": 1}


def test_progress_is_logged_every_few_batches_not_every_batch(service, make_user, monkeypatch, caplog, small_batches):
    monkeypatch.setattr("numeraloop.contacts.api.LOG_EVERY_BATCHES", 2)
    user = make_user()
    with caplog.at_level(logging.INFO, logger="numeraloop.contacts.api"):
        r = upload(service, user, "phone,first_name\n" + lines(550))
    assert r.status_code == 200, r.text
    progress = [
        rec.getMessage()
        for rec in caplog.records
        if rec.name == "numeraloop.contacts.api" and "rows so far" in rec.getMessage()
    ]
    assert len(progress) == 3  # six batches (100 x 5 + 50), a line after every second one
    assert all(r.json()["import_id"] in line and "rows/s" in line for line in progress)
    assert [p.split(": ")[1].split(" rows so far")[0] for p in progress] == ["200", "400", "550"]


# ---------------------------------------------------------------------------------------
# Who reads the row; nobody writes it but the functions


def test_members_read_the_import_and_nobody_else(service, make_user, db, database_url):
    owner, teammate, outsider = make_user("owner"), make_user("teammate"), make_user("outsider")
    add_member(db, owner.workspace_id, teammate, "agent")
    r = upload(service, owner, "phone\n4155552671\n")
    assert r.status_code == 200, r.text
    import_id = r.json()["import_id"]

    [row] = import_rows(database_url, teammate, owner.workspace_id)
    assert str(row["id"]) == import_id and row["imported"] == 1
    with acting_as(database_url, "authenticated", outsider.claims) as conn:
        assert conn.execute("select * from public.contact_imports where id = %s", (import_id,)).fetchall() == []
    with acting_as(database_url, "anon") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from public.contact_imports")


@pytest.mark.parametrize(
    "statement",
    [
        "insert into public.contact_imports (workspace_id, consent_source) values (%(ws)s, 'x')",
        "update public.contact_imports set status = 'running', finished_at = null where id = %(id)s",
        "update public.contact_imports set imported = 0 where id = %(id)s",
        "delete from public.contact_imports where id = %(id)s",
    ],
)
def test_clients_cannot_write_contact_imports(service, make_user, db, database_url, statement):
    user = make_user()
    r = upload(service, user, "phone\n4155552671\n")
    assert r.status_code == 200, r.text
    with acting_as(database_url, "authenticated", user.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement, {"ws": user.workspace_id, "id": r.json()["import_id"]})
    row = db.execute(
        "select status, imported from public.contact_imports where id = %s", (r.json()["import_id"],)
    ).fetchone()
    assert row == {"status": "completed", "imported": 1}


def test_refused_before_the_file_leaves_no_import(service, make_user, db):
    owner, outsider = make_user("owner"), make_user("outsider")
    error_of(upload(service, outsider, "phone\n4155552671\n", workspace_id=owner.workspace_id), 404)
    error_of(upload(service, owner, "phone\n4155552671\n", consent_source=None), 422)
    count = db.execute(
        "select count(*) as n from public.contact_imports where workspace_id = %s", (owner.workspace_id,)
    ).fetchone()["n"]
    assert count == 0
