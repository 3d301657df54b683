"""Which workspace a page is about: the one named by `?workspace=` when the person belongs to
it, else their personal workspace, else the first they joined. Read as the person, so a
workspace they do not belong to is never chosen."""

from __future__ import annotations

import uuid

from flask import abort, g, request

from ..db import as_user, current_pool


def current() -> dict:
    """{"id", "name", "role", "is_personal"} of the page's workspace; 404 if the person has none."""
    if "workspace" in g:
        return g.workspace
    requested = request.values.get("workspace")
    if requested:
        try:
            requested = str(uuid.UUID(requested))
        except ValueError:
            abort(404)
    with as_user(current_pool(), g.claims) as conn:
        rows = conn.execute(
            "select w.id::text as id, w.name, m.role::text as role, w.is_personal "
            "  from public.workspace_members m join public.workspaces w on w.id = m.workspace_id "
            " where m.user_id = auth.uid() order by w.is_personal desc, m.created_at"
        ).fetchall()
    if requested:
        rows = [r for r in rows if r["id"] == requested]
    if not rows:
        abort(404)
    g.workspace = rows[0]
    return g.workspace


def is_admin() -> bool:
    return current()["role"] in ("owner", "admin")
