"""Liveness and readiness for the load balancer."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from .db import current_pool
from . import migrations

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    config = current_app.config["NUMERALOOP"]
    pool = current_pool()
    try:
        with pool.connection(timeout=3) as conn:
            missing = migrations.pending(conn, config.migrations_dir)
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("readyz: database unreachable: %s", exc.__class__.__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    if missing:
        return jsonify(status="unavailable", database="ok",
                       missing_migrations=[m.path.name for m in missing]), 503
    return jsonify(status="ready", database="ok")
