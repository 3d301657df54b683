"""JSON errors as DESIGN.md fixes them: {"error": {"code", "message"}}, never a stack trace.

The database refuses a request with a SQLSTATE; SQLSTATE_ERRORS turns each one a caller can act
on into the API's status and code, once, for every route (a route that needs a more specific
code catches the error itself first). The message is the database's own (its primary message:
the migrations word theirs for the caller); a DETAIL that is a JSON object may name the code
("code") and, for plan limits, carry limit, used and plan. Any other SQLSTATE is a logged 500
that tells the caller nothing.
"""

from __future__ import annotations

import json
import logging

import psycopg
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# SQLSTATE -> (HTTP status, error code). The P04xx are NumeraLoop's own (`raise ... using errcode`
# in supabase/migrations), their last three digits the HTTP status they mean.
SQLSTATE_ERRORS: dict[str, tuple[int, str]] = {
    "P0402": (402, "plan_limit_reached"),  # a plan limit (seats, monthly messages, phone numbers)
    "P0409": (409, "conflict"),  # conflicts with what is recorded; DETAIL names it (e.g. recipient_opted_out)
    "P0410": (410, "gone"),  # it existed but is no longer usable (an expired or revoked invitation)
    "P0423": (423, "processing_restricted"),  # the account's processing is restricted: nothing sent, called or launched
    "P0429": (429, "too_many_requests"),  # a limit per person or per window; DETAIL names it (request_limit_reached)
    "P0002": (404, "not_found"),  # no_data_found: no such row, or not one the caller may see
    "42501": (403, "forbidden"),  # insufficient_privilege: grants, RLS, a role too low
    "23505": (409, "conflict"),  # unique_violation
    "55000": (409, "wrong_state"),  # object_not_in_prerequisite_state: e.g. a campaign already canceled
    "22023": (422, "invalid_parameter"),  # invalid_parameter_value: the functions' own input checks
    "23503": (400, "invalid_reference"),  # foreign_key_violation: names a row that is not there (or not theirs)
    "23514": (400, "check_violation"),  # a check constraint refused the value
    "23502": (400, "missing_value"),  # not_null_violation
    "22001": (400, "value_too_long"),  # string_data_right_truncation
    "22P02": (400, "invalid_value"),  # invalid_text_representation: e.g. not a UUID
    "22003": (400, "value_out_of_range"),  # numeric_value_out_of_range
    "22007": (400, "invalid_datetime"),  # invalid_datetime_format
    "22008": (400, "invalid_datetime"),  # datetime_field_overflow
}
# Keys of a P0402's DETAIL that the answer carries beside code and message.
PLAN_LIMIT_FIELDS = ("limit", "used", "plan", "remaining", "needed", "period_end")


class ApiError(Exception):
    """An error the caller can act on; raised anywhere in a request, rendered as JSON."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def _detail(exc: psycopg.Error) -> dict:
    try:
        detail = json.loads(exc.diag.message_detail or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def _sentence(text: str | None, fallback: str) -> str:
    text = (text or fallback).strip().rstrip(".")
    return text[0].upper() + text[1:] + "."


def sql_error(exc: psycopg.Error) -> ApiError | None:
    """The API's answer to a database error, by SQLSTATE_ERRORS; None when the caller cannot act on it."""
    known = SQLSTATE_ERRORS.get(exc.sqlstate or "")
    if known is None:
        return None
    status, code = known
    detail = _detail(exc)
    if isinstance(detail.get("code"), str) and detail["code"].isidentifier() and detail["code"].islower():
        code = detail["code"]
    extra = {k: detail[k] for k in PLAN_LIMIT_FIELDS if k in detail} if status == 402 else {}
    return ApiError(status, code, _sentence(exc.diag.message_primary, "the database refused the request"), **extra)


def error_response(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response[0].headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(psycopg.Error)
    def _database_error(exc: psycopg.Error):
        error = sql_error(exc)
        if error is None:
            return _unexpected(exc)
        log.info("the database refused the request: SQLSTATE %s -> %d %s", exc.sqlstate, error.status, error.code)
        return error_response(error.status, error.code, error.message, **error.extra)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Full detail goes to the log with the request id; the caller learns only that it failed.
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side. It has been logged.")
