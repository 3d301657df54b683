"""Reading request input: malformed JSON or a wrong type is a clean 400, never a 500.

The web application calls the same route functions with input it has already read from a
form (web/calls.py): `g.api_body` and `g.api_headers` then stand for the JSON body and the
request headers, so a page and /api/v1 share every check.
"""

from __future__ import annotations

from flask import g, request

from ..errors import ApiError


def json_body() -> dict:
    given = g.get("api_body")
    if given is not None:
        return given
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def field(body: dict, name: str, *, required: bool = False, kind: type = str, max_length: int | None = None):
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(422, "missing_field", f"'{name}' is required.", field=name)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(422, "invalid_field", f"'{name}' must be a {kind.__name__}.", field=name)
    if max_length is not None and isinstance(value, str) and len(value) > max_length:
        raise ApiError(422, "invalid_field", f"'{name}' is longer than {max_length} characters.", field=name)
    return value


def workspace_param(body: dict | None = None) -> str | None:
    """workspace_id from the JSON body, the query string, or the X-Workspace-Id header."""
    value = (body or {}).get("workspace_id") or request.args.get("workspace_id") or header("X-Workspace-Id")
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "invalid_workspace_id", "workspace_id must be a UUID string.")
    return value


def header(name: str) -> str | None:
    given = g.get("api_headers")
    if given is not None:
        return given.get(name)
    return request.headers.get(name)
