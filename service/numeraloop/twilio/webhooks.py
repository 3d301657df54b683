"""/twilio: everything Twilio calls. Each route checks X-Twilio-Signature first
(`signature.verify`), because only the route knows which number or account the request is
about; the routes live with their capability and are mounted here by `numeraloop.blueprints`.
What no Twilio request can be (a repeated parameter, a NUL byte) is refused here for every
route, before its view runs."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint

from .signature import screen_request

PREFIX = "/twilio"


def surface(routes: Iterable[Blueprint]) -> Blueprint:
    bp = Blueprint("twilio", __name__, url_prefix=PREFIX)
    bp.before_request(screen_request)
    for child in routes:
        bp.register_blueprint(child)
    return bp
