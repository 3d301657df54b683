"""/twilio: everything Twilio calls. Each route checks X-Twilio-Signature first
(`signature.verify`), because only the route knows which number or account the request is
about; the routes live with their capability and are mounted here by `numeraloop.blueprints`."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint

PREFIX = "/twilio"


def surface(routes: Iterable[Blueprint]) -> Blueprint:
    bp = Blueprint("twilio", __name__, url_prefix=PREFIX)
    for child in routes:
        bp.register_blueprint(child)
    return bp
