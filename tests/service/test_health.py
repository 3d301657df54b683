"""GET /healthz and /readyz, and the JSON error contract."""

from __future__ import annotations

import dataclasses
import shutil
import socket

import pytest
import requests
from flask import Flask

from numeraloop.app import create_app
from numeraloop.config import Config, ConfigError
from tests.support.database import ROOT
from tests.support.live_server import serve


def test_healthz(service):
    r = service.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["X-Request-Id"]


def test_readyz_when_every_migration_is_applied(service):
    r = service.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"


def test_readyz_names_missing_migrations(service_config, tmp_path):
    migrations_dir = tmp_path / "migrations"
    shutil.copytree(ROOT / "supabase" / "migrations", migrations_dir)
    (migrations_dir / "29990101000000_from_the_future.sql").write_text("select 1;")
    app = create_app(dataclasses.replace(service_config, migrations_dir=migrations_dir))
    with serve(app) as url:
        r = requests.get(url + "/readyz", timeout=10)
    app.extensions["numeraloop.pool"].close()
    assert r.status_code == 503
    assert r.json()["missing_migrations"] == ["29990101000000_from_the_future.sql"]


def test_readyz_when_database_is_unreachable(service_config):
    app = create_app(dataclasses.replace(service_config, database_url="postgresql://postgres@127.0.0.1:1/nowhere"))
    with serve(app) as url:
        r = requests.get(url + "/readyz", timeout=15)
    app.extensions["numeraloop.pool"].close(timeout=1)
    assert r.status_code == 503
    assert r.json()["database"] == "unreachable"


def test_unknown_path_and_wrong_method_are_json(service):
    r = service.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = service.request("DELETE", "/healthz")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_unexpected_error_is_json_without_stack_trace(service_config, caplog):
    app = create_app(service_config)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    with serve(app) as url:
        r = requests.get(url + "/boom", timeout=10)
    app.extensions["numeraloop.pool"].close()
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "secret internal detail" not in r.text
    assert "Traceback" not in r.text
    assert any("unhandled error" in rec.getMessage() for rec in caplog.records)


def test_request_id_is_echoed_when_safe(service):
    assert service.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    assert (
        service.get("/healthz", headers={"X-Request-Id": "bad id with spaces;"}).headers["X-Request-Id"]
        != "bad id with spaces;"
    )


def test_proxy_fix_trusts_forwarded_headers_only_when_configured(service_config):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.numeraloop.example"}
    seen = {}
    for hops in (0, 1):
        app = create_app(dataclasses.replace(service_config, proxy_fix_hops=hops))

        @app.get("/where")
        def where():
            from flask import request

            return {"url": request.url}

        seen[hops] = app.test_client().get("/where", headers=headers).get_json()["url"]
        app.extensions["numeraloop.pool"].close()
    assert seen[0].startswith("http://localhost/")
    assert seen[1] == "https://api.numeraloop.example/where"


@pytest.fixture
def dependency():
    """A stand-in for something the service may be told to wait for: answers what the test sets."""
    answer = {"status": 503}
    app = Flask("dependency")

    @app.get("/health")
    def health():
        return {"ok": answer["status"] == 200}, answer["status"]

    with serve(app) as url:
        yield url + "/health", answer


def test_readyz_waits_for_every_configured_dependency(service_config, dependency):
    url, answer = dependency
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}/health"
    config = dataclasses.replace(service_config, ready_dependencies=(("stand-in", url), ("worker", nowhere)))
    app = create_app(config)
    try:
        with serve(app) as base:
            r = requests.get(base + "/readyz", timeout=15)
            assert r.status_code == 503
            assert r.json() == {
                "status": "unavailable",
                "database": "ok",
                "dependencies": {"stand-in": "http 503", "worker": "unreachable"},
            }
            answer["status"] = 200
            r = requests.get(base + "/readyz", timeout=15)
            assert r.status_code == 503 and r.json()["dependencies"] == {"stand-in": "ok", "worker": "unreachable"}
        app.extensions["numeraloop.pool"].close()
        app = create_app(dataclasses.replace(config, ready_dependencies=(("stand-in", url),)))
        with serve(app) as base:
            r = requests.get(base + "/readyz", timeout=15)
        assert r.status_code == 200
        assert r.json() == {"status": "ready", "database": "ok", "dependencies": {"stand-in": "ok"}}
    finally:
        app.extensions["numeraloop.pool"].close()


def test_readiness_depends_on_nothing_but_the_database_unless_configured():
    assert Config.from_env(env={}).ready_dependencies == ()
    configured = Config.from_env(
        env={
            "NUMERALOOP_READY_DEPENDENCIES": " sandbox=http://127.0.0.1:8010/_sandbox/health, worker=http://127.0.0.1:8030/healthz"
        }
    )
    assert configured.ready_dependencies == (
        ("sandbox", "http://127.0.0.1:8010/_sandbox/health"),
        ("worker", "http://127.0.0.1:8030/healthz"),
    )
    for bad in ("http://127.0.0.1:8010/health", "sandbox=", "=http://x", "sandbox=ftp://x"):
        with pytest.raises(ConfigError, match="NUMERALOOP_READY_DEPENDENCIES"):
            Config.from_env(env={"NUMERALOOP_READY_DEPENDENCIES": bad})
