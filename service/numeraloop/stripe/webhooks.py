"""/stripe: everything Stripe calls; each route verifies its event with `signature.verified_event`."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint

PREFIX = "/stripe"


def surface(routes: Iterable[Blueprint]) -> Blueprint:
    bp = Blueprint("stripe", __name__, url_prefix=PREFIX)
    for child in routes:
        bp.register_blueprint(child)
    return bp
