"""GET /api/v1/me: who the token belongs to, their workspaces, and the policy changes to tell them
about (privacy/notices.py), read under RLS as the caller."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..db import as_user, current_pool
from ..privacy import notices

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
        policy_notices = notices.for_caller(conn)
    return jsonify(profile=profile, workspaces=workspaces, notices=policy_notices)
