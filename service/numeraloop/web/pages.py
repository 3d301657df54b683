"""What a page area's refusals look like: a sentence on a page, never JSON or a stack trace.

A page area installs these on its blueprint. A request from the page's own script (it asks
for application/json) gets the API's JSON error instead, which the script puts in words on the
page it is on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import psycopg
from flask import Blueprint, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import ApiError, error_response, sql_error

log = logging.getLogger(__name__)

TITLES = {
    400: "That did not work",
    402: "Your plan's limit is reached",
    403: "Not allowed",
    404: "Not found",
    405: "Not found",
    409: "That did not work",
    410: "No longer available",
    413: "Too large",
    422: "That did not work",
}
NOT_FOUND = "There is nothing here, or it belongs to a workspace you are not a member of."


def when(moment: datetime | None) -> str:
    """A moment as people read it, in UTC and saying so: "8 December 2026 at 14:03 UTC"."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y} at {moment:%H:%M} UTC"


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def refusal(status: int, code: str, message: str, **extra):
    if wants_json():
        return error_response(status, code, message, **extra)
    return render_template("error.html", title=TITLES.get(status, "That did not work"), message=message), status


def install(bp: Blueprint) -> None:
    bp.context_processor(lambda: {"when": when})

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on a page")
        return refusal(
            500,
            "internal_error",
            "Something went wrong on our side. It has been logged; "
            "nothing you entered was saved, so try again in a moment.",
        )

    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return refusal(exc.status, exc.code, exc.message, **exc.extra)

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        if status in (404, 405):
            return refusal(404, "not_found", NOT_FOUND)
        if status == 413:
            return refusal(413, "too_large", "That is more than this page accepts at once.")
        return refusal(
            status,
            (exc.name or "error").lower().replace(" ", "_"),
            "That did not work. Nothing was changed: go back and try again.",
        )

    @bp.errorhandler(psycopg.Error)
    def _database_error(exc: psycopg.Error):
        error = sql_error(exc)
        if error is None:
            return _unexpected(exc)
        return refusal(error.status, error.code, error.message, **error.extra)
