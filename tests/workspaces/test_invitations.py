"""Workspace membership by invitation (supabase/migrations/20261128001050_workspace_invitations.sql,
service/numeraloop/invitations/api.py): an admin invites an e-mail address as agent or admin,
the person with that verified address accepts with the token and becomes a member. Nobody adds
a user id to a workspace directly."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from tests.billing.events import give_workspace_billing
from tests.support.database import acting_as, add_member


def invite(service, admin, workspace_id, email, role="agent"):
    return service.post(
        f"/api/v1/workspaces/{workspace_id}/invitations", user=admin, json={"email": email, "role": role}
    )


def accept(service, user, token):
    return service.post("/api/v1/invitations/accept", user=user, json={"token": token})


def invited(service, admin, workspace_id, email, role="agent") -> dict:
    r = invite(service, admin, workspace_id, email, role)
    assert r.status_code == 201, r.text
    return r.json()


def error_code(r) -> str:
    return r.json()["error"]["code"]


def members(db, workspace_id) -> dict[str, str]:
    return {
        str(r["user_id"]): r["role"]
        for r in db.execute(
            "select user_id, role::text from public.workspace_members where workspace_id = %s", (workspace_id,)
        )
    }


def audit_actions(db, workspace_id) -> list[str]:
    return [
        r["action"]
        for r in db.execute(
            "select action from public.audit_log where workspace_id = %s and action like 'invitation.%%' order by id",
            (workspace_id,),
        )
    ]


def test_an_invited_user_accepts_and_becomes_a_member(service, make_user, db):
    owner, bob = make_user("owner"), make_user("bob")
    body = invited(service, owner, owner.workspace_id, bob.email, "admin")
    assert body["email"] == bob.email and body["role"] == "admin" and body["status"] == "pending"
    assert body["workspace_id"] == owner.workspace_id
    assert body["token"] and body["accept_url"].endswith("/api/v1/invitations/accept")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)

    r = accept(service, bob, body["token"])
    assert r.status_code == 200, r.text
    assert r.json()["workspace_id"] == owner.workspace_id and r.json()["role"] == "admin"
    assert members(db, owner.workspace_id)[bob.id] == "admin"
    me = service.get("/api/v1/me", user=bob).json()
    assert owner.workspace_id in {w["id"] for w in me["workspaces"]}

    row = db.execute(
        "select accepted_at, accepted_by from public.workspace_invitations where id = %s", (body["id"],)
    ).fetchone()
    assert row["accepted_at"] is not None and str(row["accepted_by"]) == bob.id
    assert audit_actions(db, owner.workspace_id) == ["invitation.created", "invitation.accepted"]


def test_the_token_is_stored_only_as_its_sha256(service, make_user, db):
    owner, bob = make_user("owner"), make_user("bob")
    body = invited(service, owner, owner.workspace_id, bob.email)
    token = body["token"]
    stored = db.execute("select token_hash from public.workspace_invitations where id = %s", (body["id"],)).fetchone()
    assert bytes(stored["token_hash"]) == hashlib.sha256(token.encode()).digest()
    for t in db.execute("select schemaname, tablename from pg_tables where schemaname in ('public', 'private')"):
        hit = db.execute(
            sql.SQL("select count(*) as n from {}.{} x where x::text like %s").format(
                sql.Identifier(t["schemaname"]), sql.Identifier(t["tablename"])
            ),
            (f"%{token}%",),
        ).fetchone()["n"]
        assert hit == 0, f"the invitation token is stored in {t['schemaname']}.{t['tablename']}"
    listed = service.get(f"/api/v1/workspaces/{owner.workspace_id}/invitations", user=owner)
    assert listed.status_code == 200 and token not in listed.text and "token_hash" not in listed.text


def test_an_invitation_is_single_use(service, make_user, db):
    owner, bob = make_user("owner"), make_user("bob")
    token = invited(service, owner, owner.workspace_id, bob.email)["token"]
    assert accept(service, bob, token).status_code == 200
    again = accept(service, bob, token)
    assert again.status_code == 409 and error_code(again) == "invitation_already_accepted"


def test_someone_else_holding_the_token_is_refused(service, make_user, db):
    owner, bob, mallory = make_user("owner"), make_user("bob"), make_user("mallory")
    body = invited(service, owner, owner.workspace_id, bob.email)
    r = accept(service, mallory, body["token"])
    assert r.status_code == 403 and error_code(r) == "invitation_email_mismatch"
    assert mallory.id not in members(db, owner.workspace_id)
    # The invitation is still Bob's to accept.
    assert accept(service, bob, body["token"]).status_code == 200


def test_an_unverified_email_cannot_accept(service, make_user, db):
    owner, bob = make_user("owner"), make_user("bob")
    token = invited(service, owner, owner.workspace_id, bob.email)["token"]
    db.execute("update auth.users set email_confirmed_at = null where id = %s", (bob.id,))
    r = accept(service, bob, token)
    assert r.status_code == 403 and error_code(r) == "email_not_verified"
    assert bob.id not in members(db, owner.workspace_id)


def test_the_email_matches_whatever_its_case(service, make_user, db):
    owner, bob = make_user("owner"), make_user("bob")
    body = invited(service, owner, owner.workspace_id, "  " + bob.email.upper() + " ")
    assert body["email"] == bob.email
    assert accept(service, bob, body["token"]).status_code == 200


def test_an_expired_invitation_is_gone(service, make_user, db):
    owner, bob = make_user("owner"), make_user("bob")
    body = invited(service, owner, owner.workspace_id, bob.email)
    db.execute(
        "update public.workspace_invitations set expires_at = now() - interval '1 second' where id = %s", (body["id"],)
    )
    r = accept(service, bob, body["token"])
    assert r.status_code == 410 and error_code(r) == "invitation_expired"
    assert bob.id not in members(db, owner.workspace_id)
    listed = service.get(f"/api/v1/workspaces/{owner.workspace_id}/invitations", user=owner).json()
    assert [i["status"] for i in listed["invitations"]] == ["expired"]


def test_a_revoked_invitation_is_gone(service, make_user, db):
    owner, bob = make_user("owner"), make_user("bob")
    body = invited(service, owner, owner.workspace_id, bob.email)
    r = service.delete(f"/api/v1/workspaces/{owner.workspace_id}/invitations/{body['id']}", user=owner)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    again = service.delete(f"/api/v1/workspaces/{owner.workspace_id}/invitations/{body['id']}", user=owner)
    assert again.status_code == 200 and again.json()["status"] == "revoked"
    r = accept(service, bob, body["token"])
    assert r.status_code == 410 and error_code(r) == "invitation_revoked"
    assert bob.id not in members(db, owner.workspace_id)
    assert audit_actions(db, owner.workspace_id) == ["invitation.created", "invitation.revoked"]


def test_an_accepted_invitation_cannot_be_revoked(service, make_user):
    owner, bob = make_user("owner"), make_user("bob")
    body = invited(service, owner, owner.workspace_id, bob.email)
    assert accept(service, bob, body["token"]).status_code == 200
    r = service.delete(f"/api/v1/workspaces/{owner.workspace_id}/invitations/{body['id']}", user=owner)
    assert r.status_code == 409 and error_code(r) == "invitation_already_accepted"


def test_inviting_again_replaces_the_pending_invitation(service, make_user):
    owner, bob = make_user("owner"), make_user("bob")
    first = invited(service, owner, owner.workspace_id, bob.email)
    second = invited(service, owner, owner.workspace_id, bob.email, "admin")
    r = accept(service, bob, first["token"])
    assert r.status_code == 410 and error_code(r) == "invitation_revoked"
    r = accept(service, bob, second["token"])
    assert r.status_code == 200 and r.json()["role"] == "admin"


def test_unknown_tokens_are_not_found(service, make_user):
    bob = make_user("bob")
    for token in ("nlinv_" + "0" * 64, "x", "y" * 5000):
        r = accept(service, bob, token)
        assert r.status_code == 404 and error_code(r) == "invitation_not_found", token[:20]
    r = service.post("/api/v1/invitations/accept", user=bob, json={})
    assert r.status_code == 422


def test_who_may_invite_and_as_what(service, make_user, db):
    owner, admin, agent, stranger, bob = (make_user(h) for h in ("owner", "admin", "agent", "stranger", "bob"))
    give_workspace_billing(db, owner.workspace_id)  # Pro: room for an owner, an admin, an agent and invitees
    add_member(db, owner.workspace_id, admin, "admin")
    add_member(db, owner.workspace_id, agent, "agent")
    ws = owner.workspace_id

    r = invite(service, agent, ws, bob.email)
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = service.get(f"/api/v1/workspaces/{ws}/invitations", user=agent)
    assert r.status_code == 403
    r = invite(service, stranger, ws, bob.email)
    assert r.status_code == 404
    r = service.get(f"/api/v1/workspaces/{ws}/invitations", user=stranger)
    assert r.status_code == 404

    r = invite(service, admin, ws, bob.email, "owner")
    assert r.status_code == 403 and error_code(r) == "role_not_invitable"
    r = invite(service, owner, ws, bob.email, "owner")
    assert r.status_code == 403 and error_code(r) == "role_not_invitable"
    r = invite(service, admin, ws, bob.email, "superuser")
    assert r.status_code == 422 and error_code(r) == "invalid_role"
    for bad in ("not-an-email", "a@", "@b", "a b@c.d", "x" * 310 + "@example.test"):
        r = invite(service, admin, ws, bad)
        assert r.status_code == 422 and error_code(r) == "invalid_email", bad
    r = invite(service, admin, ws, agent.email)
    assert r.status_code == 409 and error_code(r) == "already_member"

    body = invited(service, admin, ws, bob.email, "admin")
    r = service.delete(f"/api/v1/workspaces/{ws}/invitations/{body['id']}", user=agent)
    assert r.status_code == 403
    r = service.delete(f"/api/v1/workspaces/{stranger.workspace_id}/invitations/{body['id']}", user=stranger)
    assert r.status_code == 404
    r = service.delete(f"/api/v1/workspaces/{ws}/invitations/not-a-uuid", user=admin)
    assert r.status_code == 404
    listed = service.get(f"/api/v1/workspaces/{ws}/invitations", user=admin)
    assert listed.status_code == 200
    assert [(i["email"], i["role"], i["status"]) for i in listed.json()["invitations"]] == [
        (bob.email, "admin", "pending")
    ]


def test_accepting_past_the_seats_is_refused_and_keeps_the_invitation(service, make_user, db):
    owner, first, second = make_user("owner"), make_user("first"), make_user("second")
    add_member(db, owner.workspace_id, first, "agent")  # free plan: 2 seats, now both taken
    body = invited(service, owner, owner.workspace_id, second.email)
    r = accept(service, second, body["token"])
    assert r.status_code == 402 and error_code(r) == "plan_limit_reached"
    assert r.json()["error"]["limit"] == 2 and r.json()["error"]["used"] == 2
    assert second.id not in members(db, owner.workspace_id)
    assert (
        db.execute("select accepted_at from public.workspace_invitations where id = %s", (body["id"],)).fetchone()[
            "accepted_at"
        ]
        is None
    )


def test_clients_cannot_add_members_directly(make_user, db, database_url):
    owner, bob = make_user("owner"), make_user("bob")
    with acting_as(database_url, "authenticated", owner.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "insert into public.workspace_members (workspace_id, user_id, role) values (%s, %s, 'agent')",
                (owner.workspace_id, bob.id),
            )
    assert bob.id not in members(db, owner.workspace_id)


def test_the_invitee_sees_their_invitation_and_nobody_else_does(service, make_user, db, database_url):
    owner, bob, mallory = make_user("owner"), make_user("bob"), make_user("mallory")
    body = invited(service, owner, owner.workspace_id, bob.email)
    with acting_as(database_url, "authenticated", bob.claims) as conn:
        seen = conn.execute(
            "select id::text, workspace_id::text, role::text from public.workspace_invitations"
        ).fetchall()
        assert seen == [{"id": body["id"], "workspace_id": owner.workspace_id, "role": "agent"}]
    with acting_as(database_url, "authenticated", bob.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select token_hash from public.workspace_invitations")
    with acting_as(database_url, "authenticated", mallory.claims) as conn:
        assert conn.execute("select id from public.workspace_invitations").fetchall() == []
    with acting_as(database_url, "authenticated", owner.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("update public.workspace_invitations set role = 'admin'")
