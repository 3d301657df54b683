"""Connecting a workspace's Twilio account: POST /api/v1/twilio/connect, GET /api/v1/twilio/status."""

from __future__ import annotations

import logging
import re

import psycopg
from flask import Blueprint, current_app, g, jsonify

from .. import audit, workspaces
from ..api.inputs import field, json_body, workspace_param
from ..db import as_service, as_user, current_pool
from ..errors import ApiError
from ..twilio import credentials, webhook_urls
from ..twilio.access import twilio_call
from ..twilio.client import make_twilio_client

bp = Blueprint("twilio_connection", __name__)

log = logging.getLogger(__name__)
ACCOUNT_SID = re.compile(r"^AC[0-9a-f]{32}$")
ONE_WORKSPACE_PER_ACCOUNT = "twilio_accounts_account_sid_key"  # supabase/migrations/*_twilio_accounts.sql


def _account_in_use() -> ApiError:
    # Which workspace has it is not the caller's to know.
    return ApiError(
        409,
        "twilio_account_in_use",
        "This Twilio account is already connected to another workspace; a Twilio account can serve one workspace only.",
    )


def _numbers_in_the_way(conn, workspace_id: str, account_sid: str) -> ApiError | None:
    """409 naming the workspace's numbers when connecting `account_sid` would strand them in the
    connected account: Twilio signs their webhooks with that account's token, so every inbound
    message and call to them would be refused. The same account (a new auth token) is fine."""
    current = conn.execute(
        "select account_sid from public.twilio_accounts where workspace_id = %s", (workspace_id,)
    ).fetchone()
    if current is None or current["account_sid"] == account_sid:
        return None
    numbers = [
        r["e164"]
        for r in conn.execute(
            "select e164 from public.phone_numbers where workspace_id = %s and status in ('active', 'releasing') "
            "order by e164",
            (workspace_id,),
        )
    ]
    if not numbers:
        return None
    shown = ", ".join(numbers[:10]) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
    return ApiError(
        409,
        "twilio_numbers_attached",
        f"This workspace's numbers {shown} are in the connected Twilio account "
        f"{current['account_sid']}; release or detach them before connecting another account.",
        numbers=numbers,
    )


@bp.post("/twilio/connect")
def connect_twilio():
    config = current_app.config["NUMERALOOP"]
    body = json_body()
    workspace_id, _ = workspaces.for_caller(body, "admin")

    account_sid = field(body, "account_sid", required=True, max_length=64).strip()
    auth_token = field(body, "auth_token", required=True, max_length=128).strip()
    if not ACCOUNT_SID.match(account_sid):
        raise ApiError(
            422,
            "invalid_account_sid",
            "account_sid must be 'AC' followed by 32 lowercase hexadecimal characters.",
            field="account_sid",
        )
    credentials.require_key(config)

    client = make_twilio_client(account_sid, account_sid, auth_token, config.twilio_api_base_url)
    try:
        with twilio_call("verify the account"):
            account = client.api.v2010.accounts(account_sid).fetch()
    except ApiError as exc:
        if exc.code in ("twilio_auth_failed", "twilio_20404") or exc.status == 404:
            raise ApiError(
                422,
                "twilio_credentials_invalid",
                "Twilio did not accept this Account SID and auth token; nothing was stored.",
            ) from None
        raise

    # Checked once the caller has shown the account's auth token, so nobody learns whether an
    # Account SID is connected somewhere without it, and before anything is created at Twilio.
    with as_service(current_pool()) as conn:
        elsewhere = conn.execute(
            "select 1 from public.twilio_accounts where account_sid = %s and workspace_id <> %s",
            (account_sid, workspace_id),
        ).fetchone()
        stranded = _numbers_in_the_way(conn, workspace_id, account_sid)
    if elsewhere is not None:
        raise _account_in_use()
    if stranded is not None:
        raise stranded

    public = config.public_base_url
    with twilio_call("create an API key"):
        key = client.api.v2010.accounts(account_sid).new_keys.create(friendly_name=f"NumeraLoop {workspace_id[:8]}")
    with twilio_call("create the browser-calling TwiML app"):
        app = client.api.v2010.accounts(account_sid).applications.create(
            friendly_name=f"NumeraLoop browser calling {workspace_id[:8]}",
            voice_url=webhook_urls.browser_voice(public),
            voice_method="POST",
        )

    try:
        with as_service(current_pool()) as conn:
            previous = conn.execute(
                "select account_sid from public.twilio_accounts where workspace_id = %s", (workspace_id,)
            ).fetchone()
            stored = credentials.store(
                conn,
                config,
                workspace_id=workspace_id,
                account_sid=account_sid,
                auth_token=auth_token,
                api_key_sid=key.sid,
                api_key_secret=key.secret,
                twiml_app_sid=app.sid,
                friendly_name=account.friendly_name,
                account_status=account.status,
                actor=g.user_id,
            )
            audit.record(
                conn,
                workspace_id=workspace_id,
                actor=g.user_id,
                action="twilio.connect" if previous is None else "twilio.reconnect",
                target_type="twilio_account",
                target_id=account_sid,
                details={
                    "api_key_sid": key.sid,
                    "twiml_app_sid": app.sid,
                    "replaced_account_sid": previous["account_sid"] if previous else None,
                },
            )
    except psycopg.errors.UniqueViolation as exc:
        # Another workspace connected the same account since the check above.
        if exc.diag.constraint_name == ONE_WORKSPACE_PER_ACCOUNT:
            raise _account_in_use() from None
        raise
    except psycopg.errors.ObjectNotInPrerequisiteState:
        # A number was added since the check above.
        with as_service(current_pool()) as conn:
            stranded = _numbers_in_the_way(conn, workspace_id, account_sid)
        if stranded is not None:
            raise stranded from None
        raise
    log.info("workspace %s connected Twilio account %s", workspace_id, account_sid)
    return jsonify(_public_view(stored, connected=True)), 201


def _public_view(row: dict, connected: bool) -> dict:
    return {
        "connected": connected,
        "workspace_id": str(row["workspace_id"]),
        "account_sid": row["account_sid"],
        "friendly_name": row["friendly_name"],
        "account_status": row["account_status"],
        "api_key_sid": row["api_key_sid"],
        "twiml_app_sid": row["twiml_app_sid"],
        "connected_at": row["connected_at"],
    }


@bp.get("/twilio/status")
def twilio_status():
    with as_user(current_pool(), g.claims) as conn:
        workspace_id, _ = workspaces.resolve(conn, workspace_param())
        row = conn.execute("select * from public.twilio_accounts where workspace_id = %s", (workspace_id,)).fetchone()
    if row is None:
        return jsonify(connected=False, workspace_id=workspace_id)
    return jsonify(_public_view(row, connected=True))
