"""The sandbox application factory: state, rule book, dispatcher and the two blueprints."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import TwilioApiError, not_found
from .openapi import OpenApi, load_spec
from .state import SandboxState
from .webhooks import Dispatcher

log = logging.getLogger("numeraloop.sandbox")


@dataclass
class SandboxSettings:
    """Timings of the things the sandbox does on its own; tests shorten them, never lengthen."""

    step_delay: float = 0.05        # between the status steps of one message
    callback_attempts: int = 3      # tries per status callback (connection errors and 5xx retried)
    retry_backoff: float = 0.1      # first retry wait; doubles per attempt
    callback_timeout: float = 5.0   # seconds for the application to answer a callback
    webhook_timeout: float = 10.0   # seconds for an inbound webhook (TwiML) to answer
    dispatcher_workers: int = 8


class Sandbox:
    """One running sandbox: what it remembers, what it checks against, what it has scheduled."""

    def __init__(self, state: SandboxState | None = None, settings: SandboxSettings | None = None,
                 spec: OpenApi | None = None):
        self.state = state or SandboxState()
        self.settings = settings or SandboxSettings()
        self.spec = spec or load_spec()
        self.dispatcher = Dispatcher(self.settings.dispatcher_workers)

    def update_settings(self, **changes) -> SandboxSettings:
        known = {f.name for f in dataclasses.fields(SandboxSettings)} - {"dispatcher_workers"}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        for name, value in changes.items():
            setattr(self.settings, name, type(getattr(self.settings, name))(value))
        return self.settings

    def reset(self) -> None:
        """Forget everything and drop scheduled callbacks; settings stay."""
        self.dispatcher.close()
        self.state.reset()
        self.dispatcher = Dispatcher(self.settings.dispatcher_workers)

    def close(self) -> None:
        self.dispatcher.close()


def create_sandbox_app(state: SandboxState | None = None, settings: SandboxSettings | None = None,
                       spec: OpenApi | None = None, **setting_overrides) -> Flask:
    """A Flask app speaking Twilio's REST API under /2010-04-01 and the control API under /_sandbox.

    `setting_overrides` are SandboxSettings fields, e.g. `create_sandbox_app(step_delay=0.01)`.
    The Sandbox object is at `app.extensions["numeraloop.sandbox"]`; call its `close()` when done.
    """
    settings = settings or SandboxSettings()
    for name, value in setting_overrides.items():
        if not hasattr(settings, name):
            raise TypeError(f"unknown sandbox setting {name!r}")
        setattr(settings, name, value)
    app = Flask("numeraloop.sandbox")
    app.json.sort_keys = False  # keep the spec's property order, as Twilio's responses have it
    app.extensions["numeraloop.sandbox"] = Sandbox(state, settings, spec)

    from .control import bp as control_bp
    from .rest import PREFIX, bp as rest_bp

    app.register_blueprint(rest_bp)
    app.register_blueprint(control_bp)

    @app.errorhandler(TwilioApiError)
    def _twilio_error(exc: TwilioApiError):
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith(PREFIX + "/"):
            if exc.code == 404:
                return not_found(request.path).response()
            if exc.code == 405:
                return TwilioApiError(405, 20004, "Method not allowed").response()
            return TwilioApiError(exc.code or 500, 20500, exc.description or exc.name).response()
        response = jsonify({"error": {"code": (exc.name or "error").lower().replace(" ", "_"),
                                      "message": exc.description or exc.name}})
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("sandbox: unhandled error on %s %s", request.method, request.path)
        return TwilioApiError(500, 20500, "Internal Server Error").response()

    return app
