"""GET /api/v1/me: who the token belongs to and their workspaces, read under RLS as the caller."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..db import as_user, current_pool

bp = Blueprint("account", __name__)


@bp.get("/me")
def me():
    with as_user(current_pool(), g.claims) as conn:
        profile = conn.execute("select id, email, full_name, age_confirmed_at from public.profiles").fetchone()
        workspaces = conn.execute(
            "select w.id, w.name, w.is_personal, m.role from public.workspaces w "
            "join public.workspace_members m on m.workspace_id = w.id and m.user_id = auth.uid() "
            "order by w.created_at"
        ).fetchall()
    return jsonify(profile=profile, workspaces=workspaces)
