"""The Twilio 2010-04-01 REST API, the subset NumeraLoop calls.

Order of checks per request, as Twilio does it: credentials (401/20003), then any rate
limit or fault a test switched on (429/20429 ...), then the parameters against the
operation in `description` (400), then the resource's own rules. Every request is
recorded with its parameters and the status it got, for tests to inspect.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time

from flask import Blueprint, current_app, g, jsonify, request

from . import description, ids, messaging, numbers, resources
from .errors import TwilioApiError, authenticate_error, invalid_parameter, not_found
from .state import Account, ApiKey, Application
from .validation import validate_request

PREFIX = f"/{ids.API_VERSION}"
bp = Blueprint("twilio_rest", __name__, url_prefix=PREFIX)

# IncomingPhoneNumber/Application parameters stored under the resource's snake_case field.
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def sandbox():
    return current_app.extensions["numeraloop_local.twilio_sandbox"]


@bp.before_app_request
def _authenticate():
    """Runs for every path under /2010-04-01, matched or not: Twilio authenticates before 404."""
    if not request.path.startswith(PREFIX + "/"):
        return None
    g.twilio_account = None
    creds = request.authorization
    account = sandbox().state.authenticate(creds and creds.username, creds and creds.password)
    match = re.match(rf"^{PREFIX}/Accounts/([^/.]+)", request.path)
    if account is None or (match and match.group(1) != account.sid):
        # The credentials authenticate no account, or not the one in the URL.
        raise authenticate_error()
    g.twilio_account = account
    fault = sandbox().state.fault_for(account.sid, request.method, request.path)
    if fault is not None:
        if fault.delay:
            time.sleep(fault.delay)
        raise TwilioApiError(fault.status, fault.code, fault.message)
    return None


@bp.after_app_request
def _record(response):
    if request.path.startswith(PREFIX + "/"):
        account = g.get("twilio_account")
        sandbox().state.log(
            "requests_log",
            {
                "method": request.method,
                "path": request.path,
                "query": {k: request.args.getlist(k) for k in request.args},
                "form": {k: request.form.getlist(k) for k in request.form},
                "status": response.status_code,
                "account_sid": account.sid if account else None,
                "auth_username": request.authorization.username if request.authorization else None,
                "at": ids.now().isoformat(),
            },
        )
    return response


def operation(path: str):
    """Validate the request against the described operation, then call the view with parsed params."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**path_values):
            values = request.form if request.method == "POST" else request.args
            params = validate_request(description.operation(request.method, path), path_values, values)
            return view(g.twilio_account, params, **path_values)

        return wrapper

    return decorate


def _json(body: dict, status: int = 200):
    response = jsonify(body)
    response.status_code = status
    return response


# -- Accounts ------------------------------------------------------------------------------
@bp.get("/Accounts/<Sid>.json")
@operation("/2010-04-01/Accounts/{Sid}.json")
def fetch_account(account: Account, params, Sid):
    return _json(resources.account(account))


# -- IncomingPhoneNumbers ---------------------------------------------------------------------
_NUMBERS = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"
_NUMBER = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json"


def _owned_number(account: Account, sid: str):
    number = sandbox().state.numbers.get(sid)
    if number is None or number.account_sid != account.sid:
        raise not_found(request.path)
    return number


@bp.get("/Accounts/<AccountSid>/IncomingPhoneNumbers.json")
@operation(_NUMBERS)
def list_numbers(account: Account, params, AccountSid):
    state = sandbox().state
    wanted = params.get("PhoneNumber")
    with state.lock:
        found = [
            n
            for n in state.numbers_of(account.sid)
            if (not wanted or wanted in n.phone_number)
            and params.get("FriendlyName") in (None, n.friendly_name)
            and params.get("Origin") in (None, "twilio")
        ]
        found.sort(key=lambda n: n.date_created)
        page_no, size = params.get("Page", 0), params.get("PageSize", 50)
        chunk = [resources.incoming_phone_number(n) for n in found[page_no * size : (page_no + 1) * size]]
    query = {k: v for k, v in request.args.items() if k not in {"Page", "PageSize", "PageToken"}}
    return _json(resources.page(chunk, "incoming_phone_numbers", request.path, query, page_no, size, len(found)))


@bp.post("/Accounts/<AccountSid>/IncomingPhoneNumbers.json")
@operation(_NUMBERS)
def buy_number(account: Account, params, AccountSid):
    settings = {snake(k): v for k, v in params.items() if k not in {"PhoneNumber", "AreaCode"}}
    number = numbers.buy(sandbox().state, account.sid, params.get("PhoneNumber"), params.get("AreaCode"), settings)
    return _json(resources.incoming_phone_number(number), 201)


@bp.get("/Accounts/<AccountSid>/IncomingPhoneNumbers/<Sid>.json")
@operation(_NUMBER)
def fetch_number(account: Account, params, AccountSid, Sid):
    return _json(resources.incoming_phone_number(_owned_number(account, Sid)))


@bp.post("/Accounts/<AccountSid>/IncomingPhoneNumbers/<Sid>.json")
@operation(_NUMBER)
def update_number(account: Account, params, AccountSid, Sid):
    state = sandbox().state
    with state.lock:
        number = _owned_number(account, Sid)
        target = params.pop("AccountSid", account.sid)
        if target not in state.accounts:
            raise invalid_parameter(f"AccountSid {target} is not an account you can transfer to", 20404)
        if "FriendlyName" in params:
            number.friendly_name = params.pop("FriendlyName")
        number.settings.update({snake(k): v for k, v in params.items()})
        number.account_sid = target
        number.date_updated = ids.now()
        body = resources.incoming_phone_number(number)
    return _json(body)


@bp.delete("/Accounts/<AccountSid>/IncomingPhoneNumbers/<Sid>.json")
@operation(_NUMBER)
def release_number(account: Account, params, AccountSid, Sid):
    state = sandbox().state
    with state.lock:
        del state.numbers[_owned_number(account, Sid).sid]
    return "", 204


# -- AvailablePhoneNumbers ------------------------------------------------------------------
def _available(account: Account, params, country: str, kind: str, resource: str):
    if country not in numbers.SUPPORTED_COUNTRIES:
        raise not_found(request.path)  # Twilio: a country it does not sell numbers in is a 404
    area = params.get("AreaCode")
    size = params.get("PageSize", 50)
    found = numbers.search(
        sandbox().state, country, kind, str(area) if area is not None else None, params.get("Contains"), size
    )
    items = [resources.available_number(resource, n, place) for n, place in found]
    query = {k: v for k, v in request.args.items() if k not in {"Page", "PageSize", "PageToken"}}
    # Search results are one page: Twilio returns "up to PageSize" matches, never a next page.
    return _json(resources.page(items, "available_phone_numbers", request.path, query, 0, size, len(items)))


@bp.get("/Accounts/<AccountSid>/AvailablePhoneNumbers/<CountryCode>/Local.json")
@operation("/2010-04-01/Accounts/{AccountSid}/AvailablePhoneNumbers/{CountryCode}/Local.json")
def available_local(account: Account, params, AccountSid, CountryCode):
    return _available(account, params, CountryCode, "local", "available_phone_number_local")


@bp.get("/Accounts/<AccountSid>/AvailablePhoneNumbers/<CountryCode>/TollFree.json")
@operation("/2010-04-01/Accounts/{AccountSid}/AvailablePhoneNumbers/{CountryCode}/TollFree.json")
def available_toll_free(account: Account, params, AccountSid, CountryCode):
    return _available(account, params, CountryCode, "toll-free", "available_phone_number_toll_free")


# -- Messages ------------------------------------------------------------------------------
@bp.post("/Accounts/<AccountSid>/Messages.json")
@operation("/2010-04-01/Accounts/{AccountSid}/Messages.json")
def create_message(account: Account, params, AccountSid):
    raw = {k: request.form.getlist(k) for k in request.form}
    message = messaging.create(sandbox(), account, params, raw)
    return _json(resources.message(message), 201)


@bp.get("/Accounts/<AccountSid>/Messages.json")
@operation("/2010-04-01/Accounts/{AccountSid}/Messages.json")
def list_messages(account: Account, params, AccountSid):
    state = sandbox().state
    to, sender = params.get("To"), params.get("From")
    on_day, before, after = (_date_filter(params.get(k)) for k in ("DateSent", "DateSent<", "DateSent>"))
    dated = on_day or before or after
    with state.lock:
        found = []
        for m in state.messages.values():
            if m.account_sid != account.sid or (to and m.to != to) or (sender and m.from_ != sender):
                continue
            if dated:
                if m.date_sent is None:
                    continue
                sent = m.date_sent.replace(microsecond=0)
                if (on_day and not _on(sent, on_day)) or (before and sent > before[0]) or (after and sent < after[0]):
                    continue
            found.append(m)
        found.sort(key=lambda m: m.date_created, reverse=True)
        page_no, size = params.get("Page", 0), params.get("PageSize", 50)
        chunk = [resources.message(m) for m in found[page_no * size : (page_no + 1) * size]]
    query = {k: v for k, v in request.args.items() if k not in {"Page", "PageSize", "PageToken"}}
    return _json(resources.page(chunk, "messages", request.path, query, page_no, size, len(found)))


def _date_filter(value: str | None):
    """(moment, whole_day): a date-time as given (UTC when it names no zone), whole_day for a bare date."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment, "T" not in value and " " not in value


def _on(sent: dt.datetime, when) -> bool:
    moment, whole_day = when
    return sent.date() == moment.astimezone(dt.UTC).date() if whole_day else sent == moment


@bp.get("/Accounts/<AccountSid>/Messages/<Sid>.json")
@operation("/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json")
def fetch_message(account: Account, params, AccountSid, Sid):
    state = sandbox().state
    with state.lock:
        message = state.messages.get(Sid)
        if message is None or message.account_sid != account.sid:
            raise not_found(request.path)
        return _json(resources.message(message))


# -- Calls ---------------------------------------------------------------------------------
@bp.get("/Accounts/<AccountSid>/Calls/<Sid>.json")
@operation("/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json")
def fetch_call(account: Account, params, AccountSid, Sid):
    state = sandbox().state
    with state.lock:
        call = state.calls.get(Sid)
        if call is None or call.account_sid != account.sid:
            raise not_found(request.path)
        return _json(resources.call(call))


# -- Recordings ------------------------------------------------------------------------------
_RECORDING = "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json"


def _owned_recording(account: Account, sid: str, include_deleted: bool = False):
    recording = sandbox().state.recordings.get(sid)
    if (
        recording is None
        or recording.account_sid != account.sid
        or (recording.status == "deleted" and not include_deleted)
    ):
        raise not_found(request.path)
    return recording


@bp.get("/Accounts/<AccountSid>/Recordings/<Sid>.json")
@operation(_RECORDING)
def fetch_recording(account: Account, params, AccountSid, Sid):
    with sandbox().state.lock:
        return _json(resources.recording(_owned_recording(account, Sid, params.get("IncludeSoftDeleted", False))))


@bp.delete("/Accounts/<AccountSid>/Recordings/<Sid>.json")
@operation(_RECORDING)
def delete_recording(account: Account, params, AccountSid, Sid):
    # The audio goes; Twilio keeps the metadata, as `deleted`, for 40 days (IncludeSoftDeleted).
    with sandbox().state.lock:
        recording = _owned_recording(account, Sid)
        recording.status, recording.date_updated = "deleted", ids.now()
    return "", 204


# -- Applications and Keys -------------------------------------------------------------------
@bp.post("/Accounts/<AccountSid>/Applications.json")
@operation("/2010-04-01/Accounts/{AccountSid}/Applications.json")
def create_application(account: Account, params, AccountSid):
    app = Application(
        ids.new_sid("AP"),
        account.sid,
        params.pop("FriendlyName", None),
        ids.now(),
        {snake(k): v for k, v in params.items()},
    )
    with sandbox().state.lock:
        sandbox().state.applications[app.sid] = app
    return _json(resources.application(app), 201)


@bp.post("/Accounts/<AccountSid>/Keys.json")
@operation("/2010-04-01/Accounts/{AccountSid}/Keys.json")
def create_key(account: Account, params, AccountSid):
    key = ApiKey(ids.new_sid("SK"), account.sid, params.get("FriendlyName"), ids.new_secret(), ids.now())
    with sandbox().state.lock:
        sandbox().state.keys[key.sid] = key
    return _json(resources.new_key(key), 201)
