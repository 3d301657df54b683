"""Settings → Webhooks: a workspace's admins add the endpoints NumeraLoop sends events to, see
each endpoint's signing secret once (when it is made or rotated), rotate it, pause or remove
the endpoint, and read how a receiver verifies a delivery (Standard Webhooks)."""

from __future__ import annotations

import uuid

import psycopg
from flask import Blueprint, abort, g, render_template, request

from ..db import as_user, current_pool
from ..errors import sql_error
from . import workspace
from .signin import adult_required

bp = Blueprint("webhooks_settings", __name__)


def _endpoints(workspace_id: str) -> list[dict]:
    with as_user(current_pool(), g.claims) as conn:
        return conn.execute(
            "select e.id, e.url, e.description, e.is_active, e.created_at, "
            "       (select count(*) from public.webhook_deliveries d where d.endpoint_id = e.id "
            "         and d.delivered_at is not null) as delivered, "
            "       (select count(*) from public.webhook_deliveries d where d.endpoint_id = e.id and d.dead) as dead "
            "  from public.webhook_endpoints e where e.workspace_id = %s order by e.created_at",
            (workspace_id,),
        ).fetchall()


def _page(status: int = 200, **extra):
    ws = workspace.current()
    if not workspace.is_admin():
        return render_template("settings/webhooks.html", workspace=ws, endpoints=[], forbidden=True), 403
    return render_template("settings/webhooks.html", workspace=ws, endpoints=_endpoints(ws["id"]), **extra), status


def _endpoint_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        abort(404)


@bp.get("/settings/webhooks")
@adult_required
def webhooks_page():
    return _page()


@bp.post("/settings/webhooks")
@adult_required
def add_endpoint():
    ws = workspace.current()
    url = (request.form.get("url") or "").strip()[:2000]
    description = (request.form.get("description") or "").strip()[:200] or None
    try:
        with as_user(current_pool(), g.claims) as conn:
            row = conn.execute(
                "insert into public.webhook_endpoints (workspace_id, url, description) "
                "values (%s, %s, %s) returning id, secret",
                (ws["id"], url, description),
            ).fetchone()
    except psycopg.Error as exc:
        error = sql_error(exc)
        if error is None:
            raise
        message = (
            "Use an https:// address (plain http only to 127.0.0.1 or localhost, for local development)."
            if exc.sqlstate == "23514"
            else error.message
        )
        return _page(400 if error.status < 500 else 500, error=message, url=url, description=description)
    return _page(201, new_secret={"endpoint_id": str(row["id"]), "secret": row["secret"]})


@bp.post("/settings/webhooks/<endpoint_id>/rotate")
@adult_required
def rotate(endpoint_id: str):
    endpoint_id = _endpoint_id(endpoint_id)
    try:
        with as_user(current_pool(), g.claims) as conn:
            secret = conn.execute("select public.rotate_webhook_secret(%s) as s", (endpoint_id,)).fetchone()["s"]
    except psycopg.Error as exc:
        if sql_error(exc) is None:
            raise
        abort(404)
    return _page(new_secret={"endpoint_id": endpoint_id, "secret": secret, "rotated": True})


@bp.post("/settings/webhooks/<endpoint_id>/active")
@adult_required
def set_active(endpoint_id: str):
    endpoint_id = _endpoint_id(endpoint_id)
    with as_user(current_pool(), g.claims) as conn:
        done = conn.execute(
            "update public.webhook_endpoints set is_active = %s where id = %s returning id",
            (request.form.get("active") == "yes", endpoint_id),
        ).fetchone()
    if done is None:
        abort(404)
    return _page()


@bp.post("/settings/webhooks/<endpoint_id>/delete")
@adult_required
def delete(endpoint_id: str):
    endpoint_id = _endpoint_id(endpoint_id)
    with as_user(current_pool(), g.claims) as conn:
        done = conn.execute(
            "delete from public.webhook_endpoints where id = %s returning id", (endpoint_id,)
        ).fetchone()
    if done is None:
        abort(404)
    return _page()
