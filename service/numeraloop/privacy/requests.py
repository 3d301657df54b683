"""/api/v1/me/requests: the caller's data-subject requests (GDPR, CCPA, PIPEDA).

POST files one about the caller's own account (public.file_data_request(): their sign-in is the
identity check; due in 30 days, 45 under the CCPA; the CCPA's two per 12 months answer 429
request_limit_reached); a restriction or a withdrawal of consent takes effect at once. GET
lists every request of theirs, the product's exports and deletions included. The operator's
side (requests received by e-mail, the open and overdue list, answering) is `numeraloop
privacy request ...` (privacy/cli.py) over the functions of
supabase/migrations/20261128008000_data_requests.sql.
"""

from __future__ import annotations

import psycopg
from flask import Blueprint, g, jsonify

from ..api.inputs import field, json_body
from ..db import as_user, current_pool
from ..errors import ApiError
from .deletion import account_gone

bp = Blueprint("privacy_requests", __name__)

LAWS = ("gdpr", "ccpa", "pipeda")
KINDS = {
    "gdpr": ("access", "rectification", "erasure", "restriction", "portability", "objection", "withdraw_consent"),
    "ccpa": ("know", "delete", "correct", "limit"),
    "pipeda": ("access", "correction"),
}
ALL_KINDS = tuple(sorted({k for kinds in KINDS.values() for k in kinds} | {"export", "deletion"}))
STATUSES = ("requested", "scheduled", "in_progress", "completed", "refused", "canceled", "failed")
MAX_DESCRIPTION = 4000  # data_requests.description
FIELDS = (
    "id",
    "law",
    "kind",
    "status",
    "channel",
    "requested_at",
    "due_at",
    "identity_verification",
    "description",
    "outcome",
    "scheduled_for",
    "completed_at",
    "canceled_at",
)


def view(row: dict) -> dict:
    return {k: row[k] for k in FIELDS}


@bp.post("/me/requests")
def file_request():
    body = json_body()
    law = field(body, "law", required=True, max_length=16)
    kind = field(body, "kind", required=True, max_length=32)
    description = field(body, "description", max_length=MAX_DESCRIPTION)
    if law not in LAWS:
        raise ApiError(422, "invalid_law", "law must be gdpr, ccpa or pipeda.", field="law")
    if kind not in KINDS[law]:
        raise ApiError(
            422, "invalid_kind", f"Under {law.upper()} a request is one of: {', '.join(KINDS[law])}.", field="kind"
        )
    try:
        with as_user(current_pool(), g.claims) as conn:
            row = conn.execute(
                "select * from public.file_data_request(%s, %s, %s)", (law, kind, description)
            ).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        raise account_gone() from None
    return jsonify(request=view(row)), 201


@bp.get("/me/requests")
def list_requests():
    with as_user(current_pool(), g.claims) as conn:
        rows = conn.execute(
            "select * from public.data_requests where user_id = auth.uid() order by requested_at desc, id"
        ).fetchall()
    return jsonify(requests=[view(r) for r in rows])
