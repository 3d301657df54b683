"""Resources rendered as Twilio's JSON, shaped by the fields in `description.RESOURCES`.

Each function fills what the sandbox knows; `validation.shape` adds every other field as
null and rejects unknown ones, so responses carry exactly Twilio's keys.
"""

from __future__ import annotations

import math

from .description import PAGE
from .ids import API_VERSION, national_format, rfc2822
from .state import Account, ApiKey, Application, Call, Message, PhoneNumber, Recording
from .validation import shape

BASE = f"/{API_VERSION}/Accounts"
ACCOUNT_SUBRESOURCES = ("AvailablePhoneNumbers", "Calls", "IncomingPhoneNumbers", "Messages", "Applications", "Keys")
NUMBER_SETTINGS_DEFAULTS = {
    "sms_method": "POST",
    "sms_fallback_method": "POST",
    "voice_method": "POST",
    "voice_fallback_method": "POST",
    "status_callback_method": "POST",
    "voice_caller_id_lookup": False,
    "api_version": API_VERSION,
    "voice_receive_mode": "voice",
    "address_requirements": "none",
    "beta": False,
    "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
    "origin": "twilio",
    "emergency_status": "Inactive",
    "emergency_address_status": "unregistered",
    "status": "in-use",
}

# The 2010 API's snake_case keys for each resource's subresource collections.
_SNAKE = {
    "AvailablePhoneNumbers": "available_phone_numbers",
    "Calls": "calls",
    "IncomingPhoneNumbers": "incoming_phone_numbers",
    "Messages": "messages",
    "Applications": "applications",
    "Keys": "keys",
}

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


def num_segments(body: str) -> int:
    """SMS segments as carriers count them: 160/153 GSM-7 characters, 70/67 for UCS-2."""
    if not body:
        return 1
    single, multi = (160, 153) if all(ch in GSM7 for ch in body) else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / multi)


def account(a: Account) -> dict:
    uri = f"{BASE}/{a.sid}"
    return shape(
        "account",
        {
            "auth_token": a.auth_token,
            "date_created": rfc2822(a.date_created),
            "date_updated": rfc2822(a.date_created),
            "friendly_name": a.friendly_name,
            "owner_account_sid": a.sid,
            "sid": a.sid,
            "status": a.status,
            "subresource_uris": {_SNAKE[s]: f"{uri}/{s}.json" for s in ACCOUNT_SUBRESOURCES},
            "type": "Full",
            "uri": f"{uri}.json",
        },
    )


def incoming_phone_number(n: PhoneNumber) -> dict:
    values = {**NUMBER_SETTINGS_DEFAULTS, **n.settings}
    values.update(
        {
            "account_sid": n.account_sid,
            "date_created": rfc2822(n.date_created),
            "date_updated": rfc2822(n.date_updated),
            "friendly_name": n.friendly_name,
            "phone_number": n.phone_number,
            "sid": n.sid,
            "type": n.type,
            "uri": f"{BASE}/{n.account_sid}/IncomingPhoneNumbers/{n.sid}.json",
        }
    )
    return shape("incoming_phone_number", values)


def available_number(resource: str, number: str, place: dict) -> dict:
    return shape(
        resource,
        {
            "friendly_name": national_format(number),
            "phone_number": number,
            "lata": place.get("lata"),
            "locality": place.get("locality"),
            "rate_center": place.get("rate_center"),
            "latitude": place.get("latitude"),
            "longitude": place.get("longitude"),
            "region": place.get("region"),
            "postal_code": place.get("postal_code"),
            "iso_country": place["iso_country"],
            "address_requirements": "none",
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
        },
    )


def message(m: Message) -> dict:
    uri = f"{BASE}/{m.account_sid}/Messages/{m.sid}"
    return shape(
        "message",
        {
            "body": m.body,
            "num_segments": str(num_segments(m.body)),
            "direction": m.direction,
            "from": m.from_,
            "to": m.to,
            "date_updated": rfc2822(m.date_updated),
            "price": None,
            "error_message": m.error_message,
            "uri": f"{uri}.json",
            "account_sid": m.account_sid,
            "num_media": str(len(m.media_urls)),
            "status": m.status,
            "messaging_service_sid": m.messaging_service_sid,
            "sid": m.sid,
            "date_sent": rfc2822(m.date_sent),
            "date_created": rfc2822(m.date_created),
            "error_code": m.error_code,
            "price_unit": "USD",
            "api_version": API_VERSION,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        },
    )


def call(c: Call) -> dict:
    uri = f"{BASE}/{c.account_sid}/Calls/{c.sid}"
    return shape(
        "call",
        {
            "sid": c.sid,
            "date_created": rfc2822(c.date_created),
            "date_updated": rfc2822(c.date_updated),
            "account_sid": c.account_sid,
            "to": c.to,
            "to_formatted": national_format(c.to),
            "from": c.from_,
            "from_formatted": national_format(c.from_),
            "phone_number_sid": c.phone_number_sid,
            "status": c.status,
            "start_time": rfc2822(c.start_time),
            "end_time": rfc2822(c.end_time),
            "duration": c.duration,
            "price_unit": "USD",
            "direction": c.direction,
            "api_version": API_VERSION,
            "queue_time": "0",
            "uri": f"{uri}.json",
            "subresource_uris": {
                name: f"{uri}/{path}.json"
                for name, path in (
                    ("notifications", "Notifications"),
                    ("recordings", "Recordings"),
                    ("events", "Events"),
                )
            },
        },
    )


def recording(r: Recording) -> dict:
    uri = f"{BASE}/{r.account_sid}/Recordings/{r.sid}"
    return shape(
        "recording",
        {
            "account_sid": r.account_sid,
            "api_version": API_VERSION,
            "call_sid": r.call_sid,
            "date_created": rfc2822(r.date_created),
            "date_updated": rfc2822(r.date_updated),
            "start_time": rfc2822(r.date_created),
            "duration": str(r.duration),
            "sid": r.sid,
            "price_unit": "USD",
            "status": r.status,
            "channels": 1,
            "source": "RecordVerb",
            "uri": f"{uri}.json",
            "subresource_uris": {
                "add_on_results": f"{uri}/AddOnResults.json",
                "transcriptions": f"{uri}/Transcriptions.json",
            },
            "media_url": None if r.status == "deleted" else f"https://api.twilio.com{uri}",
        },
    )


def application(a: Application) -> dict:
    values = {
        "sms_method": "POST",
        "sms_fallback_method": "POST",
        "voice_method": "POST",
        "voice_fallback_method": "POST",
        "status_callback_method": "POST",
        "voice_caller_id_lookup": False,
        "public_application_connect_enabled": False,
        "api_version": API_VERSION,
        **a.settings,
    }
    values.update(
        {
            "account_sid": a.account_sid,
            "date_created": rfc2822(a.date_created),
            "date_updated": rfc2822(a.date_created),
            "friendly_name": a.friendly_name,
            "sid": a.sid,
            "uri": f"{BASE}/{a.account_sid}/Applications/{a.sid}.json",
        }
    )
    return shape("application", values)


def new_key(k: ApiKey) -> dict:
    # The only response that ever carries the secret; Twilio shows it once, at creation.
    return shape(
        "new_key",
        {
            "sid": k.sid,
            "friendly_name": k.friendly_name,
            "date_created": rfc2822(k.date_created),
            "date_updated": rfc2822(k.date_created),
            "secret": k.secret,
        },
    )


def page(items: list[dict], key: str, path: str, query: dict, page_no: int, page_size: int, total: int) -> dict:
    """Twilio's paging envelope (Page/PageSize; uris relative to https://api.twilio.com)."""
    from urllib.parse import urlencode

    def uri(p: int) -> str:
        return f"{path}?{urlencode({**query, 'PageSize': page_size, 'Page': p})}"

    start = page_no * page_size
    has_next = start + len(items) < total
    envelope = {
        "end": start + len(items) - 1 if items else start,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page_no + 1) if has_next else None,
        "page": page_no,
        "page_size": page_size,
        "previous_page_uri": uri(page_no - 1) if page_no > 0 else None,
        "start": start,
        "uri": uri(page_no),
    }
    return {**{name: envelope[name] for name in PAGE}, key: items}
