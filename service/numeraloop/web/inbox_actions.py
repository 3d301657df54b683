"""What a member does to a conversation from the inbox page: assign it, close or reopen it,
and fill the composer from a canned message. Each runs as the signed-in user, so RLS and the
schema's triggers (an assignee must be a member) decide; a refusal is a sentence on the page."""

from __future__ import annotations

import uuid

import psycopg
from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from ..db import as_user, current_pool
from ..errors import sql_error
from .signin import adult_required

bp = Blueprint("inbox_actions", __name__)


def _uuid(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        abort(404)


def _back(conversation_id: str, **args):
    return redirect(url_for("web.inbox.thread_page", conversation_id=conversation_id, **args), 303)


@bp.post("/inbox/<conversation_id>/assign")
@adult_required
def assign(conversation_id: str):
    conversation_id = _uuid(conversation_id)
    choice = request.form.get("assignee", "")
    assignee = g.user_id if choice == "me" else _uuid(choice)
    try:
        with as_user(current_pool(), g.claims) as conn:
            done = conn.execute(
                "update public.conversations set assigned_to = %s where id = %s returning id",
                (assignee, conversation_id),
            ).fetchone()
    except psycopg.Error as exc:
        error = sql_error(exc)
        if error is None:
            raise
        return _back(conversation_id, refused="assign")
    if done is None:
        abort(404)
    return _back(conversation_id)


@bp.post("/inbox/<conversation_id>/status")
@adult_required
def set_status(conversation_id: str):
    conversation_id = _uuid(conversation_id)
    status = request.form.get("status")
    if status not in ("open", "closed"):
        abort(400)
    with as_user(current_pool(), g.claims) as conn:
        done = conn.execute(
            "update public.conversations set status = %s where id = %s returning id", (status, conversation_id)
        ).fetchone()
    if done is None:
        abort(404)
    return _back(conversation_id, status=status)


@bp.get("/inbox/<conversation_id>/canned")
@adult_required
def canned(conversation_id: str):
    """The composer's text filled from a canned message, its variables rendered for this contact."""
    conversation_id, canned_id = _uuid(conversation_id), _uuid(request.args.get("canned_id"))
    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute(
            "select public.render_template(cm.body, c.contact_id) as body from public.canned_messages cm "
            "join public.conversations c on c.workspace_id = cm.workspace_id where cm.id = %s and c.id = %s",
            (canned_id, conversation_id),
        ).fetchone()
    if row is None:
        abort(404)
    return render_template("inbox/_draft.html", draft=row["body"])
