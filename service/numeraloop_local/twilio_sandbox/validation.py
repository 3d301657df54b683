"""Requests checked and resources shaped from the sandbox's description of Twilio's API.

Every REST request is checked against its operation's parameters before a handler runs
(unknown name, wrong type, enum, pattern, length, range, URL format), and every resource
is shaped from its field list, so responses carry exactly Twilio's keys in Twilio's order.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from flask import request

from .description import RESOURCES, Operation, Param
from .errors import invalid_parameter, not_found

# A bad value for these names gets the specific code Twilio uses for it; anything else 20001.
_INVALID_VALUE_CODES = {"To": 21211, "From": 21212, "MediaUrl": 21620, "PhoneNumber": 21421}
_MISSING_CODES = {"To": 21604}
_FORMAT_CODES = {"uri": 21402, "http-method": 21403}


def validate_request(op: Operation, path_values: dict[str, str], values) -> dict[str, Any]:
    """Check a request against the operation; return its parameters parsed to Python values.

    `values` is a werkzeug MultiDict (query string for GET, form body for POST). Repeated
    parameters (MediaUrl) come back as lists, the others as single values.
    """
    for name, value in path_values.items():
        try:
            _check(op.path_params[name], value)
        except ValueError:
            # Twilio answers a malformed SID in the URL as a resource that does not exist.
            raise not_found(request.path) from None

    parsed: dict[str, Any] = {}
    for name in values.keys():
        param = op.params.get(name)
        if param is None:
            raise invalid_parameter(f"Unknown parameter: {name}")
        raw = values.getlist(name)
        if param.many:
            parsed[name] = [_parse(param, v, name) for v in raw]
        elif len(raw) > 1:
            raise invalid_parameter(f"Parameter {name} was given {len(raw)} times; it takes one value")
        else:
            parsed[name] = _parse(param, raw[0], name)
    for name, param in op.params.items():
        if param.required and name not in parsed:
            raise invalid_parameter(f"A '{name}' parameter is required", _MISSING_CODES.get(name, 20001))
    return parsed


def shape(resource: str, values: dict[str, Any]) -> dict[str, Any]:
    """Every field of the resource, in Twilio's order; absent ones are null.

    A key the resource does not have is a bug in the sandbox, not data: fail loudly.
    """
    fields = RESOURCES[resource]
    unknown = set(values) - set(fields)
    if unknown:
        raise KeyError(f"{resource} has no fields {sorted(unknown)}")
    return {name: values.get(name) for name in fields}


def _parse(param: Param, raw: str, name: str) -> Any:
    try:
        return _check(param, raw)
    except ValueError as exc:
        code = _INVALID_VALUE_CODES.get(name) or _FORMAT_CODES.get(param.format or "", 20001)
        raise invalid_parameter(f"Invalid value for {name}: {exc}", code) from None


def _check(param: Param, raw: str) -> Any:
    kind = param.type
    if kind == "integer":
        try:
            value: Any = int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not an integer") from None
    elif kind == "number":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
    elif kind == "boolean":
        # twilio-python sends "true"/"false"; Twilio accepts either case.
        if raw.lower() not in {"true", "false"}:
            raise ValueError(f"{raw!r} is not true or false")
        value = raw.lower() == "true"
    else:
        value = raw
        fmt = param.format
        if fmt == "http-method":
            # Twilio accepts methods in any case and stores them upper-cased.
            value = raw.upper()
        if param.enum and value not in param.enum:
            raise ValueError(f"{raw!r} is not one of {', '.join(param.enum)}")
        if param.min_length is not None and len(value) < param.min_length:
            raise ValueError(f"shorter than {param.min_length} characters")
        if param.max_length is not None and len(value) > param.max_length:
            raise ValueError(f"longer than {param.max_length} characters")
        if param.pattern is not None and not re.search(param.pattern, value):
            raise ValueError(f"{raw!r} does not match {param.pattern}")
        if fmt == "uri" and value == "":
            return None  # Twilio documents an empty URL as "remove this URL"
        if fmt == "uri" and not _is_http_url(value):
            raise ValueError(f"{raw!r} is not an http(s) URL")
        if fmt == "date-time":
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{raw!r} is not an ISO 8601 date-time") from None
    if kind in {"integer", "number"}:
        if param.minimum is not None and value < param.minimum:
            raise ValueError(f"{value} is below {param.minimum}")
        if param.maximum is not None and value > param.maximum:
            raise ValueError(f"{value} is above {param.maximum}")
    return value


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)
