"""Phone numbers at Twilio: search, buy, import, release or detach.

Twilio and the database are kept consistent by ordering each change so that a failure
half-way can be undone or finished:
  buy      plan check → Twilio purchase (webhooks set in the same call) → insert row; if the
           insert fails, the number is released again at Twilio before the error is returned.
  import   plan check for the numbers it adds → per number: point its webhooks at us → upsert
           row; a number that fails is reported and left as it was, the others still import.
The plan's phone-number limit is the database's (private.require_phone_number_room before
Twilio is asked, and a trigger on phone_numbers when the row is written): past it, 402
plan_limit_reached, and nothing is bought, changed at Twilio or stored.
  release  row marked 'releasing' (inbound traffic is refused from then on) → Twilio delete
           → 'released'; if Twilio refuses, the row goes back to 'active'. A number Twilio
           no longer has (404) is simply marked released.
  detach   webhooks cleared at Twilio → 'detached'; the number stays in the Twilio account.
"""

from __future__ import annotations

import json
import logging
import uuid

import phonenumbers
import psycopg
from flask import Blueprint, current_app, g, jsonify, request

from .. import audit, workspaces
from ..api.inputs import field, json_body
from ..db import as_service, as_user, current_pool
from ..errors import ApiError
from ..twilio import credentials, webhook_urls
from ..twilio.access import client_for, twilio_call

bp = Blueprint("numbers", __name__)

log = logging.getLogger(__name__)
PLAN_LIMIT = "P0402"  # the database's SQLSTATE for a plan limit (errors.SQLSTATE_ERRORS: 402 plan_limit_reached)


def _config():
    return current_app.config["NUMERALOOP"]


def _workspace_and_creds(body: dict | None, minimum_role: str):
    workspace_id, _ = workspaces.for_caller(body, minimum_role)
    return workspace_id, credentials.require_for_workspace(current_pool(), _config(), workspace_id)


def _number_view(row: dict) -> dict:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in row.items()}


def _number_type(twilio_number) -> str:
    try:
        parsed = phonenumbers.parse(twilio_number.phone_number)
        kind = phonenumbers.number_type(parsed)
    except phonenumbers.NumberParseException:
        return "other"
    if kind == phonenumbers.PhoneNumberType.TOLL_FREE:
        return "toll_free"
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        return "mobile"
    return "local"


def _capabilities(twilio_number) -> dict:
    caps = getattr(twilio_number, "capabilities", None) or {}
    return {k.lower(): bool(v) for k, v in dict(caps).items()}


@bp.get("/numbers/available")
def available_numbers():
    workspace_id, creds = _workspace_and_creds(None, "agent")
    country = (request.args.get("country") or "US").upper()
    if len(country) != 2 or not country.isalpha():
        raise ApiError(422, "invalid_country", "country must be a two-letter ISO code, e.g. US.")
    kind = request.args.get("type", "local")
    if kind not in ("local", "toll_free"):
        raise ApiError(422, "invalid_type", "type must be 'local' or 'toll_free'.")
    area_code = request.args.get("area_code") or None
    if area_code is not None and not (area_code.isdigit() and 2 <= len(area_code) <= 5):
        raise ApiError(422, "invalid_area_code", "area_code must be 2 to 5 digits.")
    contains = request.args.get("contains") or None
    if contains is not None and (len(contains) > 16 or not all(c.isalnum() or c in "*+" for c in contains)):
        raise ApiError(422, "invalid_contains", "contains may hold digits, letters and * only.")
    try:
        limit = max(1, min(int(request.args.get("limit", "20")), 50))
    except ValueError:
        raise ApiError(422, "invalid_limit", "limit must be a number.") from None

    client = client_for(creds, _config())
    country_ctx = client.api.v2010.accounts(creds.account_sid).available_phone_numbers(country)
    search = country_ctx.local if kind == "local" else country_ctx.toll_free
    options = {"limit": limit}
    if area_code:
        options["area_code"] = int(area_code)
    if contains:
        options["contains"] = contains
    with twilio_call("search for numbers"):
        found = search.list(**options)
    return jsonify(
        numbers=[
            {
                "phone_number": n.phone_number,
                "friendly_name": n.friendly_name,
                "locality": n.locality,
                "region": n.region,
                "iso_country": n.iso_country,
                "capabilities": dict(n.capabilities or {}),
            }
            for n in found
        ]
    )


def _require_number_room(workspace_id: str, adding: int = 1) -> None:
    """P0402 (answered as 402 plan_limit_reached) when the plan has no room for `adding` more numbers."""
    with as_service(current_pool()) as conn:
        conn.execute("select private.require_phone_number_room(%s, %s)", (workspace_id, adding))


@bp.post("/numbers")
def buy_number():
    body = json_body()
    workspace_id, creds = _workspace_and_creds(body, "admin")
    phone = field(body, "phone_number", required=True, max_length=20)
    try:
        parsed = phonenumbers.parse(phone, None)
        if not phonenumbers.is_possible_number(parsed):
            raise phonenumbers.NumberParseException(1, "not possible")
    except phonenumbers.NumberParseException:
        raise ApiError(422, "invalid_phone_number", "phone_number must be in E.164 form, e.g. +14155550100.") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    friendly = field(body, "friendly_name", max_length=64)
    _require_number_room(workspace_id)

    client = client_for(creds, _config())
    account = client.api.v2010.accounts(creds.account_sid)
    options = {"phone_number": e164, **webhook_urls.number_webhooks(_config().public_base_url)}
    if friendly:
        options["friendly_name"] = friendly
    with twilio_call("buy the number"):
        bought = account.incoming_phone_numbers.create(**options)

    try:
        with as_service(current_pool()) as conn:
            row = conn.execute(
                "insert into public.phone_numbers (workspace_id, twilio_account_id, twilio_sid, e164, friendly_name, "
                "capabilities, number_type) values (%s, %s, %s, %s, %s, %s, %s) returning *",
                (
                    workspace_id,
                    creds.twilio_account_id,
                    bought.sid,
                    bought.phone_number,
                    friendly or bought.friendly_name,
                    json.dumps(_capabilities(bought)),
                    _number_type(bought),
                ),
            ).fetchone()
            audit.record(
                conn,
                workspace_id=workspace_id,
                actor=g.user_id,
                action="number.buy",
                target_type="phone_number",
                target_id=bought.sid,
                details={"e164": bought.phone_number},
            )
    except Exception as exc:
        # Undo at Twilio so the account is not billed for a number NumeraLoop does not know about.
        over_the_limit = isinstance(exc, psycopg.Error) and exc.sqlstate == PLAN_LIMIT
        if over_the_limit:  # another purchase took the plan's last number since the check
            log.info("bought number %s is past the plan's limit; releasing it at Twilio", bought.sid)
        else:
            log.exception("storing bought number %s failed; releasing it at Twilio", bought.sid)
        try:
            account.incoming_phone_numbers(bought.sid).delete()
        except Exception:
            log.exception("could not release %s after a failed store; it needs an operator", bought.sid)
        if over_the_limit:
            raise
        raise ApiError(
            500, "number_not_stored", "The number could not be recorded, so the purchase was undone."
        ) from None
    return jsonify(_number_view(row)), 201


@bp.post("/numbers/import")
def import_numbers():
    body = json_body()
    workspace_id, creds = _workspace_and_creds(body, "admin")
    wanted = body.get("phone_numbers")
    if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(x, str) for x in wanted)):
        raise ApiError(422, "invalid_field", "phone_numbers must be a list of E.164 strings.", field="phone_numbers")

    client = client_for(creds, _config())
    account = client.api.v2010.accounts(creds.account_sid)
    with twilio_call("list the account's numbers"):
        owned = account.incoming_phone_numbers.list(limit=1000)
    if wanted:
        owned = [n for n in owned if n.phone_number in set(wanted)]

    with as_service(current_pool()) as conn:
        active = {
            r["e164"]: r["workspace_id"]
            for r in conn.execute(
                "select e164, workspace_id::text from public.phone_numbers where e164 = any(%s) and status = 'active'",
                ([n.phone_number for n in owned],),
            ).fetchall()
        }
    adding = sum(1 for n in owned if n.phone_number not in active)
    if adding:
        _require_number_room(workspace_id, adding)  # before any webhook is changed at Twilio

    imported, skipped = [], []
    for number in owned:
        taken = active.get(number.phone_number)
        if taken and taken != workspace_id:
            skipped.append({"phone_number": number.phone_number, "reason": "in use by another workspace"})
            continue
        try:
            with twilio_call("point the number's webhooks at NumeraLoop"):
                account.incoming_phone_numbers(number.sid).update(
                    **webhook_urls.number_webhooks(_config().public_base_url)
                )
        except ApiError as exc:
            skipped.append({"phone_number": number.phone_number, "reason": exc.message})
            continue
        try:
            with as_service(current_pool()) as conn:
                row = conn.execute(
                    "insert into public.phone_numbers (workspace_id, twilio_account_id, twilio_sid, e164, "
                    "friendly_name, capabilities, number_type) values (%s, %s, %s, %s, %s, %s, %s) "
                    "on conflict (workspace_id, twilio_sid) do update set status = 'active', released_at = null, "
                    "twilio_account_id = excluded.twilio_account_id returning *",
                    (
                        workspace_id,
                        creds.twilio_account_id,
                        number.sid,
                        number.phone_number,
                        number.friendly_name,
                        json.dumps(_capabilities(number)),
                        _number_type(number),
                    ),
                ).fetchone()
                audit.record(
                    conn,
                    workspace_id=workspace_id,
                    actor=g.user_id,
                    action="number.import",
                    target_type="phone_number",
                    target_id=number.sid,
                    details={"e164": number.phone_number},
                )
        except psycopg.Error as exc:
            if exc.sqlstate != PLAN_LIMIT:  # numbers added meanwhile took the plan's room
                raise
            skipped.append({"phone_number": number.phone_number, "reason": exc.diag.message_primary})
            continue
        imported.append(_number_view(row))
    if wanted:
        found = {n.phone_number for n in owned}
        skipped += [{"phone_number": p, "reason": "not in the Twilio account"} for p in wanted if p not in found]
    return jsonify(imported=imported, skipped=skipped)


@bp.delete("/numbers/<number_id>")
def release_number(number_id: str):
    mode = request.args.get("mode", "release")
    if mode not in ("release", "detach"):
        raise ApiError(
            422, "invalid_mode", "mode must be 'release' (give it back to Twilio) or 'detach' (keep it at Twilio)."
        )
    try:
        number_id = str(uuid.UUID(number_id))
    except ValueError:
        raise ApiError(404, "number_not_found", "No such number.") from None

    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute(
            "select * from public.phone_numbers where id = %s and status = 'active'", (number_id,)
        ).fetchone()
        if row is None:
            raise ApiError(404, "number_not_found", "No such number.")
        _, role = workspaces.resolve(conn, str(row["workspace_id"]))
    workspaces.require_role(role, "admin")
    workspace_id = str(row["workspace_id"])
    creds = credentials.require_for_workspace(current_pool(), _config(), workspace_id)
    account = client_for(creds, _config()).api.v2010.accounts(creds.account_sid)

    if mode == "detach":
        with twilio_call("clear the number's webhooks"):
            account.incoming_phone_numbers(row["twilio_sid"]).update(sms_url="", voice_url="", status_callback="")
        final = "detached"
    else:
        with as_service(current_pool()) as conn:
            conn.execute("update public.phone_numbers set status = 'releasing' where id = %s", (number_id,))
        try:
            with twilio_call("release the number"):
                account.incoming_phone_numbers(row["twilio_sid"]).delete()
        except ApiError as exc:
            if exc.status != 404:
                with as_service(current_pool()) as conn:
                    conn.execute("update public.phone_numbers set status = 'active' where id = %s", (number_id,))
                raise
        final = "released"

    with as_service(current_pool()) as conn:
        updated = conn.execute(
            "update public.phone_numbers set status = %s, released_at = now() where id = %s returning *",
            (final, number_id),
        ).fetchone()
        audit.record(
            conn,
            workspace_id=workspace_id,
            actor=g.user_id,
            action=f"number.{mode}",
            target_type="phone_number",
            target_id=row["twilio_sid"],
            details={"e164": row["e164"]},
        )
    return jsonify(_number_view(updated))
