"""Twilio's published OpenAPI description of the 2010-04-01 API, read by the contract test only.

The file is Twilio's (github.com/twilio/twilio-oai, spec/json/twilio_api_v2010.json) and is
never committed: it is looked for in NUMERALOOP_TWILIO_OAI_DIR, else in ../shared/twilio-oai
beside the checkout. Without it the tests that need it are skipped, saying where to get it.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

from tests.support.database import ROOT

SPEC_FILE = "twilio_api_v2010.json"
MESSAGING_SPEC_FILE = "twilio_messaging_v1.json"  # Messaging Services (messaging.twilio.com/v1)
OAI_DIR_ENV = "NUMERALOOP_TWILIO_OAI_DIR"


def oai_dir() -> Path:
    configured = os.environ.get(OAI_DIR_ENV)
    return Path(configured) if configured else ROOT.parent / "shared" / "twilio-oai"


def load_or_skip(spec_file: str = SPEC_FILE) -> OpenApi:
    path = oai_dir() / spec_file
    if not path.is_file():
        pytest.skip(
            f"Twilio's OpenAPI description is not at {path}: get {spec_file} from "
            f"https://github.com/twilio/twilio-oai (spec/json) and set {OAI_DIR_ENV} to its folder "
            f"(default ../shared/twilio-oai beside the checkout)"
        )
    return _load(str(path))


@functools.lru_cache(maxsize=2)
def _load(path: str) -> OpenApi:
    with open(path, encoding="utf-8") as fh:
        return OpenApi(json.load(fh))


class OpenApi:
    def __init__(self, document: dict):
        self.document = document
        self.schemas: dict[str, dict] = document["components"]["schemas"]

    def operation(self, path: str, method: str) -> dict | None:
        return self.document["paths"].get(path, {}).get(method.lower())

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def response_schema(self, path: str, method: str, status: int) -> dict | None:
        response = self.operation(path, method)["responses"].get(str(status), {})
        content = response.get("content", {}).get("application/json")
        return content["schema"] if content else None

    def parameters(self, path: str, method: str, where: str) -> dict[str, tuple[dict, bool]]:
        """name -> (resolved schema, required) of the operation's `where` parameters: path, query or form."""
        op = self.operation(path, method)
        if where == "form":
            body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded")
            if not body:
                return {}
            required = set(body["schema"].get("required", []))
            return {
                name: (self.resolve(schema), name in required) for name, schema in body["schema"]["properties"].items()
            }
        return {
            p["name"]: (self.resolve(p["schema"]), bool(p.get("required")))
            for p in op.get("parameters", [])
            if p["in"] == where
        }
