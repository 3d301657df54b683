"""Twilio's published OpenAPI description, used as the sandbox's rule book.

Every REST request is checked against the operation's declared parameters before a
handler runs (unknown name, wrong type, enum, pattern, length, range, URL format), and
every resource is shaped from the response schema, so the sandbox cannot drift from
what real Twilio accepts and returns. The file is Twilio's own
(github.com/twilio/twilio-oai); we read it, never edit it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import request

from numeraloop.config import default_project_root
from .errors import invalid_parameter, not_found

SPEC_FILE = "twilio_api_v2010.json"
OAI_DIR_ENV = "NUMERALOOP_TWILIO_OAI_DIR"

# A bad value for these names gets the specific code Twilio uses for it; anything else 20001.
_INVALID_VALUE_CODES = {"To": 21211, "From": 21212, "MediaUrl": 21620, "PhoneNumber": 21421}
_MISSING_CODES = {"To": 21604}


def oai_dir() -> Path:
    """`NUMERALOOP_TWILIO_OAI_DIR`, else `<repo root>/../shared/twilio-oai` (how CI lays it out)."""
    configured = os.environ.get(OAI_DIR_ENV)
    return Path(configured) if configured else default_project_root().parent / "shared" / "twilio-oai"


@functools.lru_cache(maxsize=4)
def load_spec(directory: str | None = None) -> "OpenApi":
    path = Path(directory) if directory else oai_dir()
    spec_path = path / SPEC_FILE
    if not spec_path.is_file():
        raise FileNotFoundError(
            f"Twilio OpenAPI description not found at {spec_path}; set {OAI_DIR_ENV} to the twilio-oai directory"
        )
    with spec_path.open(encoding="utf-8") as fh:
        return OpenApi(json.load(fh))


class OpenApi:
    def __init__(self, document: dict):
        self.document = document
        self.schemas: dict[str, dict] = document["components"]["schemas"]

    # -- lookups -----------------------------------------------------------------------
    def operation(self, path: str, method: str) -> dict:
        return self.document["paths"][path][method.lower()]

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def response_schema(self, path: str, method: str, status: int) -> dict | None:
        response = self.operation(path, method)["responses"].get(str(status), {})
        content = response.get("content", {}).get("application/json")
        return content["schema"] if content else None

    def declared_parameters(self, path: str, method: str) -> dict[str, tuple[dict, bool, str]]:
        """name -> (schema, required, location) for path, query and form parameters."""
        op = self.operation(path, method)
        params = {p["name"]: (p["schema"], bool(p.get("required")), p["in"]) for p in op.get("parameters", [])}
        body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded")
        if body:
            required = set(body["schema"].get("required", []))
            for name, schema in body["schema"]["properties"].items():
                params[name] = (schema, name in required, "form")
        return params

    # -- requests ----------------------------------------------------------------------
    def validate_request(self, path: str, method: str, path_values: dict[str, str], values) -> dict[str, Any]:
        """Check a request against the operation; return its parameters parsed to Python values.

        `values` is a werkzeug MultiDict (query string for GET, form body for POST).
        Array parameters (MediaUrl) come back as lists, scalars as single values.
        """
        declared = self.declared_parameters(path, method)
        for name, value in path_values.items():
            schema = declared[name][0]
            try:
                self._check(schema, value, name)
            except ValueError:
                # Twilio answers a malformed SID in the URL as a resource that does not exist.
                raise not_found(request.path) from None

        parsed: dict[str, Any] = {}
        for name in values.keys():
            if name not in declared or declared[name][2] == "path":
                raise invalid_parameter(f"Unknown parameter: {name}")
            schema = self.resolve(declared[name][0])
            raw = values.getlist(name)
            if schema.get("type") == "array":
                items = self.resolve(schema.get("items", {}))
                parsed[name] = [self._parse(items, v, name) for v in raw]
            elif len(raw) > 1:
                raise invalid_parameter(f"Parameter {name} was given {len(raw)} times; it takes one value")
            else:
                parsed[name] = self._parse(schema, raw[0], name)
        for name, (_schema, required, where) in declared.items():
            if required and where != "path" and name not in parsed:
                code = _MISSING_CODES.get(name, 20001)
                raise invalid_parameter(f"A '{name}' parameter is required", code)
        return parsed

    def _parse(self, schema: dict, raw: str, name: str) -> Any:
        try:
            return self._check(schema, raw, name)
        except ValueError as exc:
            code = _INVALID_VALUE_CODES.get(name)
            fmt = schema.get("format")
            if code is None and fmt == "uri":
                code = 21402
            elif code is None and fmt == "http-method":
                code = 21403
            raise invalid_parameter(f"Invalid value for {name}: {exc}", code or 20001) from None

    def _check(self, schema: dict, raw: str, name: str) -> Any:
        schema = self.resolve(schema)
        kind = schema.get("type", "string")
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
            fmt = schema.get("format")
            if fmt == "http-method":
                # Twilio accepts methods in any case and stores them upper-cased.
                value = raw.upper()
            if "enum" in schema and value not in schema["enum"]:
                raise ValueError(f"{raw!r} is not one of {', '.join(schema['enum'])}")
            if "minLength" in schema and len(value) < schema["minLength"]:
                raise ValueError(f"shorter than {schema['minLength']} characters")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise ValueError(f"longer than {schema['maxLength']} characters")
            if "pattern" in schema and not re.search(schema["pattern"], value):
                raise ValueError(f"{raw!r} does not match {schema['pattern']}")
            ignore_format = schema.get("x-twilio", {}).get("ignoreFormat")
            if fmt == "uri" and value == "" and not ignore_format:
                return None  # Twilio documents an empty URL as "remove this URL"
            if fmt == "uri" and not ignore_format and not _is_http_url(value):
                raise ValueError(f"{raw!r} is not an http(s) URL")
            if fmt == "date-time":
                try:
                    dt.datetime.fromisoformat(value)
                except ValueError:
                    raise ValueError(f"{raw!r} is not an ISO 8601 date-time") from None
            # format phone-number is left to the handlers: a list filter takes partial
            # numbers, while Messages.To gets Twilio's own 21211.
        if kind in {"integer", "number"}:
            if "minimum" in schema and value < schema["minimum"]:
                raise ValueError(f"{value} is below {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                raise ValueError(f"{value} is above {schema['maximum']}")
        return value

    # -- responses ---------------------------------------------------------------------
    def shape(self, schema_name: str, values: dict[str, Any]) -> dict[str, Any]:
        """Every property the schema declares, in its order; absent ones are null.

        A key the schema does not declare is a bug in the sandbox, not data: fail loudly.
        """
        properties = self.schemas[schema_name]["properties"]
        unknown = set(values) - set(properties)
        if unknown:
            raise KeyError(f"{schema_name} has no properties {sorted(unknown)}")
        return {name: values.get(name) for name in properties}


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)

