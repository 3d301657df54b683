"""/api/v1/me/deletion: request, see, cancel; and the daily job deleting the account once due."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.support.database import add_member


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def test_request_schedules_deletion_after_the_grace_period(service, make_user, db):
    user = make_user()
    r = service.post("/api/v1/me/deletion", user=user)
    assert r.status_code == 202, r.text
    body = r.json()
    deletion = body["deletion"]
    assert deletion["kind"] == "deletion" and deletion["status"] == "scheduled"
    assert body["grace_period_days"] == 7
    assert parse(deletion["scheduled_for"]) - parse(deletion["requested_at"]) == timedelta(days=7)
    assert [w["id"] for w in body["workspaces_deleted_with_account"]] == [user.workspace_id]
    stored = db.execute("select user_id, status from public.data_requests where id = %s", (deletion["id"],)).fetchone()
    assert str(stored["user_id"]) == user.id and stored["status"] == "scheduled"
    assert (
        db.execute(
            "select count(*) as n from public.audit_log where action = 'account.deletion_requested' and target_id = %s",
            (deletion["id"],),
        ).fetchone()["n"]
        == 1
    )


def test_requesting_again_returns_the_same_request(service, make_user, db):
    user = make_user()
    first = service.post("/api/v1/me/deletion", user=user).json()["deletion"]
    again = service.post("/api/v1/me/deletion", user=user)
    assert again.status_code == 202 and again.json()["deletion"] == first
    assert (
        db.execute("select count(*) as n from public.data_requests where user_id = %s", (user.id,)).fetchone()["n"] == 1
    )


def test_status_and_cancel(service, make_user, db):
    user = make_user()
    none_yet = service.get("/api/v1/me/deletion", user=user)
    assert none_yet.status_code == 200 and none_yet.json()["deletion"] is None
    created = service.post("/api/v1/me/deletion", user=user).json()["deletion"]
    assert service.get("/api/v1/me/deletion", user=user).json()["deletion"] == created

    r = service.delete("/api/v1/me/deletion", user=user)
    assert r.status_code == 200, r.text
    canceled = r.json()["deletion"]
    assert canceled["id"] == created["id"] and canceled["status"] == "canceled" and canceled["canceled_at"]
    assert service.get("/api/v1/me/deletion", user=user).json()["deletion"] is None

    again = service.delete("/api/v1/me/deletion", user=user)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "no_deletion_request"


def test_workspaces_with_another_owner_are_not_listed_for_deletion(service, make_user, db):
    user, partner = make_user("leaver"), make_user("partner")
    team = db.execute(
        "insert into public.workspaces (name, created_by) values ('Team', %s) returning id::text", (user.id,)
    ).fetchone()["id"]
    add_member(db, team, user, "owner")
    add_member(db, partner.workspace_id, user, "owner")  # co-owner of the partner's workspace
    add_member(db, team, partner, "agent")  # an agent does not keep a workspace alive
    listed = service.get("/api/v1/me/deletion", user=user).json()["workspaces_deleted_with_account"]
    assert {w["id"] for w in listed} == {user.workspace_id, team}
    assert {w["name"] for w in listed} >= {"Team"}


def run_due_deletions(db, request_id):
    """What the daily pg_cron job does, once this request's grace period is over (others are not touched)."""
    db.execute(
        "update public.data_requests set requested_at = requested_at - interval '8 days', "
        "scheduled_for = scheduled_for - interval '8 days' where id = %s",
        (request_id,),
    )
    return db.execute("select private.delete_due_accounts() as r").fetchone()["r"]


def test_once_due_the_account_is_deleted_and_its_token_gets_clean_errors(service, make_user, db, outsider):
    user = make_user("leaving")
    keeper = make_user("keeper")
    add_member(db, user.workspace_id, keeper, "agent")
    request_id = service.post("/api/v1/me/deletion", user=user).json()["deletion"]["id"]

    assert run_due_deletions(db, request_id)["completed"] >= 1
    assert db.execute("select 1 from auth.users where id = %s", (user.id,)).fetchone() is None
    assert db.execute("select 1 from public.workspaces where id = %s", (user.workspace_id,)).fetchone() is None
    done = db.execute(
        "select status, user_id, completed_at from public.data_requests where id = %s", (request_id,)
    ).fetchone()
    assert done["status"] == "completed" and done["user_id"] is None and done["completed_at"] is not None
    # The agent of the deleted workspace, and everyone else, keep their accounts and data.
    assert service.get("/api/v1/me", user=keeper).json()["workspaces"] == [
        {"id": keeper.workspace_id, "name": "Keeper's workspace", "is_personal": True, "role": "owner"}
    ]
    assert (
        db.execute(
            "select count(*) as n from public.messages where workspace_id = %s", (outsider.user.workspace_id,)
        ).fetchone()["n"]
        == 1
    )

    # The deleted user's token is still signed and unexpired for a while: clean answers, no 500.
    for method, path in (("GET", "/api/v1/me/export"), ("POST", "/api/v1/me/deletion")):
        r = service.request(method, path, user=user)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "account_not_found"
    assert service.delete("/api/v1/me/deletion", user=user).status_code == 404
    assert service.get("/api/v1/me/deletion", user=user).json()["deletion"] is None


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_deletion_routes_need_a_token(service, method):
    r = service.request(method, "/api/v1/me/deletion")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token"
