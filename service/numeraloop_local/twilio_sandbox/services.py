"""Messaging Services (Twilio's Messaging API v1, messaging.twilio.com/v1): a pool of an account's
numbers a message is sent from when it names a MessagingServiceSid instead of a From.

Twilio picks the sender from the pool: with sticky sender on (the default), the number that last
texted that recipient, while it is still in the pool; otherwise the next one in turn. Inbound
texts to a pool number go to the service's InboundRequestUrl (with MessagingServiceSid), unless
the service says to use the number's own webhook (UseInboundWebhookOnNumber).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import request

from . import ids
from .errors import TwilioApiError, invalid_parameter, not_found
from .validation import shape

if TYPE_CHECKING:
    from .state import Account, SandboxState

V1 = "/v1"


@dataclass
class MessagingService:
    sid: str
    account_sid: str
    friendly_name: str
    date_created: dt.datetime
    date_updated: dt.datetime
    # snake_case resource fields set through the API (inbound_request_url, sticky_sender, ...).
    settings: dict = field(default_factory=dict)
    number_sids: list[str] = field(default_factory=list)  # the pool, in the order numbers were added
    turn: itertools.count = field(default_factory=itertools.count)

    @property
    def sticky(self) -> bool:
        return self.settings.get("sticky_sender", True)


SERVICE_DEFAULTS = {
    "inbound_method": "POST",
    "fallback_method": "POST",
    "sticky_sender": True,
    "mms_converter": True,
    "smart_encoding": True,
    "scan_message_content": "inherit",
    "fallback_to_long_code": False,
    "area_code_geomatch": True,
    "synchronous_validation": False,
    "validity_period": 36000,
    "usecase": "undeclared",
    "us_app_to_person_registered": False,
    "use_inbound_webhook_on_number": False,
}


def iso(value: dt.datetime) -> str:
    """The v1 APIs' dates: ISO 8601 in UTC."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_resource(s: MessagingService) -> dict:
    url = f"https://messaging.twilio.com{V1}/Services/{s.sid}"
    values = {**SERVICE_DEFAULTS, **s.settings}
    values.update(
        {
            "sid": s.sid,
            "account_sid": s.account_sid,
            "friendly_name": s.friendly_name,
            "date_created": iso(s.date_created),
            "date_updated": iso(s.date_updated),
            "url": url,
            "links": {
                "phone_numbers": f"{url}/PhoneNumbers",
                "short_codes": f"{url}/ShortCodes",
                "alpha_senders": f"{url}/AlphaSenders",
                "messages": f"{url}/Messages",
                "us_app_to_person": f"{url}/Compliance/Usa2p",
                "us_app_to_person_usecases": f"{url}/Compliance/Usa2p/Usecases",
                "channel_senders": f"{url}/ChannelSenders",
            },
        }
    )
    return shape("messaging_service", values)


def pool_number_resource(s: MessagingService, number, added: dt.datetime) -> dict:
    return shape(
        "messaging_service_phone_number",
        {
            "sid": number.sid,
            "account_sid": s.account_sid,
            "service_sid": s.sid,
            "date_created": iso(added),
            "date_updated": iso(added),
            "phone_number": number.phone_number,
            "country_code": ids.country_of(number.phone_number) or "US",
            "capabilities": ["SMS", "MMS", "Voice"],
            "url": f"https://messaging.twilio.com{V1}/Services/{s.sid}/PhoneNumbers/{number.sid}",
        },
    )


def v1_page(items: list[dict], key: str, page_no: int, size: int, total: int) -> dict:
    """The v1 APIs' paging envelope: the list, then `meta` (absolute URLs on messaging.twilio.com)."""
    base = f"https://messaging.twilio.com{request.path}"

    def url(p: int) -> str:
        return f"{base}?PageSize={size}&Page={p}"

    return {
        key: items,
        "meta": {
            "first_page_url": url(0),
            "key": key,
            "next_page_url": url(page_no + 1) if (page_no + 1) * size < total else None,
            "page": page_no,
            "page_size": size,
            "previous_page_url": url(page_no - 1) if page_no > 0 else None,
            "url": url(page_no),
        },
    }


def owned(state: SandboxState, account: Account, sid: str) -> MessagingService:
    service = state.services.get(sid)
    if service is None or service.account_sid != account.sid:
        raise not_found(request.path)
    return service


def sender_for(state: SandboxState, account: Account, service_sid: str, to: str) -> str:
    """The pool number a message to `to` goes from (call with state.lock held)."""
    service = state.services.get(service_sid)
    if service is None or service.account_sid != account.sid:
        raise invalid_parameter(f"The Messaging Service Sid {service_sid} is invalid.", 21701)
    pool = [state.numbers[s] for s in service.number_sids if s in state.numbers]
    if not pool:
        raise TwilioApiError(400, 21704, "The Messaging Service contains no phone numbers")
    if service.sticky:
        previous = state.sticky_senders.get((service.sid, to))
        if previous in {n.phone_number for n in pool}:
            return previous
    chosen = pool[next(service.turn) % len(pool)].phone_number
    state.sticky_senders[(service.sid, to)] = chosen
    return chosen


def service_of_number(state: SandboxState, number) -> MessagingService | None:
    """The Messaging Service whose pool holds this number, if any (call with state.lock held)."""
    return next((s for s in state.services.values() if number.sid in s.number_sids), None)


# -- the v1 REST routes -----------------------------------------------------------------------------
from flask import Blueprint, current_app, g, jsonify  # noqa: E402

from . import description  # noqa: E402
from .errors import authenticate_error  # noqa: E402
from .validation import validate_request  # noqa: E402

bp = Blueprint("twilio_messaging_v1", __name__, url_prefix=V1)


def _sandbox():
    return current_app.extensions["numeraloop_local.twilio_sandbox"]


@bp.before_request
def _authenticate():
    creds = request.authorization
    account = _sandbox().state.authenticate(creds and creds.username, creds and creds.password)
    if account is None:
        raise authenticate_error()
    g.twilio_account = account
    fault = _sandbox().state.fault_for(account.sid, request.method, request.path)
    if fault is not None:
        raise TwilioApiError(fault.status, fault.code, fault.message)


def _params(path: str, path_values: dict) -> dict:
    values = request.form if request.method == "POST" else request.args
    return validate_request(description.operation(request.method, path), path_values, values)


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _answer(body: dict, status: int = 200):
    response = jsonify(body)
    response.status_code = status
    return response


@bp.post("/Services")
def create_service():
    params = _params(f"{V1}/Services", {})
    state = _sandbox().state
    stamp = ids.now()
    service = MessagingService(
        ids.new_sid("MG"),
        g.twilio_account.sid,
        params.pop("FriendlyName"),
        stamp,
        stamp,
        {_snake(k): v for k, v in params.items()},
    )
    with state.lock:
        state.services[service.sid] = service
        body = service_resource(service)
    return _answer(body, 201)


@bp.get("/Services/<Sid>")
def fetch_service(Sid):
    _params(f"{V1}/Services/{{Sid}}", {"Sid": Sid})
    state = _sandbox().state
    with state.lock:
        return _answer(service_resource(owned(state, g.twilio_account, Sid)))


@bp.post("/Services/<Sid>")
def update_service(Sid):
    params = _params(f"{V1}/Services/{{Sid}}", {"Sid": Sid})
    state = _sandbox().state
    with state.lock:
        service = owned(state, g.twilio_account, Sid)
        if "FriendlyName" in params:
            service.friendly_name = params.pop("FriendlyName")
        service.settings.update({_snake(k): v for k, v in params.items()})
        service.date_updated = ids.now()
        return _answer(service_resource(service))


@bp.post("/Services/<ServiceSid>/PhoneNumbers")
def add_pool_number(ServiceSid):
    params = _params(f"{V1}/Services/{{ServiceSid}}/PhoneNumbers", {"ServiceSid": ServiceSid})
    state = _sandbox().state
    with state.lock:
        service = owned(state, g.twilio_account, ServiceSid)
        number = state.numbers.get(params["PhoneNumberSid"])
        if number is None or number.account_sid != g.twilio_account.sid:
            raise invalid_parameter(f"PhoneNumberSid {params['PhoneNumberSid']} is not a number of this account", 21710)
        if any(number.sid in s.number_sids for s in state.services.values()):
            raise invalid_parameter("Phone Number or Short Code is already in the Messaging Service.", 21710)
        service.number_sids.append(number.sid)
        state.pool_added[number.sid] = ids.now()
        return _answer(pool_number_resource(service, number, state.pool_added[number.sid]), 201)


@bp.get("/Services/<ServiceSid>/PhoneNumbers")
def list_pool_numbers(ServiceSid):
    params = _params(f"{V1}/Services/{{ServiceSid}}/PhoneNumbers", {"ServiceSid": ServiceSid})
    state = _sandbox().state
    with state.lock:
        service = owned(state, g.twilio_account, ServiceSid)
        numbers = [state.numbers[s] for s in service.number_sids if s in state.numbers]
        page_no, size = params.get("Page", 0), params.get("PageSize", 50)
        items = [
            pool_number_resource(service, n, state.pool_added.get(n.sid, service.date_created))
            for n in numbers[page_no * size : (page_no + 1) * size]
        ]
        return _answer(v1_page(items, "phone_numbers", page_no, size, len(numbers)))


@bp.delete("/Services/<ServiceSid>/PhoneNumbers/<Sid>")
def remove_pool_number(ServiceSid, Sid):
    _params(f"{V1}/Services/{{ServiceSid}}/PhoneNumbers/{{Sid}}", {"ServiceSid": ServiceSid, "Sid": Sid})
    state = _sandbox().state
    with state.lock:
        service = owned(state, g.twilio_account, ServiceSid)
        if Sid not in service.number_sids:
            raise not_found(request.path)
        service.number_sids.remove(Sid)
    return "", 204
