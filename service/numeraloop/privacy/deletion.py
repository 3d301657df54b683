"""/api/v1/me/deletion: the caller deletes their own account.

POST schedules the deletion after the grace period (public.request_account_deletion();
asking again returns the open request), DELETE cancels it during the grace period (404 when
none is open), GET shows where it stands; the web application's settings call the same
schedule(), cancel() and status(). The deletion itself is done by the daily pg_cron job
private.delete_due_accounts(). Every answer lists the workspaces that will be deleted
with the account (those the caller owns alone), so the caller can add another owner first.
"""

from __future__ import annotations

import psycopg
from flask import Blueprint, g, jsonify

from ..db import as_user, current_pool
from ..errors import ApiError

bp = Blueprint("privacy_deletion", __name__)

REQUEST_FIELDS = ("id", "kind", "status", "requested_at", "scheduled_for", "canceled_at", "completed_at")
OPEN_STATUSES = ("requested", "scheduled", "failed")


def account_gone() -> ApiError:
    # A token issued before the account was deleted is still signed and unexpired.
    return ApiError(404, "account_not_found", "This account no longer exists.")


def _request(row) -> dict | None:
    if row is None or row["id"] is None:
        return None
    return {k: row[k] for k in REQUEST_FIELDS}


def _state(conn, deletion_row) -> dict:
    grace_days = conn.execute("select extract(day from private.account_deletion_grace_period())::int as d").fetchone()[
        "d"
    ]
    # Read under RLS as the caller: the member rows of their own workspaces.
    sole_owned = conn.execute(
        "select w.id, w.name from public.workspaces w "
        "join public.workspace_members m on m.workspace_id = w.id and m.user_id = auth.uid() and m.role = 'owner' "
        "where not exists (select 1 from public.workspace_members o where o.workspace_id = w.id "
        "                  and o.role = 'owner' and o.user_id <> auth.uid()) "
        "order by w.created_at"
    ).fetchall()
    return {
        "deletion": _request(deletion_row),
        "grace_period_days": grace_days,
        "workspaces_deleted_with_account": sole_owned,
    }


def schedule() -> dict:
    """Schedules the caller's deletion (or returns the open request) and where it stands."""
    try:
        with as_user(current_pool(), g.claims) as conn:
            row = conn.execute("select * from public.request_account_deletion()").fetchone()
            return _state(conn, row)
    except psycopg.errors.InsufficientPrivilege:
        raise account_gone() from None


def cancel() -> dict:
    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute("select * from public.cancel_account_deletion()").fetchone()
        if row is None or row["id"] is None:
            raise ApiError(404, "no_deletion_request", "There is no account deletion waiting to be cancelled.")
        return _state(conn, row)


def status() -> dict:
    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute(
            "select * from public.data_requests where user_id = auth.uid() and kind = 'deletion' and status = any(%s)",
            (list(OPEN_STATUSES),),
        ).fetchone()
        return _state(conn, row)


@bp.post("/me/deletion")
def request_deletion():
    return jsonify(schedule()), 202


@bp.delete("/me/deletion")
def cancel_deletion():
    return jsonify(cancel()), 200


@bp.get("/me/deletion")
def deletion_status():
    return jsonify(status()), 200
