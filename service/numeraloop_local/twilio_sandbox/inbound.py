"""Inbound traffic: a text or a call arriving at an owned number, delivered to its webhook.

The request is the one Twilio makes (same parameter names, signed with the owning
account's auth token, sent with the number's configured method), and whatever the
application answers (status, headers, TwiML) is handed back to the caller and recorded.
Like Twilio's Advanced Opt-Out, an inbound STOP adds the sender to the account's
unsubscribed set (so a later send gets 21610) and START removes it; the keyword is
still forwarded to the application.
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING

from . import ids, services
from .messaging import deliver_callback
from .resources import num_segments
from .state import START_WORDS, STOP_WORDS, Call, Message
from .webhooks import call_webhook

if TYPE_CHECKING:
    from .core import Sandbox


class UnknownNumber(LookupError):
    """The destination is not a number any sandbox account owns."""


def _geo(prefix: str, number: str) -> dict[str, str]:
    """FromCountry/ToCountry etc.: present (possibly empty) as in Twilio's requests."""
    from .numbers import PLACES

    place = PLACES.get(number[2:5], {}) if number.startswith("+1") else {}
    return {
        f"{prefix}Country": ids.country_of(number) or "",
        f"{prefix}State": place.get("region") or "",
        f"{prefix}City": (place.get("locality") or "").upper(),
        f"{prefix}Zip": place.get("postal_code") or "",
    }


def inject_sms(
    sandbox: Sandbox,
    from_: str,
    to: str,
    body: str = "",
    media: list[dict] | None = None,
    messaging_service_sid: str | None = None,
) -> dict:
    """Deliver an inbound SMS/MMS; `media` is a list of {"url", "content_type"?}."""
    state = sandbox.state
    media = [{"url": m["url"], "content_type": m.get("content_type") or _guess_type(m["url"])} for m in media or []]
    with state.lock:
        number = state.number_by_e164(to)
        if number is None:
            raise UnknownNumber(to)
        account = state.accounts[number.account_sid]
        stamp = ids.now()
        message = Message(
            sid=ids.new_sid("MM" if media else "SM"),
            account_sid=account.sid,
            to=to,
            from_=from_,
            body=body,
            media_urls=[m["url"] for m in media],
            direction="inbound",
            status="received",
            date_created=stamp,
            date_updated=stamp,
            date_sent=stamp,
            messaging_service_sid=messaging_service_sid,
        )
        state.messages[message.sid] = message
        keyword = body.strip().upper()
        opt_out = None
        if keyword in STOP_WORDS:
            state.unsubscribed[account.sid].add(from_)
            opt_out = "STOP"
        elif keyword in START_WORDS:
            state.unsubscribed[account.sid].discard(from_)
            opt_out = "START"
        url = number.settings.get("sms_url")
        method = number.settings.get("sms_method", "POST")
        # A number in a Messaging Service's pool: the service's inbound URL answers, unless the
        # service defers to the number's own webhook.
        service = services.service_of_number(state, number)
        if service is not None and not service.settings.get("use_inbound_webhook_on_number", False):
            url = service.settings.get("inbound_request_url")
            method = service.settings.get("inbound_method", "POST")
            messaging_service_sid = messaging_service_sid or service.sid
        message.messaging_service_sid = messaging_service_sid

    params = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsMessageSid": message.sid,
        "AccountSid": account.sid,
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": str(len(media)),
        "NumSegments": str(num_segments(body)),
        "SmsStatus": "received",
        "ApiVersion": ids.API_VERSION,
        **_geo("From", from_),
        **_geo("To", to),
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if opt_out:
        params["OptOutType"] = opt_out
    for i, item in enumerate(media):
        params[f"MediaUrl{i}"] = item["url"]
        params[f"MediaContentType{i}"] = item["content_type"]
    return _deliver(sandbox, "sms", message.sid, url, method, params, account.auth_token)


def inject_call(sandbox: Sandbox, from_: str, to: str, duration: int | None = None) -> dict:
    """Ring an owned number: its VoiceUrl gets the inbound-call request and answers TwiML.

    With `duration`, the call then completes and, if the number has a StatusCallback,
    the `completed` call status callback (CallDuration) follows on the dispatcher.
    """
    state = sandbox.state
    with state.lock:
        number = state.number_by_e164(to)
        if number is None:
            raise UnknownNumber(to)
        account = state.accounts[number.account_sid]
        stamp = ids.now()
        call = Call(
            sid=ids.new_sid("CA"),
            account_sid=account.sid,
            to=to,
            from_=from_,
            direction="inbound",
            status="ringing",
            date_created=stamp,
            date_updated=stamp,
            phone_number_sid=number.sid,
        )
        state.calls[call.sid] = call
        url = number.settings.get("voice_url")
        method = number.settings.get("voice_method", "POST")
        status_url = number.settings.get("status_callback")
        status_method = number.settings.get("status_callback_method", "POST")

    params = {
        "AccountSid": account.sid,
        "ApiVersion": ids.API_VERSION,
        "CallSid": call.sid,
        "CallStatus": "ringing",
        "Called": to,
        "Caller": from_,
        "Direction": "inbound",
        "From": from_,
        "To": to,
    }
    for prefix, number_ in (("From", from_), ("To", to), ("Caller", from_), ("Called", to)):
        params.update(_geo(prefix, number_))
    result = _deliver(sandbox, "call", call.sid, url, method, params, account.auth_token)

    answered = result.get("status") is not None and 200 <= result["status"] < 300
    with state.lock:
        call.status = "in-progress" if answered else "failed"
        call.start_time = call.date_updated = ids.now()
        if answered and duration is not None:
            call.status, call.end_time, call.duration = "completed", ids.now(), str(duration)
    if answered and duration is not None and status_url:
        done = {
            **params,
            "CallStatus": "completed",
            "CallDuration": str(duration),
            "Duration": str(max(1, -(-duration // 60))),
            "Timestamp": ids.rfc2822(call.end_time),
        }
        sandbox.dispatcher.schedule(
            sandbox.settings.step_delay,
            lambda: deliver_callback(
                sandbox, status_url, done, account.auth_token, kind="call_status", sid=call.sid, method=status_method
            ),
        )
    return result


def _deliver(
    sandbox: Sandbox, kind: str, sid: str, url: str | None, method: str, params: dict[str, str], auth_token: str
) -> dict:
    key = "message_sid" if kind == "sms" else "call_sid"
    if not url:
        # Twilio stores the message/call and has nowhere to send it; say so plainly.
        record = {
            "kind": kind,
            key: sid,
            "url": None,
            "params": params,
            "status": None,
            "headers": {},
            "body": None,
            "error": "the number has no webhook URL configured",
        }
    else:
        record = {
            "kind": kind,
            key: sid,
            **call_webhook(url, params, auth_token, method, sandbox.settings.webhook_timeout),
        }
    record["at"] = ids.now().isoformat()
    sandbox.state.log("webhooks_log", record)
    return record


def _guess_type(url: str) -> str:
    return mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
