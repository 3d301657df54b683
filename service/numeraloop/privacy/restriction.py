"""/api/v1/me/restriction: the caller restricts the processing of their account, or lifts it.

While an account is restricted nothing is sent, called or launched on its behalf: the database
refuses it (SQLSTATE P0423, answered 423 processing_restricted through errors.SQLSTATE_ERRORS)
for the account's own sends and calls and, in the workspaces it owns, for every send, call,
campaign launch or resume and automated reply; campaigns sending there are paused. Inbound
texts and calls are still stored. Lifting it is audited. The rules are
supabase/migrations/20261128009600_restriction_and_consent.sql; `refuse_if_restricted` is for
what the service does before the database is involved (a browser-calling token).
"""

from __future__ import annotations

import psycopg
from flask import Blueprint, g, jsonify

from ..db import as_service, as_user, current_pool
from ..errors import ApiError
from .deletion import account_gone

bp = Blueprint("privacy_restriction", __name__)


def _state(row) -> dict:
    if row is None or row["user_id"] is None:
        return {"restricted": False, "restricted_at": None, "source": None}
    return {"restricted": True, "restricted_at": row["restricted_at"], "source": row["source"]}


def refuse_if_restricted(workspace_id: str, what: str) -> None:
    """423 processing_restricted when acting in the workspace for the caller is refused."""
    with as_service(current_pool()) as conn:
        conn.execute("select private.refuse_if_restricted(%s, %s, %s)", (workspace_id, g.user_id, what))


@bp.get("/me/restriction")
def restriction_state():
    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute("select * from public.processing_restrictions where user_id = auth.uid()").fetchone()
    return jsonify(_state(row))


@bp.post("/me/restriction")
def restrict():
    try:
        with as_user(current_pool(), g.claims) as conn:
            before = conn.execute("select 1 from public.processing_restrictions where user_id = auth.uid()").fetchone()
            row = conn.execute("select * from public.restrict_my_processing()").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        raise account_gone() from None
    return jsonify(_state(row)), 200 if before else 201


@bp.delete("/me/restriction")
def lift():
    with as_user(current_pool(), g.claims) as conn:
        lifted = conn.execute("select public.lift_my_restriction() as lifted").fetchone()["lifted"]
    if not lifted:
        raise ApiError(404, "not_restricted", "Processing of your account is not restricted.")
    return jsonify(_state(None))
