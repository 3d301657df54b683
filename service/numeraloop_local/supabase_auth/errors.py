"""GoTrue's error responses, in the shape the caller's API version asks for.

A client that sends `X-Supabase-Api-Version: 2024-01-01` (supabase-py and supabase-js do)
gets `{"code": "<error code>", "message": ...}` and the header echoed back; without it,
GoTrue's first shape `{"code": <status>, "error_code": ..., "msg": ...}`. supabase-py reads
the error code from `code` only when the response carries that header, so the echo matters.
Weak passwords add `weak_password: {"reasons": [...]}`.

The API gateway in front of GoTrue answers missing or wrong `apikey`s with its own shape
(`{"message", "hint"}`), reproduced by `ApiKeyError`.
"""

from __future__ import annotations

import re

from flask import Response, jsonify, request

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024_01_01 = "2024-01-01"
_DATE = re.compile(r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")

INVALID_LOGIN = "Invalid login credentials"


def request_api_version() -> str | None:
    """The newest API version the request's header allows, or None for GoTrue's initial one."""
    value = request.headers.get(API_VERSION_HEADER, "").strip()
    if _DATE.match(value) and value >= API_VERSION_2024_01_01:
        return API_VERSION_2024_01_01
    return None


class GoTrueError(Exception):
    def __init__(self, status: int, code: str, message: str, reasons: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.reasons = status, code, message, reasons

    def response(self) -> Response:
        version = request_api_version()
        if version:
            body: dict = {"code": self.code, "message": self.message}
        else:
            body = {"code": self.status, "error_code": self.code, "msg": self.message}
        if self.reasons is not None:
            body["weak_password"] = {"reasons": self.reasons}
        resp = jsonify(body)
        resp.status_code = self.status
        resp.headers["x-sb-error-code"] = self.code
        if version:
            resp.headers[API_VERSION_HEADER] = version
        return resp


def bad_request(code: str, message: str) -> GoTrueError:
    return GoTrueError(400, code, message)


def validation(message: str) -> GoTrueError:
    return GoTrueError(400, "validation_failed", message)


def forbidden(code: str, message: str) -> GoTrueError:
    return GoTrueError(403, code, message)


def unprocessable(code: str, message: str) -> GoTrueError:
    return GoTrueError(422, code, message)


def weak_password(message: str, reasons: list[str]) -> GoTrueError:
    return GoTrueError(422, "weak_password", message, reasons)


def invalid_credentials() -> GoTrueError:
    return GoTrueError(400, "invalid_credentials", INVALID_LOGIN)


class ApiKeyError(Exception):
    """The gateway's refusal: no key, or not one of the project's."""

    def __init__(self, missing: bool):
        super().__init__("missing apikey" if missing else "invalid apikey")
        self.missing = missing

    def response(self) -> Response:
        if self.missing:
            body = {
                "message": "No API key found in request",
                "hint": "No `apikey` request header or url param was found.",
            }
        else:
            body = {
                "message": "Invalid API key",
                "hint": "Double check your Supabase `anon` or `service_role` API key.",
            }
        resp = jsonify(body)
        resp.status_code = 401
        return resp
