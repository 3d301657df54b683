"""/api/v1: what integrations, scripts and the web application call. Bearer = Supabase access token.

This package is the surface itself (authentication, access log, input reading, the OpenAPI
description); each capability's routes live with the capability and are mounted here by
`numeraloop.blueprints`.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint

from .. import access_log
from ..auth import authenticate_request
from ..privacy.age import require_adult

PREFIX = "/api/v1"


def surface(routes: Iterable[Blueprint]) -> Blueprint:
    """A fresh /api/v1 blueprint (one per app) with the capabilities' routes under it."""
    bp = Blueprint("api", __name__, url_prefix=PREFIX)
    # Every route of this surface runs for a verified user (g.claims, g.user_id). The one public
    # /api/v1 route, the OpenAPI description, is a blueprint of its own (api/openapi.py) outside it.
    bp.before_request(authenticate_request)
    # Then adults only: 403 age_confirmation_required outside /api/v1/me until the caller confirms.
    bp.before_request(require_adult)
    access_log.install(bp)
    for child in routes:
        bp.register_blueprint(child)
    return bp
