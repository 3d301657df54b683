"""The export is complete (a seeded row of every table the user can read, nothing of another
workspace), carries "what we hold and why", streams from the database in chunks, is the same
document public.export_my_data() builds, records a download that stops as failed, and is
rate-limited per user."""

from __future__ import annotations

import io
import json
import zipfile

from numeraloop.privacy import export

from .conftest import OUTSIDER_MARKER, add_workspace_records
from .test_export_contents import assert_nothing_of_the_outsider, workspace_in

OURS = "streamed-export"


def seed_every_table(service, sandbox, inbox, db) -> None:
    """A row in every table the owner can read, through the product's paths where it has them."""
    ws = inbox.workspace_id
    add_workspace_records(db, ws, inbox.number["id"], OURS)  # a webhook endpoint first: deliveries follow
    assert (
        sandbox.inject_sms("+16285557501", inbox.e164, "Photo", media=["https://media.example.com/a.jpg"])["status"]
        == 200
    )
    assert sandbox.inject_sms("+16285557502", inbox.e164, "STOP")["status"] == 200  # opt_outs, opt_out_events
    assert sandbox.inject_call("+16285557503", inbox.e164, duration=3)["status"] == 200
    assert sandbox.wait_idle()
    contact = db.execute(
        "select id, workspace_id from public.contacts where workspace_id = %s limit 1", (ws,)
    ).fetchone()
    list_id = db.execute("select id from public.contact_lists where workspace_id = %s limit 1", (ws,)).fetchone()["id"]
    db.execute(
        "insert into public.contact_list_members (workspace_id, list_id, contact_id) values (%s, %s, %s)",
        (ws, list_id, contact["id"]),
    )
    db.execute("insert into public.message_prices (workspace_id, country, per_segment) values (%s, 'FR', 0.07)", (ws,))
    if db.execute("select to_regclass('public.conversation_notes') is not null as e").fetchone()["e"]:
        db.execute(
            "insert into public.conversation_notes (workspace_id, conversation_id, body) "
            "select workspace_id, id, 'Call back' from public.conversations where workspace_id = %s limit 1",
            (ws,),
        )
    r = service.post(f"/api/v1/workspaces/{ws}/invitations", user=inbox.user, json={"email": "new@example.test"})
    assert r.status_code == 201, r.text
    assert (
        service.post("/api/v1/me/requests", user=inbox.user, json={"law": "gdpr", "kind": "access"}).status_code == 201
    )
    assert (
        service.request("PUT", "/api/v1/me/consent", user=inbox.user, json={"product_emails": True}).status_code == 200
    )
    db.execute("select private.record_breach_notification(array[%s]::uuid[], 'Security notice', now())", (ws,))
    assert service.post("/api/v1/me/restriction", user=inbox.user).status_code == 201


def test_the_export_holds_a_seeded_row_of_every_table_and_what_we_hold(service, sandbox, inbox, outsider, db):
    seed_every_table(service, sandbox, inbox, db)
    r = service.get("/api/v1/me/export", user=inbox.user)
    assert r.status_code == 200, r.text
    doc = r.json()
    workspace = workspace_in(doc, inbox.workspace_id)
    tables = db.execute("select section, table_name from private.export_tables()").fetchall()
    empty = [
        t["table_name"] for t in tables if not (workspace if t["section"] == "workspace" else doc)[t["table_name"]]
    ]
    assert empty == [], "tables with a seeded row that the export left empty"
    assert doc["profile"]["id"] == inbox.user.id and doc["memberships"]
    assert any(m["media"] for m in workspace["messages"]), "media nested in their message"
    assert workspace["twilio_accounts"][0]["account_sid"] == inbox.account["sid"]
    assert "auth_token" not in r.text and inbox.account["auth_token"] not in r.text
    assert "token_hash" not in workspace["workspace_invitations"][0], "the invitation, never its token"
    assert {e["action"] for e in workspace["opt_out_events"]} >= {"opted_out"}

    held = doc["what_we_hold"]
    assert {p["name"] for p in held["processors"]} == {"Twilio", "Stripe", "Supabase"}
    listed = {t for c in held["categories"] for t in c["tables"]}
    assert {t["table_name"] for t in tables} | {"profiles", "workspace_members", "message_media"} <= listed, (
        "every exported table is explained"
    )
    assert all(c["source"] and c["purposes"] and c["retention"] for c in held["categories"])
    assert_nothing_of_the_outsider(r.text, outsider)
    assert OUTSIDER_MARKER not in r.text


def comparable(doc: dict) -> dict:
    """The document without what differs between two exports made one after the other: when, and
    the records of the exports themselves."""
    doc = json.loads(
        json.dumps({k: v for k, v in doc.items() if k not in ("exported_at", "data_requests", "access_log")})
    )
    for workspace in doc["workspaces"]:
        workspace["audit_log"] = [a for a in workspace["audit_log"] if a["target_type"] != "data_request"]
    return doc


def test_the_streamed_document_is_the_one_the_database_builds(service, sandbox, inbox, db, database_url):
    seed_every_table(service, sandbox, inbox, db)
    streamed = service.get("/api/v1/me/export", user=inbox.user).json()
    with db.transaction():
        db.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(inbox.user.claims),),
        )
        built = db.execute("select public.export_my_data('json') as d").fetchone()["d"]
    assert comparable(streamed) == comparable(built)
    assert streamed["format_version"] == built["format_version"] == 2


def test_the_body_streams_in_chunks_and_a_stopped_download_is_recorded_as_failed(service, inbox, db):
    # Enough messages for several chunks.
    db.execute(
        "insert into public.conversations (workspace_id, phone_number_id, contact_id) "
        "select %s, %s, private.upsert_contact(%s, '+16285557599')",
        (inbox.workspace_id, inbox.number["id"], inbox.workspace_id),
    )
    db.execute(
        "insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, "
        "status) select c.workspace_id, c.id, 'inbound', '+16285557599', %s, repeat('x', 300) || g, "
        "'received' from public.conversations c, generate_series(1, 3000) g where c.workspace_id = %s",
        (inbox.e164, inbox.workspace_id),
    )
    pool, claims = service.app.extensions["numeraloop.pool"], inbox.user.claims

    def begin(fmt):
        with pool.connection() as conn, conn.transaction():
            conn.execute(
                "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                (json.dumps(claims),),
            )
            return str(conn.execute("select private.begin_data_export(%s) as id", (fmt,)).fetchone()["id"])

    whole = export.StreamedExport(pool, claims, begin("json"), "json")
    chunks = list(whole.run(whole.json_chunks))
    assert len(chunks) > 3 and max(len(c) for c in chunks) < 2 * export.CHUNK_BYTES
    doc = json.loads(b"".join(chunks))
    assert len(workspace_in(doc, inbox.workspace_id)["messages"]) == 3000
    done = db.execute("select status, details from public.data_requests where id = %s", (whole.request_id,)).fetchone()
    assert done["status"] == "completed" and done["details"]["counts"]["messages"] == 3000

    for fmt in ("json", "csv"):
        stopped = export.StreamedExport(pool, claims, begin(fmt), fmt)
        body = stopped.run(stopped.json_chunks if fmt == "json" else stopped.zip_chunks)
        next(body)
        body.close()  # what the server does when the client goes away
        row = db.execute(
            "select status, completed_at from public.data_requests where id = %s", (stopped.request_id,)
        ).fetchone()
        assert (row["status"], row["completed_at"]) == ("failed", None), fmt
        assert (
            db.execute(
                "select count(*) as n from public.audit_log where action = 'data.export_failed' and target_id = %s",
                (stopped.request_id,),
            ).fetchone()["n"]
            == 1
        )


def test_the_zip_is_read_by_zipfile_and_carries_what_we_hold(service, inbox):
    r = service.get("/api/v1/me/export?format=csv", user=inbox.user)
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.testzip() is None
    text = archive.read("what_we_hold.txt").decode("utf-8-sig")
    assert "What we hold and why" in text and "Twilio" in text and "Stripe" in text and "Supabase" in text


def test_exports_are_rate_limited_per_user(service, make_user, db):
    user, other = make_user("eager"), make_user("patient")
    for i in range(5):
        assert service.get("/api/v1/me/export", user=user).status_code == 200, i
    r = service.get("/api/v1/me/export?format=csv", user=user)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "export_rate_limited"
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 3600 and r.json()["error"]["retry_after"] == retry
    assert (
        db.execute(
            "select count(*) as n from public.data_requests where user_id = %s and kind = 'export'", (user.id,)
        ).fetchone()["n"]
        == 5
    ), "a refused export records nothing"
    assert service.get("/api/v1/me/export", user=other).status_code == 200, "the limit is per user"
    # An hour after the first, one more may start.
    db.execute(
        "update public.data_requests set requested_at = requested_at - interval '61 minutes', "
        "completed_at = completed_at - interval '61 minutes' where id = (select id from public.data_requests "
        "where user_id = %s and kind = 'export' order by requested_at limit 1)",
        (user.id,),
    )
    assert service.get("/api/v1/me/export", user=user).status_code == 200
