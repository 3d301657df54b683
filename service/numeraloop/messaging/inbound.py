"""POST /twilio/messaging/inbound: an SMS or MMS arrives at one of a workspace's numbers.

Signature first (403 otherwise), then one SQL call does the rest atomically and
idempotently on MessageSid: contact upsert, threading, media, unread counts, opt-out
keywords, keyword triggers, auto-replies, and queueing outbound webhooks. The answer is
TwiML carrying any replies; nothing slow happens inside Twilio's 15-second budget
(outbound webhooks are delivered by the worker).
"""

from __future__ import annotations

import json
import logging
import re

import psycopg
from flask import Blueprint, Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from ..db import as_service, current_pool
from ..errors import ApiError
from ..twilio import webhook_urls
from ..twilio.signature import WebhookContext, verify

bp = Blueprint("messaging_inbound", __name__)

log = logging.getLogger(__name__)
MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-f]{32}\Z")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-f]{32}\Z")
# The schema's limits (supabase/migrations/20261128002200_messaging.sql), so a signed request
# past them is a 400 here rather than a check constraint's 500: messages.num_media between 0 and
# 10, message_media.url and content_type at most 2000 and 200 characters, messages.body at most
# 10000, messages.num_segments an integer >= 0.
MAX_MEDIA = 10
MAX_MEDIA_URL = 2000
MAX_MEDIA_CONTENT_TYPE = 200
MAX_BODY = 10000
MAX_NUM_SEGMENTS = 2**31 - 1


def parse_media(form) -> list[dict]:
    try:
        count = int(form.get("NumMedia", "0") or 0)
    except ValueError:
        raise ApiError(400, "invalid_num_media", "NumMedia must be a number.") from None
    if not 0 <= count <= MAX_MEDIA:
        raise ApiError(400, "invalid_num_media", f"NumMedia must be between 0 and {MAX_MEDIA}.")
    media = []
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        if not url or not url.startswith(("https://", "http://")):
            raise ApiError(400, "invalid_media", f"MediaUrl{i} is missing or not a URL.")
        if len(url) > MAX_MEDIA_URL:
            raise ApiError(400, "invalid_media", f"MediaUrl{i} is longer than {MAX_MEDIA_URL} characters.")
        content_type = form.get(f"MediaContentType{i}") or "application/octet-stream"
        if len(content_type) > MAX_MEDIA_CONTENT_TYPE:
            raise ApiError(
                400, "invalid_media", f"MediaContentType{i} is longer than {MAX_MEDIA_CONTENT_TYPE} characters."
            )
        media.append({"url": url, "content_type": content_type})
    return media


def parse_segments(form) -> int:
    try:
        segments = int(form.get("NumSegments", "1") or 1)
    except ValueError:
        return 1
    if not 0 <= segments <= MAX_NUM_SEGMENTS:
        raise ApiError(400, "invalid_num_segments", "NumSegments must be a count of segments.")
    return segments


def _verified(form) -> WebhookContext:
    """The number's workspace; for a number of a Messaging Service that NumeraLoop does not list (Twilio
    chose it from the pool, or it joined the pool at Twilio since), the workspace whose connected account
    signed the request and sent through that service: the text is stored there, never refused."""
    try:
        return verify("number", form.get("To", ""), form.get("AccountSid"))
    except ApiError:
        service_sid = form.get("MessagingServiceSid", "")
        if not MESSAGING_SERVICE_SID.match(service_sid):
            raise
    ctx = verify("account", form.get("AccountSid", ""), form.get("AccountSid"))
    with as_service(current_pool()) as conn:
        number_id = conn.execute(
            "select private.messaging_service_inbound_number(%s, %s, %s) as id",
            (ctx.workspace_id, service_sid, form.get("To")),
        ).fetchone()["id"]
    if number_id is None:
        raise ApiError(403, "invalid_signature", "Missing or invalid X-Twilio-Signature.")
    return WebhookContext(ctx.workspace_id, ctx.account_sid, str(number_id))


@bp.post("/messaging/inbound")
def inbound_message():
    form = request.form
    ctx = _verified(form)
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    sender = form.get("From", "")
    if not MESSAGE_SID.match(sid) or not sender:
        raise ApiError(400, "invalid_message", "MessageSid and From are required.")
    body = form.get("Body", "")
    if len(body) > MAX_BODY:
        raise ApiError(400, "body_too_long", f"Body is longer than {MAX_BODY} characters.")
    media = parse_media(form)
    segments = parse_segments(form)

    try:
        with as_service(current_pool()) as conn:
            result = conn.execute(
                "select private.receive_inbound_message(%s, %s, %s, %s, %s, %s, %s, %s::jsonb) as r",
                (ctx.workspace_id, ctx.phone_number_id, sid, sender, form.get("To"), body, segments, json.dumps(media)),
            ).fetchone()["r"]
    except (psycopg.errors.InvalidParameterValue, psycopg.errors.UniqueViolation) as exc:
        # A signed request the database refuses as data (a sender that is not a phone number,
        # a MessageSid reused by another message): say so, with Twilio's request id in the log.
        log.warning("inbound %s refused: %s", sid, exc.diag.message_primary)
        raise ApiError(400, "invalid_message", exc.diag.message_primary or "The message was refused.") from None

    twiml = MessagingResponse()
    if not result.get("duplicate"):
        base = current_app.config["NUMERALOOP"].public_base_url
        for reply in result.get("replies") or []:
            # The reply's own status callbacks find its row through message_id.
            twiml.message(
                reply["body"], action=webhook_urls.message_status(base, message_id=reply["message_id"]), method="POST"
            )
    log.info(
        "inbound %s for workspace %s: %s",
        sid,
        ctx.workspace_id,
        "duplicate" if result.get("duplicate") else f"{len(result.get('replies') or [])} replies",
    )
    return Response(str(twiml), mimetype="text/xml")
