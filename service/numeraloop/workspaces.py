"""Which workspace an API call is about, and whether the caller's role allows it."""

from __future__ import annotations

import uuid

import psycopg

from .errors import ApiError

ROLE_RANK = {"agent": 1, "admin": 2, "owner": 3}


def resolve(conn: psycopg.Connection, requested: str | None) -> tuple[str, str]:
    """(workspace_id, role) of the caller; `conn` runs as the caller, so RLS decides what exists.

    Without an explicit workspace_id, a caller who belongs to exactly one workspace gets that one.
    """
    rows = conn.execute(
        "select workspace_id::text, role::text from public.workspace_members where user_id = auth.uid()"
    ).fetchall()
    memberships = {r["workspace_id"]: r["role"] for r in rows}
    if requested is None or requested == "":
        if len(memberships) == 1:
            return next(iter(memberships.items()))
        raise ApiError(400, "workspace_required", "Say which workspace: pass workspace_id.")
    try:
        requested = str(uuid.UUID(str(requested)))
    except ValueError:
        raise ApiError(400, "invalid_workspace_id", "workspace_id must be a UUID.") from None
    if requested not in memberships:
        # Same answer whether it does not exist or belongs to someone else: nothing to enumerate.
        raise ApiError(404, "workspace_not_found", "No such workspace.")
    return requested, memberships[requested]


def require_role(role: str, minimum: str) -> None:
    if ROLE_RANK[role] < ROLE_RANK[minimum]:
        raise ApiError(403, "forbidden", f"This needs the {minimum} role in the workspace; you are {role}.")


def for_caller(body: dict | None = None, minimum_role: str = "agent") -> tuple[str, str]:
    """(workspace_id, role) of the API caller for the workspace the request names (404 when it
    is not theirs, 403 when their role is below `minimum_role`), read as the caller under RLS."""
    from flask import g

    from .api.inputs import workspace_param
    from .db import as_user, current_pool

    with as_user(current_pool(), g.claims) as conn:
        workspace_id, role = resolve(conn, workspace_param(body))
    require_role(role, minimum_role)
    return workspace_id, role
