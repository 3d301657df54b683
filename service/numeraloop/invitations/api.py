"""Joining a workspace by invitation.

  POST   /api/v1/workspaces/{id}/invitations          admins: invite {email, role: agent|admin}
  GET    /api/v1/workspaces/{id}/invitations          admins: the workspace's invitations and their status
  DELETE /api/v1/workspaces/{id}/invitations/{inv}    admins: revoke one that is not accepted yet
  POST   /api/v1/invitations/accept {token}           the invitee (their verified e-mail): join

The SQL functions (supabase/migrations/20261128001050_workspace_invitations.sql) decide, run as
the caller; what they refuse is answered through errors.SQLSTATE_ERRORS, their SQLSTATE giving the
status and their DETAIL the code (invitation_expired, already_member, ...; plan_limit_reached when
the workspace's seats are taken).
"""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, g, jsonify

from .. import workspaces
from ..api.inputs import field, json_body
from ..db import as_user, current_pool
from ..errors import ApiError

bp = Blueprint("invitations", __name__)

INVITABLE_ROLES = ("agent", "admin")
# Longer than any address the table's check (char_length(email) <= 320) accepts, so the
# database's own answer (invalid_email) is what the caller sees for those too.
MAX_EMAIL_INPUT = 400
# A token is 'nlinv_' and 64 hex digits; anything much longer cannot be one.
MAX_TOKEN = 200


def _workspace_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, "workspace_not_found", "No such workspace.") from None


def _call(sql: str, params: tuple) -> dict:
    with as_user(current_pool(), g.claims) as conn:
        return conn.execute(sql, params).fetchone()["r"]


def _view(row: dict) -> dict:
    return {
        k: row.get(k)
        for k in (
            "id",
            "workspace_id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "accepted_by",
            "revoked_at",
        )
    }


@bp.post("/workspaces/<workspace_id>/invitations")
def create_invitation(workspace_id: str):
    workspace_id = _workspace_id(workspace_id)
    body = json_body()
    workspaces.for_caller({"workspace_id": workspace_id}, "admin")
    email = field(body, "email", required=True, max_length=MAX_EMAIL_INPUT)
    role = field(body, "role") or "agent"
    if role == "owner":
        raise ApiError(
            403,
            "role_not_invitable",
            "An invitation makes an agent or an admin; an owner can make a member an owner once they have joined.",
            field="role",
        )
    if role not in INVITABLE_ROLES:
        raise ApiError(422, "invalid_role", "role must be 'agent' or 'admin'.", field="role")
    invitation = _call(
        "select public.invite_to_workspace(%s, %s, %s::public.workspace_role) as r", (workspace_id, email, role)
    )
    # E-mailing the invitation is not built yet, so the token is handed to the inviting admin,
    # this once (only its hash is stored), to pass on; the invitee POSTs it to accept_url.
    return jsonify(
        {
            **_view(invitation),
            "token": invitation["token"],
            "accept_url": current_app.config["NUMERALOOP"].public_base_url + "/api/v1/invitations/accept",
        }
    ), 201


@bp.get("/workspaces/<workspace_id>/invitations")
def list_invitations(workspace_id: str):
    workspace_id = _workspace_id(workspace_id)
    workspaces.for_caller({"workspace_id": workspace_id}, "admin")
    with as_user(current_pool(), g.claims) as conn:
        rows = conn.execute(
            "select id, workspace_id, email, role::text, invited_by, created_at, expires_at, accepted_at, accepted_by, "
            "revoked_at, case when accepted_at is not null then 'accepted' when revoked_at is not null then 'revoked' "
            "when expires_at <= now() then 'expired' else 'pending' end as status "
            "from public.workspace_invitations where workspace_id = %s order by created_at desc, id limit 500",
            (workspace_id,),
        ).fetchall()
    return jsonify(invitations=[_view(r) for r in rows])


@bp.delete("/workspaces/<workspace_id>/invitations/<invitation_id>")
def revoke_invitation(workspace_id: str, invitation_id: str):
    workspace_id = _workspace_id(workspace_id)
    workspaces.for_caller({"workspace_id": workspace_id}, "admin")
    try:
        invitation_id = str(uuid.UUID(invitation_id))
    except ValueError:
        raise ApiError(404, "invitation_not_found", "No such invitation.") from None
    return jsonify(
        _view(_call("select public.revoke_workspace_invitation(%s, %s) as r", (workspace_id, invitation_id)))
    )


@bp.post("/invitations/accept")
def accept_invitation():
    token = field(json_body(), "token", required=True)
    if len(token) > MAX_TOKEN:
        raise ApiError(404, "invitation_not_found", "No such invitation.")
    accepted = _call("select public.accept_workspace_invitation(%s) as r", (token,))
    return jsonify(
        {**_view(accepted), "already_member": accepted["already_member"], "member_role": accepted["member_role"]}
    )
