"""The control API under /_sandbox/: how tests and developers arrange and observe the sandbox.

JSON in and out, no authentication: it is a local tool and the server binds to
127.0.0.1. Errors follow the service's shape, `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import dataclasses

from flask import Blueprint, current_app, jsonify, request

from ..http_server import ControlError, install_control_errors
from . import ids, inbound, resources
from .state import Fault, Recording, Scenario, TokenBucket
from .webhooks import call_webhook

bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


install_control_errors(bp)


def sandbox():
    return current_app.extensions["numeraloop_local.twilio_sandbox"]


def _body() -> dict:
    data = request.get_json(silent=True)
    if data is None and request.content_length:
        raise ControlError(400, "invalid_json", "the body must be a JSON object")
    return data or {}


def _require(data: dict, *names: str) -> None:
    missing = [n for n in names if not data.get(n)]
    if missing:
        raise ControlError(400, "missing", f"required: {', '.join(missing)}")


def _account(sid: str):
    account = sandbox().state.accounts.get(sid)
    if account is None:
        raise ControlError(404, "unknown_account", f"no sandbox account {sid}")
    return account


def _number(value: str) -> str:
    if not ids.is_e164(value):
        raise ControlError(400, "invalid_number", f"{value!r} is not an E.164 number")
    return value


@bp.get("/health")
def health():
    return jsonify({"ok": True})


# -- accounts and numbers ------------------------------------------------------------------
@bp.post("/accounts")
def create_account():
    data = _body()
    account = sandbox().state.create_account(data.get("sid"), data.get("auth_token"), data.get("friendly_name"))
    return jsonify({"sid": account.sid, "auth_token": account.auth_token, "friendly_name": account.friendly_name}), 201


@bp.get("/accounts")
def list_accounts():
    with sandbox().state.lock:
        accounts = list(sandbox().state.accounts.values())
    return jsonify([{"sid": a.sid, "auth_token": a.auth_token, "friendly_name": a.friendly_name} for a in accounts])


@bp.post("/accounts/<sid>/numbers")
def add_number(sid):
    data = _body()
    _require(data, "phone_number")
    _account(sid)
    settings = {
        k: data[k]
        for k in (
            "sms_url",
            "sms_method",
            "voice_url",
            "voice_method",
            "status_callback",
            "status_callback_method",
            "friendly_name",
        )
        if data.get(k)
    }
    try:
        number = sandbox().state.add_number(sid, _number(data["phone_number"]), data.get("type", "local"), **settings)
    except ValueError as exc:
        raise ControlError(409, "number_owned", str(exc)) from None
    return jsonify(resources.incoming_phone_number(number)), 201


# -- opt-outs, scenarios, limits, faults ----------------------------------------------------
@bp.get("/accounts/<sid>/unsubscribed")
def list_unsubscribed(sid):
    _account(sid)
    with sandbox().state.lock:
        return jsonify(sorted(sandbox().state.unsubscribed.get(sid, set())))


@bp.post("/accounts/<sid>/unsubscribed")
def unsubscribe(sid):
    data = _body()
    _require(data, "number")
    _account(sid)
    with sandbox().state.lock:
        sandbox().state.unsubscribed[sid].add(_number(data["number"]))
    return jsonify({"number": data["number"], "unsubscribed": True}), 201


@bp.delete("/accounts/<sid>/unsubscribed/<number>")
def resubscribe(sid, number):
    _account(sid)
    with sandbox().state.lock:
        sandbox().state.unsubscribed[sid].discard(number)
    return "", 204


@bp.put("/scenarios/<number>")
def set_number_scenario(number):
    data = _body()
    scenario = Scenario(data.get("scenario", "delivered"), data.get("error_code"))
    with sandbox().state.lock:
        sandbox().state.number_scenarios[_number(number)] = scenario
    return jsonify({"number": number, **dataclasses.asdict(scenario)})


@bp.delete("/scenarios/<number>")
def clear_number_scenario(number):
    with sandbox().state.lock:
        sandbox().state.number_scenarios.pop(number, None)
    return "", 204


@bp.post("/accounts/<sid>/next_scenarios")
def queue_scenarios(sid):
    """The next `count` messages this account creates play out this scenario (whatever their To)."""
    data = _body()
    _account(sid)
    scenario = Scenario(data.get("scenario", "delivered"), data.get("error_code"))
    with sandbox().state.lock:
        sandbox().state.next_scenarios[sid].extend([scenario] * int(data.get("count", 1)))
        queued = len(sandbox().state.next_scenarios[sid])
    return jsonify({"queued": queued}), 201


@bp.put("/accounts/<sid>/rate_limit")
def set_rate_limit(sid):
    data = _body()
    _account(sid)
    with sandbox().state.lock:
        if data.get("per_second") is None:
            sandbox().state.rate_limits.pop(sid, None)
        else:
            sandbox().state.rate_limits[sid] = TokenBucket(float(data["per_second"]), data.get("burst"))
    return jsonify({"per_second": data.get("per_second"), "burst": data.get("burst")})


@bp.post("/accounts/<sid>/faults")
def add_fault(sid):
    data = _body()
    _account(sid)
    allowed = {f.name for f in dataclasses.fields(Fault)} | {"times"}
    unknown = set(data) - allowed
    if unknown:
        raise ControlError(400, "unknown_field", f"unknown fault fields {sorted(unknown)}")
    times = data.pop("times", data.pop("remaining", None))
    fault = Fault(**data, remaining=times)
    with sandbox().state.lock:
        sandbox().state.faults[sid].append(fault)
    return jsonify(dataclasses.asdict(fault)), 201


@bp.delete("/accounts/<sid>/faults")
def clear_faults(sid):
    with sandbox().state.lock:
        sandbox().state.faults.pop(sid, None)
    return "", 204


# -- inbound traffic ------------------------------------------------------------------------
@bp.post("/inbound/sms")
def inject_sms():
    data = _body()
    _require(data, "from", "to")
    media = list(data.get("media") or []) + [{"url": u} for u in data.get("media_urls") or []]
    try:
        result = inbound.inject_sms(
            sandbox(),
            _number(data["from"]),
            _number(data["to"]),
            data.get("body", ""),
            media,
            data.get("messaging_service_sid"),
        )
    except inbound.UnknownNumber as exc:
        raise ControlError(404, "unknown_number", f"{exc} is not a number any sandbox account owns") from None
    return jsonify(result), 502 if result.get("error") and result.get("url") else 200


@bp.post("/inbound/call")
def inject_call():
    data = _body()
    _require(data, "from", "to")
    try:
        result = inbound.inject_call(sandbox(), _number(data["from"]), _number(data["to"]), data.get("duration"))
    except inbound.UnknownNumber as exc:
        raise ControlError(404, "unknown_number", f"{exc} is not a number any sandbox account owns") from None
    return jsonify(result), 502 if result.get("error") and result.get("url") else 200


@bp.post("/calls/<call_sid>/recordings")
def record_call(call_sid):
    """The caller leaves a message: the call gets a completed recording, and with `action` (the
    <Record action> URL the application answered) that URL gets Twilio's signed callback with
    RecordingSid, RecordingUrl and RecordingDuration; answers the recording and the callback's result."""
    data = _body()
    duration = int(data.get("duration", 5))
    state = sandbox().state
    with state.lock:
        call = state.calls.get(call_sid)
        if call is None:
            raise ControlError(404, "unknown_call", f"no sandbox call {call_sid}")
        account = state.accounts[call.account_sid]
        stamp = ids.now()
        recording = Recording(ids.new_sid("RE"), account.sid, call.sid, duration, stamp, stamp)
        state.recordings[recording.sid] = recording
        body = resources.recording(recording)
    answer = {"recording": body}
    if data.get("action"):
        params = {
            "AccountSid": account.sid,
            "ApiVersion": ids.API_VERSION,
            "CallSid": call.sid,
            "CallStatus": "in-progress",
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
            "RecordingSid": recording.sid,
            "RecordingUrl": body["media_url"],
            "RecordingDuration": str(duration),
            "Digits": "hangup",
        }
        answer["webhook"] = call_webhook(
            data["action"], params, account.auth_token, "POST", sandbox().settings.webhook_timeout
        )
    return jsonify(answer), 201


@bp.get("/recordings")
def list_recordings():
    """Every recording, deleted ones included (status `deleted`), optionally of one account (?account_sid=)."""
    wanted = request.args.get("account_sid")
    with sandbox().state.lock:
        return jsonify(
            [resources.recording(r) for r in sandbox().state.recordings.values() if wanted in (None, r.account_sid)]
        )


# -- what happened ---------------------------------------------------------------------------
@bp.get("/messages")
def list_messages():
    """Every message (outbound and inbound) with the exact parameters it was created with."""
    filters = {k: request.args[k] for k in ("account_sid", "to", "from", "direction", "status") if k in request.args}
    with sandbox().state.lock:
        out = []
        for m in sandbox().state.messages.values():
            row = {
                **resources.message(m),
                "media_urls": m.media_urls,
                "scenario": m.scenario,
                "status_callback": m.status_callback,
                "params": m.params,
            }
            if all(str(row.get(k)) == v for k, v in filters.items()):
                out.append(row)
    return jsonify(out)


@bp.get("/accounts/<sid>/sent")
def sent_summary(sid):
    """What an account sent from one number (?from=), summed in the sandbox: messages, distinct
    recipients (fewer than messages means someone was texted twice) and segments per second of
    arrival, the carriers' meter (benchmarks read this instead of listing every message)."""
    _account(sid)
    sender = request.args.get("from")
    with sandbox().state.lock:
        sent = [
            m
            for m in sandbox().state.messages.values()
            if m.account_sid == sid and m.direction == "outbound-api" and (sender is None or m.from_ == sender)
        ]
        per_second: dict[int, int] = {}
        for m in sent:
            second = int(m.received_at)
            per_second[second] = per_second.get(second, 0) + resources.num_segments(m.body)
        return jsonify(
            {
                "messages": len(sent),
                "recipients": len({m.to for m in sent}),
                "segments": sum(per_second.values()),
                "segments_per_second": [[s, n] for s, n in sorted(per_second.items())],
            }
        )


def _log(which: str, key: str | None = None):
    rows = sandbox().state.snapshot(which)
    if key and request.args.get(key):
        rows = [r for r in rows if r.get(key) == request.args[key]]
    return jsonify(rows)


@bp.get("/callbacks")
def list_callbacks():
    return _log("callbacks_log", "sid")


@bp.get("/webhooks")
def list_webhooks():
    return _log("webhooks_log", "kind")


@bp.get("/requests")
def list_requests():
    return _log("requests_log", "account_sid")


@bp.post("/wait_idle")
def wait_idle():
    timeout = float(_body().get("timeout", 10))
    return jsonify({"idle": sandbox().dispatcher.wait_idle(timeout)})


@bp.route("/settings", methods=["GET", "PUT"])
def settings():
    if request.method == "PUT":
        sandbox().update_settings(**_body())
    return jsonify(dataclasses.asdict(sandbox().settings))


@bp.post("/reset")
def reset():
    sandbox().reset()
    return jsonify({"reset": True})
