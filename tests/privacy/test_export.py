"""GET /api/v1/me/export: the caller's data as a JSON download or a zip of CSVs, nothing of
anyone else's, and every export recorded."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from tests.support.database import add_member

from .conftest import OUTSIDER_CONTACT, OUTSIDER_SECRET

CUSTOMER = "+16285557001"
MEDIA_URL = "https://media.example.com/leak-photo.jpg"


def expected_files(db) -> set[str]:
    """One CSV per exported table (the caller's profile and memberships, the workspaces, every table of
    private.export_tables(), media apart from messages) and the "what we hold and why" text."""
    tables = {r["table_name"] for r in db.execute("select table_name from private.export_tables()")}
    return {f"{t}.csv" for t in tables | {"profiles", "workspace_members", "workspaces", "message_media"}} | {
        "what_we_hold.txt"
    }


def arrange_inbox_traffic(inbox, sandbox, service):
    r = sandbox.inject_sms(CUSTOMER, inbox.e164, "Is the plumber coming?", media=[MEDIA_URL])
    assert r["status"] == 200, r
    r = service.post(
        "/api/v1/messages",
        user=inbox.user,
        json={"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": CUSTOMER, "body": "On the way!"},
    )
    assert r.status_code == 201, r.text
    assert sandbox.wait_idle()


def messages_of(doc) -> list[dict]:
    return [m for w in doc["workspaces"] for m in w["messages"]]


def test_json_export_holds_the_callers_data_and_nothing_of_another_workspace(inbox, sandbox, service, outsider, db):
    arrange_inbox_traffic(inbox, sandbox, service)
    r = service.get("/api/v1/me/export?format=json", user=inbox.user)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Content-Disposition"].startswith('attachment; filename="numeraloop-export-')
    assert r.headers["Content-Disposition"].endswith('.json"')
    assert r.headers["Cache-Control"] == "no-store"
    doc = r.json()

    assert doc["profile"]["id"] == inbox.user.id and doc["profile"]["email"] == inbox.user.email
    assert [m["workspace_id"] for m in doc["memberships"]] == [inbox.workspace_id]
    assert [w["id"] for w in doc["workspaces"]] == [inbox.workspace_id]
    bodies = {m["body"]: m for m in messages_of(doc)}
    assert {"Is the plumber coming?", "On the way!"} <= set(bodies)
    assert [x["url"] for x in bodies["Is the plumber coming?"]["media"]] == [MEDIA_URL]
    assert CUSTOMER in {c["phone_e164"] for c in doc["workspaces"][0]["contacts"]}
    assert [n["e164"] for n in doc["workspaces"][0]["phone_numbers"]] == [inbox.e164]

    for leaked in (
        OUTSIDER_SECRET,
        OUTSIDER_CONTACT,
        outsider.contact_phone,
        outsider.user.workspace_id,
        outsider.user.id,
        outsider.user.email,
    ):
        assert leaked not in r.text

    # Recorded as a completed export request, listed in the export itself, and audit-logged.
    requests_ = db.execute(
        "select id, status, details from public.data_requests where user_id = %s and kind = 'export'", (inbox.user.id,)
    ).fetchall()
    assert len(requests_) == 1 and requests_[0]["status"] == "completed"
    assert requests_[0]["details"]["format"] == "json"
    assert [d["id"] for d in doc["data_requests"]] == [str(requests_[0]["id"])]
    audit = db.execute(
        "select details from public.audit_log where action = 'data.export' and actor_user_id = %s", (inbox.user.id,)
    ).fetchall()
    assert len(audit) == 1 and audit[0]["details"]["counts"]["messages"] == len(messages_of(doc))
    assert "Is the plumber coming?" not in json.dumps(audit[0]["details"])


def test_a_member_exports_what_they_can_read_in_a_shared_workspace(inbox, sandbox, service, make_user, db):
    arrange_inbox_traffic(inbox, sandbox, service)
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    doc = service.get("/api/v1/me/export", user=agent).json()
    assert {w["id"] for w in doc["workspaces"]} == {agent.workspace_id, inbox.workspace_id}
    assert "Is the plumber coming?" in {m["body"] for m in messages_of(doc)}
    assert doc["profile"]["id"] == agent.id  # their own profile, not the owner's
    assert inbox.user.email not in json.dumps(doc["profile"])


def read_zip(response) -> dict[str, list[dict]]:
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {
        name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
        for name in archive.namelist()
        if name.endswith(".csv")
    }


def test_csv_export_is_a_zip_with_one_csv_per_table(inbox, sandbox, service, outsider, db):
    arrange_inbox_traffic(inbox, sandbox, service)
    r = service.get("/api/v1/me/export?format=csv", user=inbox.user)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/zip"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="numeraloop-export-')
    assert r.headers["Content-Disposition"].endswith('.zip"')
    assert set(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == expected_files(db)
    files = read_zip(r)
    assert {"twilio_accounts.csv", "opt_out_events.csv", "webhook_deliveries.csv", "workspace_invitations.csv"} <= set(
        files
    )

    assert [p["id"] for p in files["profiles.csv"]] == [inbox.user.id]
    assert [w["id"] for w in files["workspaces.csv"]] == [inbox.workspace_id]
    assert {m["body"] for m in files["messages.csv"]} >= {"Is the plumber coming?", "On the way!"}
    assert "media" not in files["messages.csv"][0]  # media are their own table
    inbound = next(m for m in files["messages.csv"] if m["body"] == "Is the plumber coming?")
    assert [(x["message_id"], x["url"]) for x in files["message_media.csv"]] == [(inbound["id"], MEDIA_URL)]
    assert CUSTOMER in {c["phone_e164"] for c in files["contacts.csv"]}
    # The export lists itself, being written; once the download is over it is completed.
    assert [(d["kind"], d["status"]) for d in files["data_requests.csv"]] == [("export", "in_progress")]

    archive = zipfile.ZipFile(io.BytesIO(r.content))
    calls = archive.read("calls.csv").decode("utf-8-sig")
    assert calls.splitlines()[0].split(",")[:3] == ["id", "workspace_id", "phone_number_id"], (
        "an empty table still has its header"
    )
    everything = "".join(archive.read(n).decode("utf-8-sig") for n in archive.namelist())
    for leaked in (OUTSIDER_SECRET, OUTSIDER_CONTACT, outsider.contact_phone, outsider.user.workspace_id):
        assert leaked not in everything
    assert (
        db.execute(
            "select details ->> 'format' as f from public.data_requests where user_id = %s and kind = 'export'",
            (inbox.user.id,),
        ).fetchone()["f"]
        == "csv"
    )


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(inbox, sandbox, service):
    formula = '=HYPERLINK("http://evil.example/x","click")'
    assert sandbox.inject_sms(CUSTOMER, inbox.e164, formula)["status"] == 200
    files = read_zip(service.get("/api/v1/me/export?format=csv", user=inbox.user))
    bodies = {m["body"] for m in files["messages.csv"]}
    assert "'" + formula in bodies and formula not in bodies
    assert CUSTOMER in {c["phone_e164"] for c in files["contacts.csv"]}, "phone numbers are left as they are"
    # The JSON export stays exact.
    assert formula in {m["body"] for m in messages_of(service.get("/api/v1/me/export", user=inbox.user).json())}


def test_unknown_format_is_a_clean_422(service, make_user):
    r = service.get("/api/v1/me/export?format=xml", user=make_user())
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_format"


def test_export_needs_a_token(service):
    for fmt in ("json", "csv"):
        r = service.get(f"/api/v1/me/export?format={fmt}")
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token"
