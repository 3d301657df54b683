"""The Flask application factory: configuration, the database pool, logging, errors and routes."""

from __future__ import annotations

import datetime as dt
import decimal

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from . import request_log
from .auth import TokenVerifier
from .blueprints import register_blueprints
from .config import Config
from .db import POOL_KEY, make_pool
from .errors import register_error_handlers


class JSONProvider(DefaultJSONProvider):
    """ISO 8601 timestamps (Flask's default is an HTTP date) and exact decimals."""

    sort_keys = False

    @staticmethod
    def default(o):
        if isinstance(o, (dt.datetime, dt.date)):
            return o.isoformat()
        if isinstance(o, decimal.Decimal):
            return str(o)
        return DefaultJSONProvider.default(o)


# Two years, subdomains included: what browsers' preload lists ask for. Sent only when the public
# URL is https, so a plain-http development server never pins a browser to https.
HSTS = "max-age=63072000; includeSubDomains"


def _strict_transport_security(response):
    response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def create_app(config: Config | None = None, pool=None) -> Flask:
    config = config or Config.from_env()
    config.require_servable()
    request_log.configure_logging(config.log_level)

    app = Flask("numeraloop", static_folder=None)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.config["NUMERALOOP"] = config
    # Every route takes small bodies; the CSV import raises its own limit (contacts/api.py).
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024

    if config.proxy_fix_hops:
        # Behind a TLS-terminating proxy the URL Twilio signed is the proxy's; trust exactly
        # the configured number of hops for proto/host/port so signatures validate.
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=config.proxy_fix_hops,
            x_proto=config.proxy_fix_hops,
            x_host=config.proxy_fix_hops,
            x_port=config.proxy_fix_hops,
        )

    if pool is None:
        pool = make_pool(config.database_url, config.db_pool_min, config.db_pool_max, open_now=True)
    app.extensions[POOL_KEY] = pool
    app.extensions["numeraloop.tokens"] = TokenVerifier(config)

    request_log.install(app)
    register_error_handlers(app)
    if config.hsts:
        app.after_request(_strict_transport_security)

    register_blueprints(app)
    return app
