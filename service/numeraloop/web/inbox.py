"""The inbox page: the shared inbox's conversations, a thread, and the composer.

Lists and threads are read as the signed-in user, so RLS decides what exists; a
conversation of another workspace is simply not found (404). The open page converges by
polling (`/inbox/updates`): it works behind Supabase's transaction pooler, where
LISTEN/NOTIFY does not, and answers 204 when nothing changed, so an idle inbox costs one
small query every couple of seconds.
"""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from ..db import as_user, current_pool
from ..errors import ApiError
from ..messaging import segments
from ..messaging import send as messaging_send
from ..messaging.error_codes import meaning
from ..notifications.new_messages import note_viewed
from .calls import call
from .signin import adult_required

bp = Blueprint("inbox", __name__)

PAGE = 50
THREAD = 200
VIEWS = {"all", "mine", "unassigned"}
STATUSES = {"open", "closed"}
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _filters() -> dict:
    view = request.args.get("view", "all")
    status = request.args.get("status", "open")
    return {
        "view": view if view in VIEWS else "all",
        "status": status if status in STATUSES else "open",
        "q": (request.args.get("q") or "").strip()[:100],
    }


def _conversations(conn, filters: dict) -> list[dict]:
    where = ["c.status = %(status)s"]
    if filters["view"] == "mine":
        where.append("c.assigned_to = auth.uid()")
    elif filters["view"] == "unassigned":
        where.append("c.assigned_to is null")
    if filters["q"]:
        where.append(
            "(concat_ws(' ', ct.first_name, ct.last_name) ilike %(like)s or ct.phone_e164 ilike %(like)s "
            "or exists (select 1 from public.messages m where m.conversation_id = c.id "
            "and m.body ilike %(like)s))"
        )
    like = "%" + filters["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return conn.execute(
        "select c.id, c.status, c.unread_count, c.last_message_at, c.last_message_preview, c.assigned_to, "
        "       ct.phone_e164, nullif(concat_ws(' ', ct.first_name, ct.last_name), '') as contact_name, "
        "       p.e164 as number_e164 "
        "  from public.conversations c "
        "  join public.contacts ct on ct.id = c.contact_id "
        "  join public.phone_numbers p on p.id = c.phone_number_id "
        f" where {' and '.join(where)} "
        " order by c.last_message_at desc "
        f" limit {PAGE}",
        {**filters, "like": like},
    ).fetchall()


def _unread_total(conn) -> int:
    row = conn.execute(
        "select coalesce(sum(unread_count), 0)::int as n from public.conversations where status = 'open'"
    ).fetchone()
    return row["n"]


def _version(conn) -> str:
    """Changes whenever anything the inbox shows changes: a new message, a status, an assignment."""
    row = conn.execute(
        "select coalesce((select max(updated_at) from public.conversations), 'epoch')::text || '/' || "
        "coalesce((select max(status_updated_at) from public.messages "
        "           where status_updated_at > now() - interval '1 day'), 'epoch')::text as v"
    ).fetchone()
    return row["v"]


def _thread(conn, conversation_id: str) -> tuple[dict, list[dict]]:
    try:
        conversation_id = str(uuid.UUID(conversation_id))
    except ValueError:
        abort(404)
    conversation = conn.execute(
        "select c.*, ct.phone_e164, nullif(concat_ws(' ', ct.first_name, ct.last_name), '') as contact_name, "
        "       p.e164 as number_e164, p.id as number_id "
        "  from public.conversations c join public.contacts ct on ct.id = c.contact_id "
        "  join public.phone_numbers p on p.id = c.phone_number_id where c.id = %s",
        (conversation_id,),
    ).fetchone()
    if conversation is None:
        abort(404)
    messages = conn.execute(
        "select * from (select m.id, m.direction, m.body, m.status, m.error_code, m.error_message, m.created_at, "
        "        m.num_segments, m.encoding, m.source, "
        "        coalesce((select array_agg(mm.url order by mm.position) from public.message_media mm "
        "                   where mm.message_id = m.id), '{}') as media "
        "   from public.messages m where m.conversation_id = %s order by m.created_at desc limit %s) recent "
        " order by created_at",
        (conversation_id, THREAD),
    ).fetchall()
    for m in messages:
        m["error_meaning"] = meaning(m["error_code"])
    # For the thread's controls: whom it can be assigned to, and the workspace's canned messages.
    conversation["members"] = conn.execute(
        "select user_id, full_name, email from public.workspace_member_directory(%s)", (conversation["workspace_id"],)
    ).fetchall()
    conversation["canned"] = conn.execute(
        "select id, title from public.canned_messages where workspace_id = %s order by title limit 100",
        (conversation["workspace_id"],),
    ).fetchall()
    return conversation, messages


@bp.get("/inbox")
@adult_required
def inbox_page():
    filters = _filters()
    with as_user(current_pool(), g.claims) as conn:
        conversations = _conversations(conn, filters)
        bought = request.args.get("bought", "")
        return render_template(
            "inbox/inbox.html",
            conversations=conversations,
            filters=filters,
            unread=_unread_total(conn),
            version=_version(conn),
            current=None,
            messages=None,
            bought=bought if E164.match(bought) else None,
        )


@bp.get("/inbox/<conversation_id>")
@adult_required
def thread_page(conversation_id: str):
    filters = _filters()
    with as_user(current_pool(), g.claims) as conn:
        current, messages = _thread(conn, conversation_id)
        note_viewed(conn, current["id"])  # no new-message e-mail about a conversation someone has open
        if current["unread_count"]:
            conn.execute("select public.mark_conversation_read(%s)", (current["id"],))
            current["unread_count"] = 0
        conversations = _conversations(conn, filters)
        return render_template(
            "inbox/inbox.html",
            conversations=conversations,
            filters=filters,
            unread=_unread_total(conn),
            version=_version(conn),
            current=current,
            messages=messages,
            idempotency_key=str(uuid.uuid4()),
        )


@bp.get("/inbox/updates")
@adult_required
def updates():
    """The parts of an open inbox that changed since `version`; 204 when nothing did."""
    filters = _filters()
    with as_user(current_pool(), g.claims) as conn:
        note_viewed(conn, request.args.get("conversation"))  # before the 204: an idle open page still counts
        version = _version(conn)
        if request.args.get("version") == version:
            return "", 204
        conversations = _conversations(conn, filters)
        current = messages = None
        if request.args.get("conversation"):
            current, messages = _thread(conn, request.args["conversation"])
            if current["unread_count"]:
                conn.execute("select public.mark_conversation_read(%s)", (current["id"],))
                current["unread_count"] = 0
        return render_template(
            "inbox/_updates.html",
            conversations=conversations,
            filters=filters,
            unread=_unread_total(conn),
            version=version,
            current=current,
            messages=messages,
        )


def _segments_view(text: str) -> dict:
    info = segments.count(text)
    return {
        "characters": len(text),
        "segments": info.segments,
        "encoding": info.encoding,
        "ucs2_characters": segments.ucs2_characters(text) if info.encoding == "ucs2" else [],
    }


@bp.post("/inbox/segments")
@adult_required
def segment_counter():
    """The composer's live counter: segments, encoding, and what forces UCS-2 with its GSM-7 replacement."""
    return render_template("inbox/_segments.html", segments=_segments_view((request.form.get("body") or "")[:1600]))


def _render_thread(conversation_id: str, status: int = 200, **extra):
    filters = _filters()
    with as_user(current_pool(), g.claims) as conn:
        current, messages = _thread(conn, conversation_id)
        conversations = _conversations(conn, filters)
        return render_template(
            "inbox/inbox.html",
            conversations=conversations,
            filters=filters,
            unread=_unread_total(conn),
            version=_version(conn),
            current=current,
            messages=messages,
            **extra,
        ), status


@bp.post("/inbox/<conversation_id>/messages")
@adult_required
def send_reply(conversation_id: str):
    """Sends the composer's text through the same path as POST /api/v1/messages. A refused send
    keeps the draft in the composer with the reason; the form's idempotency key makes a double
    submit (or a retry after a lost answer) send once."""
    text = (request.form.get("body") or "")[:1600]
    media = [line.strip() for line in (request.form.get("media") or "").splitlines() if line.strip()]
    key = (request.form.get("idempotency_key") or "")[:200] or None
    with as_user(current_pool(), g.claims) as conn:
        current, _ = _thread(conn, conversation_id)
    body = {
        "workspace_id": str(current["workspace_id"]),
        "from_number_id": str(current["number_id"]),
        "to": current["phone_e164"],
        "body": text,
    }
    if media:
        body["media_urls"] = media
    try:
        call(messaging_send.send_message, body, {"Idempotency-Key": key} if key else {})
    except ApiError as exc:
        return _render_thread(
            conversation_id,
            400 if exc.status < 500 else 502,
            send_error=exc.message,
            draft=text,
            draft_media="\n".join(media),
            idempotency_key=key,
            segments=_segments_view(text),
        )
    return redirect(url_for("web.inbox.thread_page", conversation_id=current["id"]), 303)
