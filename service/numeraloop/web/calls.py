"""Pages that change something call the same route functions /api/v1 runs, with the form's
input as their body: one set of checks, one error vocabulary (ApiError's message is already
a sentence), and RLS as the signed-in user either way."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from flask import current_app, g

from ..errors import sql_error


def call(view: Callable, body: dict | None = None, headers: dict | None = None, **view_args) -> tuple[dict, int]:
    """(JSON answer, status) of `view` run for the signed-in user; an ApiError propagates to the page."""
    g.api_body, g.api_headers = dict(body or {}), dict(headers or {})
    try:
        response = current_app.make_response(view(**view_args))
    except psycopg.Error as exc:
        # The API answers these through its SQLSTATE table; a page shows the same sentence.
        error = sql_error(exc)
        if error is None:
            raise
        raise error from None
    finally:
        g.pop("api_body", None)
        g.pop("api_headers", None)
    return response.get_json(silent=True) or {}, response.status_code
