"""GET /healthz and /readyz, and the JSON error contract."""

from __future__ import annotations

import dataclasses
import shutil

import requests

from numeraloop.app import create_app
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
    assert service.get("/healthz", headers={"X-Request-Id": "bad id with spaces;"}).headers["X-Request-Id"] != "bad id with spaces;"


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
