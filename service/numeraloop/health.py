"""Liveness and readiness for the load balancer.

/readyz is 200 once the database answers with every migration applied and every
configured dependency answers 2xx. Dependencies come from NUMERALOOP_READY_DEPENDENCIES
(`name=url,...`); none unless configured, so production readiness hangs on the database
alone. `numeraloop dev` lists its local processes there, so 200 means the whole local
product is up.
"""

from __future__ import annotations

import logging

import requests
from flask import Blueprint, current_app, jsonify

from . import migrations
from .db import current_pool

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

READY_DEPENDENCIES_ENV = "NUMERALOOP_READY_DEPENDENCIES"
DEPENDENCY_TIMEOUT = 2.0  # seconds per dependency; a load balancer's probe gives a few seconds in all


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
        return jsonify(status="unavailable", database="ok", missing_migrations=[m.path.name for m in missing]), 503
    if not config.ready_dependencies:
        return jsonify(status="ready", database="ok")
    dependencies = {name: _answers(url) for name, url in config.ready_dependencies}
    if all(state == "ok" for state in dependencies.values()):
        return jsonify(status="ready", database="ok", dependencies=dependencies)
    return jsonify(status="unavailable", database="ok", dependencies=dependencies), 503


def _answers(url: str) -> str:
    try:
        response = requests.get(url, timeout=DEPENDENCY_TIMEOUT, allow_redirects=False)
    except requests.RequestException:
        return "unreachable"
    return "ok" if 200 <= response.status_code < 300 else f"http {response.status_code}"
