"""Outbound messages: Twilio's send-time checks, then a scripted delivery with status callbacks.

A created Message plays out on the dispatcher as a list of ticks, `step_delay` apart.
Each tick sets the stored status (what a fetch shows) and posts zero or more status
callbacks. Scenarios only change the script:

  delivered     queued -> sent -> delivered                (the default)
  undelivered   queued -> sent -> undelivered + ErrorCode  (default 30003)
  failed        queued -> failed + ErrorCode               (default 30008)
  duplicate     as delivered, every callback posted twice with the same idempotency token
  out_of_order  callbacks queued, delivered, sent (stored status still ends delivered)
  none          as delivered, but no callbacks at all

Callbacks of one message are posted strictly one after another (the next tick is
scheduled only when the previous one finished, retries included), so "in order" in the
default scenario is a guarantee, not a race.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import TYPE_CHECKING

from . import ids, services
from .errors import invalid_parameter
from .state import Account, Message, Scenario
from .webhooks import call_webhook

if TYPE_CHECKING:
    from .core import Sandbox

log = logging.getLogger("numeraloop_local.twilio_sandbox.messaging")

ERROR_MESSAGES = {
    21610: "Attempt to send to unsubscribed recipient",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}
DEFAULT_ERRORS = {"undelivered": 30003, "failed": 30008}
MAX_BODY = 1600
MAX_MEDIA = 10


def create(sandbox: Sandbox, account: Account, params: dict, raw: dict[str, list[str]]) -> Message:
    """Messages create: the same refusals, with the same codes, as Twilio."""
    state = sandbox.state
    to = params["To"]
    if not ids.is_e164(to):
        raise invalid_parameter(f"The 'To' number {to} is not a valid phone number.", 21211)
    body = params.get("Body", "")
    media = params.get("MediaUrl", [])
    if not body and not media:
        raise invalid_parameter("A text message body or media urls must be specified.", 21619)
    if len(body) > MAX_BODY:
        raise invalid_parameter("The concatenated message body exceeds the 1600 character limit.", 21617)
    if len(media) > MAX_MEDIA:
        raise invalid_parameter("The number of media files exceeds the allowed limit of 10.", 21623)
    service_sid = params.get("MessagingServiceSid")
    sender = params.get("From")

    with state.lock:
        if sender:
            if not ids.is_e164(sender):
                # Twilio also takes alphanumeric sender IDs and short codes; the sandbox sells neither.
                raise invalid_parameter(f"The 'From' number {sender} is not a valid phone number.", 21212)
            owned = state.number_by_e164(sender)
            if owned is None or owned.account_sid != account.sid:
                raise invalid_parameter(
                    f"The From phone number {sender} is not a valid, SMS-capable inbound phone number "
                    "or short code for your account.",
                    21606,
                )
        elif service_sid:
            # Twilio picks the sender from the service's pool (services.sender_for: sticky per recipient).
            sender = services.sender_for(state, account, service_sid, to)
        else:
            raise invalid_parameter("A 'From' phone number is required.", 21603)
        if to in state.unsubscribed.get(account.sid, ()):
            raise invalid_parameter("Attempt to send to unsubscribed recipient", 21610)

        scenario = state.scenario_for(account.sid, to, sandbox.settings.default_scenario)
        stamp = ids.now()
        message = Message(
            sid=ids.new_sid("MM" if media else "SM"),
            account_sid=account.sid,
            to=to,
            from_=sender,
            body=body,
            media_urls=list(media),
            direction="outbound-api",
            # With a Messaging Service, Twilio first answers "accepted", then queues.
            status="accepted" if service_sid else "queued",
            date_created=stamp,
            date_updated=stamp,
            messaging_service_sid=service_sid,
            status_callback=params.get("StatusCallback"),
            scenario=scenario.name,
            params=raw,
        )
        state.messages[message.sid] = message
    _schedule(sandbox, message.sid, plan(scenario), 0)
    return message


def plan(scenario: Scenario) -> list[tuple[str, int | None, list[str]]]:
    """The ticks of a delivery: (stored status, error code, statuses posted as callbacks)."""
    name = scenario.name
    if name in DEFAULT_ERRORS:
        code = scenario.error_code or DEFAULT_ERRORS[name]
        ticks = [("queued", None, ["queued"])]
        if name == "undelivered":
            ticks.append(("sent", None, ["sent"]))
        ticks.append((name, code, [name]))
        return ticks
    ticks = [("queued", None, ["queued"]), ("sent", None, ["sent"]), ("delivered", None, ["delivered"])]
    if name == "duplicate":
        return [(s, e, posted * 2) for s, e, posted in ticks]
    if name == "out_of_order":
        return [ticks[0], ("sent", None, ["delivered"]), ("delivered", None, ["sent"])]
    if name == "none":
        return [(s, e, []) for s, e, _ in ticks]
    return ticks


def _schedule(sandbox: Sandbox, sid: str, ticks: list, index: int) -> None:
    sandbox.dispatcher.schedule(sandbox.settings.step_delay, lambda: _tick(sandbox, sid, ticks, index))


def _tick(sandbox: Sandbox, sid: str, ticks: list, index: int) -> None:
    status, error_code, posted = ticks[index]
    state = sandbox.state
    with state.lock:
        message = state.messages.get(sid)
        account = state.accounts.get(message.account_sid) if message else None
        if message is None or account is None:
            return  # the sandbox was reset under us
        message.status = status
        message.date_updated = ids.now()
        if status in {"sent", "delivered", "undelivered"} and message.date_sent is None:
            message.date_sent = message.date_updated
        if error_code:
            message.error_code = error_code
            message.error_message = ERROR_MESSAGES.get(error_code, "Unknown error")
        url, token = message.status_callback, account.auth_token
        base = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": message.account_sid,
            "From": message.from_,
            "To": message.to,
            "ApiVersion": ids.API_VERSION,
        }
        if message.messaging_service_sid:
            base["MessagingServiceSid"] = message.messaging_service_sid
    if url:
        for callback_status in _pair_tokens(posted):
            params = {**base, "MessageStatus": callback_status[0], "SmsStatus": callback_status[0]}
            code = error_code if callback_status[0] == status else _error_for(ticks, callback_status[0])
            if code:
                params["ErrorCode"] = str(code)
            if callback_status[0] in {"delivered", "undelivered"}:
                params["RawDlrDoneDate"] = dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M")
            deliver_callback(
                sandbox, url, params, token, kind="message_status", sid=sid, idempotency_token=callback_status[1]
            )
    if index + 1 < len(ticks):
        _schedule(sandbox, sid, ticks, index + 1)


def _pair_tokens(statuses: list[str]) -> list[tuple[str, str]]:
    """A status posted twice (the duplicate scenario) is one event re-sent: same idempotency token."""
    tokens: dict[str, str] = {}
    return [(s, tokens.setdefault(s, str(uuid.uuid4()))) for s in statuses]


def _error_for(ticks: list, status: str) -> int | None:
    return next((e for s, e, _ in ticks if s == status), None)


def deliver_callback(
    sandbox: Sandbox,
    url: str,
    params: dict[str, str],
    auth_token: str,
    *,
    kind: str,
    sid: str,
    idempotency_token: str | None = None,
    method: str = "POST",
) -> dict:
    """Post one signed callback, retrying connection failures and 5xx a few times; record it.

    Like Twilio, a 4xx answer is final (the application looked and said no) and a
    receiver that is down is logged, never fatal.
    """
    settings = sandbox.settings
    record = {
        "kind": kind,
        "sid": sid,
        "url": url,
        "method": method,
        "params": params,
        "attempts": [],
        "delivered": False,
        "at": ids.now().isoformat(),
    }
    token = idempotency_token or str(uuid.uuid4())
    for attempt in range(settings.callback_attempts):
        result = call_webhook(url, params, auth_token, method, settings.callback_timeout, token)
        record["signature"] = result["signature"]
        record["attempts"].append({"status": result["status"], "error": result["error"]})
        if result["error"] is None and result["status"] < 500:
            record["delivered"] = 200 <= result["status"] < 300
            record["status"] = result["status"]
            break
        log.warning(
            "sandbox: %s callback to %s failed (attempt %d): %s",
            kind,
            url,
            attempt + 1,
            result["error"] or f"HTTP {result['status']}",
        )
        if attempt + 1 < settings.callback_attempts:
            time.sleep(settings.retry_backoff * (2**attempt))
    else:
        record["status"] = record["attempts"][-1]["status"]
    sandbox.state.log("callbacks_log", record)
    return record
