"""POST /api/v1/twilio/connect and GET /api/v1/twilio/status, over HTTP against the sandbox."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.support.database import add_member
from tests.support.snapshots import changed_tables, workspace_state


def connect(service, user, account, **overrides):
    body = {"workspace_id": user.workspace_id, "account_sid": account["sid"], "auth_token": account["auth_token"]}
    body.update(overrides)
    return service.post("/api/v1/twilio/connect", user=user, json=body)


def test_connect_stores_credentials_creates_key_and_app_and_audits(service, make_user, twilio_account, sandbox, db):
    user = make_user("owner")
    r = connect(service, user, twilio_account)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["connected"] is True and body["account_sid"] == twilio_account["sid"]
    assert body["api_key_sid"].startswith("SK") and body["twiml_app_sid"].startswith("AP")
    assert twilio_account["auth_token"] not in r.text

    made = [q for q in sandbox.requests(twilio_account["sid"]) if q["method"] == "POST"]
    assert any("/Keys.json" in q["path"] for q in made)
    app_request = next(q for q in made if "/Applications.json" in q["path"])
    assert app_request["form"]["VoiceUrl"] == [service.base_url + "/twilio/voice/browser"]

    audit = db.execute("select * from public.audit_log where workspace_id = %s", (user.workspace_id,)).fetchall()
    assert [a["action"] for a in audit] == ["twilio.connect"]
    assert audit[0]["actor_user_id"] is not None and str(audit[0]["actor_user_id"]) == user.id
    assert twilio_account["auth_token"] not in str(audit[0]["details"])

    status = service.get(f"/api/v1/twilio/status?workspace_id={user.workspace_id}", user=user)
    assert status.status_code == 200 and status.json()["connected"] is True
    assert twilio_account["auth_token"] not in status.text


def test_no_readable_column_or_log_line_holds_a_secret(service, make_user, twilio_account, db, caplog):
    user = make_user("owner")
    assert connect(service, user, twilio_account).status_code == 201
    token = twilio_account["auth_token"]
    # Every column of every table PostgREST can expose (schema public), as text.
    for t in db.execute("select tablename from pg_tables where schemaname = 'public'").fetchall():
        hit = db.execute(
            sql.SQL("select count(*) as n from public.{} x where x::text like %s").format(
                sql.Identifier(t["tablename"])
            ),
            (f"%{token}%",),
        ).fetchone()["n"]
        assert hit == 0, f"auth token readable in public.{t['tablename']}"
    assert token not in caplog.text


def test_wrong_credentials_get_422_and_store_nothing(service, make_user, twilio_account, db):
    user = make_user("owner")
    before = workspace_state(db, user.workspace_id)
    r = connect(service, user, twilio_account, auth_token="0" * 32)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "twilio_credentials_invalid"
    assert changed_tables(before, workspace_state(db, user.workspace_id)) == []


@pytest.mark.parametrize("sid", ["", "AC123", "XX" + "0" * 32, "AC" + "G" * 32])
def test_malformed_sid_is_422(service, make_user, twilio_account, sandbox, db, sid):
    user = make_user("owner")
    before, asked = workspace_state(db, user.workspace_id), len(sandbox.requests(twilio_account["sid"]))
    r = connect(service, user, twilio_account, account_sid=sid)
    assert r.status_code == 422
    assert r.json()["error"]["code"] in ("invalid_account_sid", "missing_field")
    assert changed_tables(before, workspace_state(db, user.workspace_id)) == []
    assert len(sandbox.requests(twilio_account["sid"])) == asked, "refused before Twilio was asked"


def test_malformed_json_is_400(service, make_user):
    user = make_user("owner")
    r = service.post(
        "/api/v1/twilio/connect", user=user, data="{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_connecting_again_replaces_the_old_credentials(service, make_user, sandbox, db):
    user = make_user("owner")
    first, second = sandbox.create_account(), sandbox.create_account()
    assert connect(service, user, first).status_code == 201
    assert connect(service, user, second).status_code == 201
    rows = db.execute(
        "select account_sid from public.twilio_accounts where workspace_id = %s", (user.workspace_id,)
    ).fetchall()
    assert [r["account_sid"] for r in rows] == [second["sid"]]
    actions = [
        a["action"]
        for a in db.execute(
            "select action from public.audit_log where workspace_id = %s order by id", (user.workspace_id,)
        )
    ]
    assert actions == ["twilio.connect", "twilio.reconnect"]


def test_agent_gets_403_and_other_workspace_gets_404(service, make_user, twilio_account, sandbox, db):
    owner, agent, stranger = make_user("owner"), make_user("agent"), make_user("stranger")
    add_member(db, owner.workspace_id, agent, "agent")
    before, asked = workspace_state(db, owner.workspace_id), len(sandbox.requests(twilio_account["sid"]))
    r = service.post(
        "/api/v1/twilio/connect",
        user=agent,
        json={
            "workspace_id": owner.workspace_id,
            "account_sid": twilio_account["sid"],
            "auth_token": twilio_account["auth_token"],
        },
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = service.post(
        "/api/v1/twilio/connect",
        user=stranger,
        json={
            "workspace_id": owner.workspace_id,
            "account_sid": twilio_account["sid"],
            "auth_token": twilio_account["auth_token"],
        },
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "workspace_not_found"
    r = service.get(f"/api/v1/twilio/status?workspace_id={owner.workspace_id}", user=stranger)
    assert r.status_code == 404 and r.json()["error"]["code"] == "workspace_not_found"
    # Nothing stored for the workspace, and nothing asked of (or made at) Twilio with the credentials.
    assert changed_tables(before, workspace_state(db, owner.workspace_id)) == []
    assert len(sandbox.requests(twilio_account["sid"])) == asked


def test_status_when_not_connected(service, make_user):
    user = make_user()
    r = service.get("/api/v1/twilio/status", user=user)
    assert r.status_code == 200 and r.json() == {"connected": False, "workspace_id": user.workspace_id}


def test_an_account_connected_to_one_workspace_cannot_connect_to_another(
    service, make_user, twilio_account, sandbox, db
):
    first, second = make_user("first"), make_user("second")
    assert connect(service, first, twilio_account).status_code == 201
    created_before = len([q for q in sandbox.requests(twilio_account["sid"]) if q["method"] == "POST"])

    r = connect(service, second, twilio_account)
    assert r.status_code == 409 and r.json()["error"]["code"] == "twilio_account_in_use"
    assert first.workspace_id not in r.text and "First" not in r.text  # whose workspace has it is not said
    assert (
        db.execute(
            "select count(*) as n from public.twilio_accounts where workspace_id = %s", (second.workspace_id,)
        ).fetchone()["n"]
        == 0
    )
    # Refused before anything was made at Twilio for the second workspace.
    assert len([q for q in sandbox.requests(twilio_account["sid"]) if q["method"] == "POST"]) == created_before
    assert (
        db.execute(
            "select count(*) as n from public.audit_log where workspace_id = %s", (second.workspace_id,)
        ).fetchone()["n"]
        == 0
    )

    # The first workspace still reconnects it (e.g. to rotate the auth token).
    assert connect(service, first, twilio_account).status_code == 201


def test_one_account_per_workspace_holds_in_the_database_too(make_user, twilio_account, db, database_url):
    first, second = make_user("first"), make_user("second")
    db.execute(
        "insert into public.twilio_accounts (workspace_id, account_sid) values (%s, %s)",
        (first.workspace_id, twilio_account["sid"]),
    )
    with pytest.raises(psycopg.errors.UniqueViolation) as refused:
        db.execute(
            "insert into public.twilio_accounts (workspace_id, account_sid) values (%s, %s)",
            (second.workspace_id, twilio_account["sid"]),
        )
    assert refused.value.diag.constraint_name == "twilio_accounts_account_sid_key"
    # The function the service stores through refuses it with the same constraint, whoever's workspace it is.
    with pytest.raises(psycopg.errors.UniqueViolation) as refused:
        db.execute(
            "select private.store_twilio_account(%s, %s, 'token', null, null, null, null, null, null, %s, 1)",
            (second.workspace_id, twilio_account["sid"], "k" * 32),
        )
    assert refused.value.diag.constraint_name == "twilio_accounts_account_sid_key"
    assert str(first.workspace_id) not in refused.value.diag.message_primary


def test_another_account_is_refused_while_the_workspace_has_numbers(service, inbox, sandbox, db):
    other = sandbox.create_account(friendly_name="Someone else's")
    r = connect(service, inbox.user, other)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "twilio_numbers_attached"
    assert error["numbers"] == [inbox.e164] and inbox.e164 in error["message"]
    assert "release or detach" in error["message"]
    stored = db.execute(
        "select account_sid from public.twilio_accounts where workspace_id = %s", (inbox.workspace_id,)
    ).fetchone()
    assert stored["account_sid"] == inbox.account["sid"]
    assert [q for q in sandbox.requests(other["sid"]) if q["method"] == "POST"] == []  # nothing made at Twilio
    # Its inbound traffic still reaches the workspace, signed with the connected account's token.
    assert sandbox.inject_sms("+16285559001", inbox.e164, "Still there?")["status"] == 200

    # The database holds any writer to it, not just this route.
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as refused:
        db.execute(
            "select private.store_twilio_account(%s, %s, 'token', null, null, null, null, null, null, %s, 1)",
            (inbox.workspace_id, other["sid"], "k" * 32),
        )
    assert inbox.e164 in refused.value.diag.message_primary

    # The same account reconnects (say, with a new auth token), numbers and all.
    r = connect(service, inbox.user, inbox.account)
    assert r.status_code == 201, r.text
    actions = [
        a["action"]
        for a in db.execute(
            "select action from public.audit_log where workspace_id = %s and action like 'twilio.%%' order by id",
            (inbox.workspace_id,),
        )
    ]
    assert actions == ["twilio.connect", "twilio.reconnect"]
    assert sandbox.inject_sms("+16285559002", inbox.e164, "Hello again")["status"] == 200


@pytest.mark.parametrize("mode", ["release", "detach"])
def test_another_account_connects_once_the_numbers_are_released_or_detached(service, inbox, sandbox, db, mode):
    r = service.delete(f"/api/v1/numbers/{inbox.number['id']}?mode={mode}", user=inbox.user)
    assert r.status_code == 200, r.text
    other = sandbox.create_account()
    r = connect(service, inbox.user, other)
    assert r.status_code == 201, r.text
    assert r.json()["account_sid"] == other["sid"]
