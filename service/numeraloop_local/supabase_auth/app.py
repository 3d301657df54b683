"""The Auth stand-in's application factory: its state, GoTrue's API under /auth/v1, a health check."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..http_server import http_error_body, new_app
from .api import bp as api_bp
from .errors import GoTrueError
from .mailer import Mailer, confirmation_url
from .settings import AuthSettings
from .store import FLOW_STATE_EXPIRY, AuthStore
from .tokens import Signer

log = logging.getLogger("numeraloop_local.supabase_auth")


class AuthState:
    """What every request shares: settings, the database, the signing key, the mailer."""

    def __init__(self, settings: AuthSettings, store: AuthStore):
        self.settings = settings
        self.store = store
        self.signer = Signer(settings)
        self.mailer = Mailer(settings.smtp_url, settings.sender, settings.templates)
        self.flow_state_expiry: timedelta = FLOW_STATE_EXPIRY

    @property
    def api_url(self) -> str:
        return f"{self.settings.public_url}/auth/v1"

    @property
    def issuer(self) -> str:
        return self.api_url

    def confirmation_url(self, hashed: str, link_type: str, redirect_to: str) -> str:
        return confirmation_url(self.api_url, hashed, link_type, redirect_to)


def create_auth_app(settings: AuthSettings, store: AuthStore | None = None) -> Flask:
    """A Flask app speaking GoTrue's API under /auth/v1 over the database's auth schema.

    The state is at `app.extensions["numeraloop_local.supabase_auth"]`; close its store when done.
    """
    store = store or AuthStore(settings.database_url)
    store.ensure_schema()
    app = new_app("numeraloop_local.supabase_auth")
    app.extensions["numeraloop_local.supabase_auth"] = AuthState(settings, store)
    app.register_blueprint(api_bp)

    @app.get("/_standin/health")
    def _health():
        return jsonify({"status": "ok"})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/auth/v1/"):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.code or 0, "unexpected_failure")
            return GoTrueError(exc.code or 500, code, exc.name).response()
        body, status = http_error_body(exc)
        return jsonify(body), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("auth stand-in: unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/auth/v1/"):
            return GoTrueError(500, "unexpected_failure", "Unexpected failure").response()
        return jsonify({"error": {"code": "internal_error", "message": "Unexpected failure"}}), 500

    return app
