"""The sandbox application factory: state, dispatcher and the two blueprints."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..http_server import http_error_body, new_app
from .control import bp as control_bp
from .core import Sandbox, SandboxSettings
from .errors import TwilioApiError, not_found
from .rest import PREFIX
from .rest import bp as rest_bp
from .services import V1
from .services import bp as services_bp
from .state import SandboxState

log = logging.getLogger("numeraloop_local.twilio_sandbox")


def create_sandbox_app(
    state: SandboxState | None = None, settings: SandboxSettings | None = None, **setting_overrides
) -> Flask:
    """A Flask app speaking Twilio's REST API under /2010-04-01 and the control API under /_sandbox.

    `setting_overrides` are SandboxSettings fields, e.g. `create_sandbox_app(step_delay=0.01)`.
    The Sandbox object is at `app.extensions["numeraloop_local.twilio_sandbox"]`; call its `close()` when done.
    """
    settings = settings or SandboxSettings()
    for name, value in setting_overrides.items():
        if not hasattr(settings, name):
            raise TypeError(f"unknown sandbox setting {name!r}")
        setattr(settings, name, value)
    app = new_app("numeraloop_local.twilio_sandbox")
    app.extensions["numeraloop_local.twilio_sandbox"] = Sandbox(state, settings)
    app.register_blueprint(rest_bp)
    app.register_blueprint(services_bp)
    app.register_blueprint(control_bp)

    @app.errorhandler(TwilioApiError)
    def _twilio_error(exc: TwilioApiError):
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith((PREFIX + "/", V1 + "/")):
            if exc.code == 404:
                return not_found(request.path).response()
            if exc.code == 405:
                return TwilioApiError(405, 20004, "Method not allowed").response()
            return TwilioApiError(exc.code or 500, 20500, exc.description or exc.name).response()
        body, status = http_error_body(exc)
        return jsonify(body), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("sandbox: unhandled error on %s %s", request.method, request.path)
        return TwilioApiError(500, 20500, "Internal Server Error").response()

    return app
