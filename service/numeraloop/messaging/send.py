"""POST /api/v1/messages: a member sends an SMS/MMS from one of the workspace's numbers.

The workspace and the sender number are read as the caller (under RLS); the message row is then
written by the service (private.prepare_outbound_message, which checks the caller's membership
again) before Twilio is called, with its StatusCallback set, so a callback can never arrive for
a message we have no record of. Only this path records outbound messages: clients cannot, so
every queued message is one the service hands to Twilio.
An Idempotency-Key makes a retried request return the first result and send nothing more.
"""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, current_app, g, jsonify

from .. import phones, workspaces
from ..api.inputs import field, header, json_body, workspace_param
from ..db import as_service, as_user, current_pool
from ..errors import ApiError
from ..twilio import credentials, webhook_urls
from ..twilio.access import client_for, twilio_call
from .segments import count

bp = Blueprint("messaging_send", __name__)

log = logging.getLogger(__name__)
MAX_BODY = 1600
MAX_MEDIA = 10
# The schema's own limits (supabase/migrations/20261128002200_messaging.sql), checked here so
# that one past them is the caller's 4xx, not a check constraint's 500.
MAX_IDEMPOTENCY_KEY = 200  # messages.idempotency_key: char_length between 1 and 200
MAX_MEDIA_URL = 2000  # message_media.url: char_length(url) <= 2000


def normalise_recipient(raw: str, default_region: str | None) -> str:
    e164 = phones.to_e164(raw, default_region)
    if e164 is None:
        raise ApiError(422, "invalid_to", "'to' is not a valid phone number; use E.164, e.g. +14155550100.", field="to")
    return e164


def _media_urls(body: dict) -> list[str]:
    media = body.get("media_urls") or []
    if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
        raise ApiError(422, "invalid_field", "media_urls must be a list of URLs.", field="media_urls")
    if len(media) > MAX_MEDIA:
        raise ApiError(422, "too_many_media", f"At most {MAX_MEDIA} media URLs per message.", field="media_urls")
    for url in media:
        if not url.startswith(("https://", "http://")):
            raise ApiError(422, "invalid_media_url", "media_urls must be http(s) URLs.", field="media_urls")
        if len(url) > MAX_MEDIA_URL:
            raise ApiError(
                422,
                "media_url_too_long",
                f"Each of media_urls is limited to {MAX_MEDIA_URL} characters.",
                field="media_urls",
            )
    return media


def _from_number(conn, workspace_id: str, body: dict) -> dict:
    number_id = field(body, "from_number_id", max_length=64)
    sender = field(body, "from", max_length=20)
    if number_id:
        try:
            number_id = str(uuid.UUID(number_id))
        except ValueError:
            raise ApiError(422, "invalid_field", "from_number_id must be a UUID.", field="from_number_id") from None
        row = conn.execute(
            "select id::text, e164 from public.phone_numbers where id = %s and workspace_id = %s and status = 'active'",
            (number_id, workspace_id),
        ).fetchone()
    elif sender:
        row = conn.execute(
            "select id::text, e164 from public.phone_numbers where e164 = %s and workspace_id = %s "
            "and status = 'active'",
            (sender, workspace_id),
        ).fetchone()
    else:
        raise ApiError(422, "missing_field", "Say which number to send from: 'from_number_id' or 'from'.", field="from")
    if row is None:
        raise ApiError(422, "unknown_sender", "That number is not an active number of this workspace.", field="from")
    return row


def _view(prepared: dict, status_code: int):
    return jsonify(
        {
            "id": prepared["message_id"],
            "conversation_id": prepared["conversation_id"],
            "contact_id": prepared["contact_id"],
            "status": prepared["status"],
            "twilio_sid": prepared.get("twilio_sid"),
            "from": prepared.get("from"),
            "to": prepared.get("to"),
            "replayed": bool(prepared.get("replayed")),
            "num_segments": prepared.get("num_segments"),
            "encoding": prepared.get("encoding"),
        }
    ), status_code


@bp.post("/messages")
def send_message():
    config = current_app.config["NUMERALOOP"]
    pool = current_pool()
    body = json_body()
    text = body.get("body") or ""
    if not isinstance(text, str):
        raise ApiError(422, "invalid_field", "'body' must be a string.", field="body")
    if len(text) > MAX_BODY:
        raise ApiError(422, "body_too_long", f"'body' is limited to {MAX_BODY} characters.", field="body")
    media = _media_urls(body)
    if not text.strip() and not media:
        raise ApiError(422, "empty_message", "Send a body, media, or both.", field="body")
    raw_to = field(body, "to", required=True, max_length=32)
    key = header("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= MAX_IDEMPOTENCY_KEY):
        raise ApiError(
            400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters."
        )
    info = count(text)

    with as_user(pool, g.claims) as conn:
        workspace_id, _ = workspaces.resolve(conn, workspace_param(body))
        sender = _from_number(conn, workspace_id, body)
    to = normalise_recipient(raw_to, phones.region_of(sender["e164"]))
    # Refusals are the API's by errors.SQLSTATE_ERRORS: an opted-out recipient is 409 recipient_opted_out,
    # the period's monthly messages used up is 402 plan_limit_reached; either way nothing reaches Twilio.
    with as_service(pool) as conn:
        prepared = conn.execute(
            "select private.prepare_outbound_message(%s, %s, %s, %s, %s, %s, %s, %s, %s) as r",
            (workspace_id, g.user_id, sender["id"], to, text, media, info.segments, info.encoding, key),
        ).fetchone()["r"]
    prepared.update(num_segments=info.segments, encoding=info.encoding)
    if prepared.get("replayed"):
        return _view(prepared, 200)

    try:
        creds = credentials.require_for_workspace(pool, config, workspace_id)
    except ApiError as exc:
        _fail(pool, prepared["message_id"], None, exc.message)
        raise

    options = {
        "to": to,
        "from_": sender["e164"],
        "status_callback": webhook_urls.message_status(config.public_base_url),
    }
    if text:
        options["body"] = text
    if media:
        options["media_url"] = media
    try:
        with twilio_call("send the message"):
            sent = client_for(creds, config).api.v2010.accounts(creds.account_sid).messages.create(**options)
    except ApiError as exc:
        twilio_code = exc.extra.get("twilio_code")
        _fail(pool, prepared["message_id"], twilio_code, exc.message)
        if twilio_code == 21610:
            raise ApiError(
                409,
                "recipient_opted_out",
                "Twilio reports this recipient has unsubscribed (21610); recorded as an opt-out.",
                twilio_code=21610,
            ) from None
        raise
    with as_service(pool) as conn:
        conn.execute(
            "select private.mark_message_submitted(%s, %s, %s)",
            (prepared["message_id"], sent.sid, str(sent.status or "queued")),
        )
        row = conn.execute(
            "select status, twilio_sid from public.messages where id = %s", (prepared["message_id"],)
        ).fetchone()
    prepared.update(status=row["status"], twilio_sid=row["twilio_sid"])
    log.info("sent %s for workspace %s (%d segment(s), %s)", sent.sid, workspace_id, info.segments, info.encoding)
    return _view(prepared, 201)


def _fail(pool, message_id: str, code: int | None, message: str) -> None:
    with as_service(pool) as conn:
        conn.execute("select private.mark_message_failed(%s, %s, %s)", (message_id, code, message[:500]))
