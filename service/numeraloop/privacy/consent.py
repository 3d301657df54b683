"""/api/v1/me/consent: the caller's consent to product e-mails (newsletters).

GET says where it stands (no record: no consent); PUT {"product_emails": true|false} records a
grant or a withdrawal, with its time and the source `api` (the web application's settings pass
`settings`). Withdrawing is that one call. Only users whose latest record is a grant are ever
sent a product e-mail (private.product_email_recipients()); notices the law requires (policy
changes, breaches) are not product e-mails and go to everyone.
"""

from __future__ import annotations

import psycopg
from flask import Blueprint, g, jsonify

from ..api.inputs import json_body
from ..db import as_user, current_pool
from ..errors import ApiError
from .deletion import account_gone

bp = Blueprint("privacy_consent", __name__)

PURPOSE = "product_emails"


def state(conn) -> dict:
    row = conn.execute(
        "select granted, recorded_at, source from public.consent_events "
        "where user_id = auth.uid() and purpose = %s order by recorded_at desc, id limit 1",
        (PURPOSE,),
    ).fetchone()
    if row is None:
        return {PURPOSE: {"granted": False, "recorded_at": None, "source": None}}
    return {PURPOSE: dict(row)}


def record(granted: bool, source: str = "api") -> dict:
    try:
        with as_user(current_pool(), g.claims) as conn:
            conn.execute("select public.set_product_email_consent(%s, %s)", (granted, source))
            return state(conn)
    except psycopg.errors.InsufficientPrivilege:
        raise account_gone() from None


@bp.get("/me/consent")
def consent_state():
    with as_user(current_pool(), g.claims) as conn:
        return jsonify(state(conn))


@bp.put("/me/consent")
def set_consent():
    granted = json_body().get(PURPOSE)
    if not isinstance(granted, bool):
        raise ApiError(422, "invalid_field", f"'{PURPOSE}' must be true (consent) or false (withdraw).", field=PURPOSE)
    return jsonify(record(granted))
