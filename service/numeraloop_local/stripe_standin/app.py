"""The stand-in's application factory: state, the /v1 API, the control API and hosted pages."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..http_server import http_error_body, new_app
from .api import bp as api_bp
from .api import not_found_response
from .control import bp as control_bp
from .errors import StripeApiError
from .pages import bp as pages_bp
from .state import StandinState

log = logging.getLogger("numeraloop_local.stripe_standin")

DEFAULT_API_KEY = "sk_test_numeraloop_local_not_a_secret"


def create_standin_app(
    api_key: str = DEFAULT_API_KEY,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    public_url: str = "",
) -> Flask:
    """A Flask app speaking Stripe's API under /v1 and the control API under /_standin.

    `public_url` is where the app is reachable (hosted page URLs are built on it); the
    state is at `app.extensions["numeraloop_local.stripe_standin"]`.
    """
    if not api_key.startswith(("sk_test_", "rk_test_")):
        raise ValueError("the stand-in only takes test-mode keys (sk_test_...)")
    app = new_app("numeraloop_local.stripe_standin")
    app.extensions["numeraloop_local.stripe_standin"] = StandinState(api_key, webhook_url, webhook_secret, public_url)

    app.register_blueprint(api_bp)
    app.register_blueprint(control_bp)
    app.register_blueprint(pages_bp)

    @app.errorhandler(StripeApiError)
    def _stripe_error(exc: StripeApiError):
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/v1/"):
            if exc.code == 404:
                return not_found_response()
            return StripeApiError(exc.code or 500, "invalid_request_error", exc.description or exc.name).response()
        body, status = http_error_body(exc)
        return jsonify(body), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("stripe stand-in: unhandled error on %s %s", request.method, request.path)
        return StripeApiError(500, "api_error", "An unknown error occurred").response()

    return app
