"""The OpenAPI description of /api/v1: a valid 3.1 document, served without a token, describing
every route (and only routes that exist), every error code the API modules raise, and, at the
end of a whole-suite run, answered by the suite with a 2xx and an error for every operation."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from numeraloop.api import PREFIX
from numeraloop.api.openapi import TWILIO_CODE_PATTERN, document
from tests.support import api_contract

SERVICE_DIR = Path(__file__).resolve().parents[2] / "service" / "numeraloop"
DESCRIPTION_PATH = "/openapi.json"
# Modules only Twilio's and Stripe's webhooks (and the web application) run: their errors are not /api/v1's.
NOT_API = {
    "twilio/signature.py",
    "twilio/webhooks.py",
    "stripe/signature.py",
    "stripe/webhooks.py",
    "billing/webhook.py",
    "messaging/inbound.py",
    "messaging/status.py",
    "voice/inbound.py",
    "voice/status.py",
    "voice/whisper.py",
    "voice/browser.py",
}


@pytest.fixture
def app(service):
    """The application the suite serves, so its url_map is the one the tests talk to."""
    return service.app


def api_rules(app) -> set[tuple[str, str]]:
    """(METHOD, path template as the description writes it) of every /api/v1 rule."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
        found |= {(method, template) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def described(doc: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }


def test_the_description_is_a_valid_openapi_3_1_document():
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    validate(doc)  # raises with the first problem found


def test_every_api_route_is_described_and_nothing_else(app):
    rules, doc = api_rules(app), described(document())
    assert rules - doc == set(), "routes in app.url_map that the description lacks"
    assert doc - rules == set(), "operations in the description that no route serves"


def test_path_parameters_are_the_routes():
    doc = document()
    for path, item in doc["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in item.items():
            declared = set()
            for p in op.get("parameters", []):
                if "$ref" in p:
                    p = doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
                if p["in"] == "path":
                    declared.add(p["name"])
            assert declared == names, f"{method.upper()} {path}"


def test_every_operation_declares_its_errors_with_codes():
    doc = document()
    for method, path in described(doc):
        if path == DESCRIPTION_PATH:
            continue
        op = doc["paths"][path][method.lower()]
        errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
        assert {"401", "500"} <= set(errors), f"{method} {path}"
        for status, response in errors.items():
            code = response["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"]
            enum = code.get("enum") or code["anyOf"][0]["enum"]
            assert enum and all(re.fullmatch(r"[a-z][a-z0-9_]*", c) for c in enum), f"{method} {path} {status}"


def raised_codes() -> set[tuple[int, str]]:
    """(status, code) of every error the modules /api/v1 runs raise with a literal status and code."""
    pattern = re.compile(r"(?:ApiError|CsvImportError|super\(\).__init__)\(\s*(\d{3}),\s*\"([a-z_0-9]+)\"")
    found = set()
    for source in SERVICE_DIR.rglob("*.py"):
        relative = source.relative_to(SERVICE_DIR).as_posix()
        if relative in NOT_API or relative.startswith("web/"):
            continue
        found |= {(int(s), c) for s, c in pattern.findall(source.read_text(encoding="utf-8"))}
    return found


def declared_codes(doc: dict) -> set[tuple[int, str]]:
    found = set()
    for item in doc["paths"].values():
        for op in item.values():
            for status, response in op["responses"].items():
                if int(status) < 400:
                    continue
                code = response["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"]
                found |= {(int(status), c) for c in (code.get("enum") or code["anyOf"][0]["enum"])}
    return found


def test_every_error_the_api_raises_is_described():
    raised = raised_codes()
    assert (409, "twilio_not_connected") in raised and (503, "credentials_unavailable") in raised  # the scan works
    assert raised - declared_codes(document()) == set(), "errors raised in API code that no operation declares"


def test_the_description_is_served_without_a_token(service, make_user, db):
    expected = document()
    anonymous = service.get(PREFIX + DESCRIPTION_PATH)
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.headers["Content-Type"].startswith("application/json")
    assert anonymous.json() == expected
    # A token, good or bad, changes nothing, and reading the description is not an API call to log.
    user = make_user()
    assert service.get(PREFIX + DESCRIPTION_PATH, token="not-a-token").json() == expected
    assert service.get(PREFIX + DESCRIPTION_PATH, user=user).status_code == 200
    logged = db.execute(
        "select count(*) as n from public.access_log where route like %s", ("%" + DESCRIPTION_PATH,)
    ).fetchone()["n"]
    assert logged == 0


def test_every_other_api_route_still_needs_a_token(service, app):
    for method, template in sorted(api_rules(app)):
        if template == DESCRIPTION_PATH:
            continue
        path = PREFIX + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
        r = service.request(method, path)
        assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == "missing_token", f"{method} {path}"


# ---------------------------------------------------------------------------------------
# The check every /api/v1 response of the suite goes through (tests/support/api_contract.py)


@pytest.fixture
def contract():
    return api_contract.Contract(document())


def problems(contract, method, path, status, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return contract.check(method, PREFIX + path, status, content_type, data)


def test_the_check_accepts_what_the_description_says(contract):
    me = {
        "profile": {"id": str(uuid.uuid4()), "email": None, "full_name": "", "age_confirmed_at": None},
        "workspaces": [{"id": str(uuid.uuid4()), "name": "Mine", "is_personal": True, "role": "owner"}],
    }
    assert problems(contract, "GET", "/me", 200, me) == []
    assert problems(contract, "GET", "/me", 401, {"error": {"code": "missing_token", "message": "m"}}) == []
    assert (
        problems(
            contract,
            "GET",
            "/numbers/available",
            400,
            {"error": {"code": "twilio_21452", "message": "m", "twilio_code": 21452}},
        )
        == []
    )
    assert problems(contract, "GET", "/me/export", 200, b"PK\x03\x04...", "application/zip") == []
    assert problems(contract, "GET", "/nowhere", 404, {"error": {"code": "not_found", "message": "m"}}) == []
    assert contract.seen[("GET", "/me")] == {200, 401}


def test_the_check_finds_what_the_description_does_not_allow(contract):
    def one(*args, **kw):
        found = problems(contract, *args, **kw)
        assert len(found) == 1, found
        return found[0]

    assert "does not declare" in one("GET", "/me", 418, {"error": {"code": "teapot", "message": "m"}})
    assert "'forbidden' is not one of" in one("GET", "/me", 401, {"error": {"code": "forbidden", "message": "m"}})
    assert "'message' is a required property" in one("GET", "/me", 401, {"error": {"code": "missing_token"}})
    assert "content type 'text/html'" in one("GET", "/me", 200, b"<html>", "text/html")
    assert "not JSON" in one("GET", "/me", 200, b"{nope")
    assert "is not of type 'array'" in one("GET", "/me", 200, {"profile": None, "workspaces": {}})
    assert "Additional properties" in one("GET", "/me", 200, {"profile": None, "workspaces": [], "extra": 1})
    assert "is not a 'uuid'" in one(
        "GET",
        "/me",
        200,
        {"profile": None, "workspaces": [{"id": "nope", "name": "n", "is_personal": False, "role": "agent"}]},
    )
    assert "not an operation" in one("PUT", "/me", 200, {})
    assert "unhandled error" in one("GET", "/me", 500, {"error": {"code": "internal_error", "message": "m"}})
    assert not re.fullmatch(TWILIO_CODE_PATTERN, "twilio_")
    assert "is not valid" in one("POST", "/messages", 400, {"error": {"code": "twilio_", "message": "m"}})


# ---------------------------------------------------------------------------------------
# At the end of a whole-suite run


@pytest.mark.api_coverage
def test_every_operation_was_answered_with_a_2xx_and_an_error(request):
    if not api_contract.whole_suite_ran(request.config):
        pytest.skip("counts what the whole suite did; runs only when every test file runs with nothing deselected")
    contract = api_contract.active()
    gaps = []
    for method, path, op in sorted(contract.described_operations()):
        seen = contract.seen.get((method, path), set())
        statuses = [int(s) for s in op["responses"]]
        if any(s < 300 for s in statuses) and not any(s < 300 for s in seen):
            gaps.append(f"{method} {path}: no 2xx answer (seen: {sorted(seen) or 'none'})")
        # Every operation answers 401 to the token test above; one that can refuse otherwise must be seen to.
        errors = {s for s in statuses if 400 <= s < 500 and s != 401} or {s for s in statuses if s >= 400}
        if errors and not seen & errors:
            gaps.append(f"{method} {path}: none of the errors {sorted(errors)} (seen: {sorted(seen) or 'none'})")
    assert not gaps, "operations the suite never exercised so:\n" + "\n".join(gaps)
