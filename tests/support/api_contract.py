"""Every /api/v1 response the test suite gets is held against the OpenAPI description.

A pytest plugin (loaded by the root conftest.py). The live servers of the suite
(tests/support/live_server.py) pass their WSGI app through `checked()`, which, while the
plugin is active, reads each /api/v1 response and checks it against
`numeraloop.api.openapi.document()`:

* the method and path are a described operation (a 404 or 405 for an undescribed one is
  the router's answer and is let through);
* the status is one the operation declares;
* the content type is one declared for that status; a JSON body is validated with
  jsonschema (Draft 2020-12, formats asserted) against the declared schema, and a body of
  another type (the export's zip) by its content type only;
* it is not a 500 internal_error: the description declares one, as an unhandled error can
  happen, but none may happen in a test.

A mismatch fails the test phase (setup, call or teardown) during which the response was
given, with what did not match. Every status seen is recorded per operation, so
tests/api/test_openapi.py can check, at the end of a whole-suite run, that each operation
was answered with a 2xx and with an error at least once (one other than 401, when the
operation has other errors to give).
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from numeraloop.api import PREFIX
from numeraloop.api.openapi import document

DOCUMENT_URI = "urn:numeraloop:api-v1-openapi"
SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})
COVERAGE_MARK = "api_coverage"
UNHANDLED = "internal_error"


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class Contract:
    """The description, and what the suite's responses did against it."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.registry = Registry().with_resource(DOCUMENT_URI, Resource(contents=doc, specification=DRAFT202012))
        self.operations: list[tuple[re.Pattern, str, dict]] = []
        for template, item in doc["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            self.operations.append((pattern, template, item))
        # A literal segment wins over a parameter, as in the router (/numbers/import, /numbers/{id}).
        self.operations.sort(key=lambda o: o[1].count("{"))
        self.validators: dict[str, Draft202012Validator] = {}
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.problems: list[str] = []

    def described_operations(self) -> list[tuple[str, str, dict]]:
        return [
            (method.upper(), template, op)
            for _, template, item in self.operations
            for method, op in item.items()
            if isinstance(op, dict) and "responses" in op
        ]

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self.validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": DOCUMENT_URI + "#" + pointer},
                registry=self.registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
            self.validators[pointer] = validator
        return validator

    def find(self, path: str) -> tuple[str, dict] | None:
        relative = path[len(PREFIX) :]
        for pattern, template, item in self.operations:
            if pattern.match(relative):
                return template, item
        return None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
        """What is wrong with this response (nothing: an empty list); records the status as seen."""
        found = self.find(path)
        op = found[1].get(method.lower()) if found else None
        if op is None:
            if status in (404, 405):
                return []
            return [f"{method} {path} answered {status} but is not an operation of the description"]
        template = found[0]
        with self.lock:
            self.seen[(method, template)].add(status)
        where = f"{method} {template} ({path}) answered {status}"
        responses = op["responses"]
        key = next((k for k in (str(status), f"{status // 100}XX", "default") if k in responses), None)
        if key is None:
            return [f"{where}, a status the description does not declare (it declares {', '.join(responses)})"]
        content = responses[key].get("content") or {}
        media_type = content_type.split(";")[0].strip().lower()
        if not content:
            return (
                [] if not body else [f"{where} with a {media_type or 'typeless'} body; the description declares none"]
            )
        if media_type not in content:
            return [f"{where} with content type {media_type!r}; the description declares {', '.join(content)}"]
        if not _is_json(media_type):
            return [] if body else [f"{where} with an empty {media_type} body"]
        try:
            value = json.loads(body)
        except ValueError:
            return [f"{where} with a body that is not JSON: {body[:200]!r}"]
        if status == 500 and isinstance(value, dict) and (value.get("error") or {}).get("code") == UNHANDLED:
            # Declared, since it can happen; but no request a test makes may end in an unhandled error.
            return [f"{where} {UNHANDLED}: an unhandled error (see the captured log); answer a 4xx instead"]
        pointer = _pointer("paths", template, method.lower(), "responses", key, "content", media_type, "schema")
        errors = sorted(self._validator(pointer).iter_errors(value), key=lambda e: list(e.absolute_path))
        return [f"{where}: at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5]]

    def observe(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        problems = self.check(method, path, status, content_type, body)
        if problems:
            excerpt = body[:400].decode("utf-8", "replace")
            with self.lock:
                self.problems.extend(f"{p}\n    body: {excerpt}" for p in problems)

    def take_problems(self) -> list[str]:
        with self.lock:
            taken, self.problems = self.problems, []
        return taken


_active: Contract | None = None


def active() -> Contract | None:
    return _active


def checked(app):
    """The WSGI app, with its /api/v1 responses held against the description while the plugin is active."""

    def wsgi(environ, start_response):
        contract = _active
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "")
        if contract is None or method in SKIPPED_METHODS or not path.startswith(PREFIX + "/"):
            return app(environ, start_response)
        captured: dict = {}
        written: list[bytes] = []

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return written.append

        result = app(environ, capture)
        try:
            body = b"".join(written) + b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        headers = captured["headers"]
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        contract.observe(method, path, int(captured["status"].split()[0]), content_type, body)
        start_response(captured["status"], headers, captured["exc_info"])
        return [body]

    return wsgi


# ---------------------------------------------------------------------------------------
# The plugin


def pytest_configure(config):
    global _active
    config.addinivalue_line(
        "markers", f"{COVERAGE_MARK}: checks what the whole suite did; runs last, and only when the whole suite runs"
    )
    _active = Contract(document())
    config.stash[_deselected_key] = 0


def pytest_unconfigure(config):
    global _active
    _active = None


_deselected_key = pytest.StashKey[int]()
_full_run_key = pytest.StashKey[bool]()


def pytest_deselected(items):
    if items:
        config = items[0].config
        config.stash[_deselected_key] = config.stash.get(_deselected_key, 0) + len(items)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    last = [item for item in items if item.get_closest_marker(COVERAGE_MARK)]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker(COVERAGE_MARK)] + last
    tests_dir = Path(config.rootpath) / "tests"
    every = {p.resolve() for p in tests_dir.rglob("test_*.py")}
    collected = {Path(item.path).resolve() for item in items}
    config.stash[_full_run_key] = (
        every <= collected
        and not config.stash.get(_deselected_key, 0)
        and not config.getoption("keyword")
        and not config.getoption("markexpr")
    )


def whole_suite_ran(config) -> bool:
    """Whether every test file was collected and nothing deselected (so coverage means something)."""
    return config.stash.get(_full_run_key, False)


def _report(item, when: str, outcome_raised: bool) -> None:
    contract = _active
    if contract is None:
        return
    problems = contract.take_problems()
    if not problems:
        return
    text = "\n".join(problems)
    item.add_report_section(when, "api contract", text)
    if not outcome_raised:
        pytest.fail(
            f"/api/v1 answered something its OpenAPI description (numeraloop/api/openapi.py) does not allow:\n{text}",
            pytrace=False,
        )


def _phase(item, when: str):
    try:
        result = yield
    except BaseException:
        _report(item, when, outcome_raised=True)
        raise
    _report(item, when, outcome_raised=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _phase(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _phase(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _phase(item, "teardown"))
