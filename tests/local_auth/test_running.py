"""The two commands as `numeraloop dev` will run them, the settings they read, and the schema the stand-in needs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psycopg
import pytest
import requests
from supabase import create_client

from numeraloop_local.smtp_catcher import CatcherClient
from numeraloop_local.supabase_auth import settings_from_environment
from numeraloop_local.supabase_auth.store import AuthStore

from .conftest import PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def command():
    started = []

    def run(*args, env=None):
        proc = subprocess.Popen(
            [sys.executable, "-m", "numeraloop.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NUMERALOOP_DOTENV": os.devnull, **(env or {})},
        )
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_commands_serve_the_standin_and_the_catcher_together(command, database_url, email):
    smtp_port, http_port, auth_port = free_port(), free_port(), free_port()
    catcher = command("smtp-catcher", "serve", "--smtp-port", str(smtp_port), "--http-port", str(http_port))
    wait_until_up(f"http://127.0.0.1:{http_port}/api/health", catcher)
    anon_key = "sb_publishable_numeraloop_cli_test"
    standin = command(
        "auth-standin",
        "serve",
        "--port",
        str(auth_port),
        env={
            "DATABASE_URL": database_url,
            "SUPABASE_ANON_KEY": anon_key,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "SUPABASE_URL": "",
            "SUPABASE_JWKS_URL": "",
            "SUPABASE_JWT_SECRET": "",
            "NUMERALOOP_AUTH_SIGNING": "",
            "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        },
    )
    wait_until_up(f"http://127.0.0.1:{auth_port}/_standin/health", standin)

    client = create_client(f"http://127.0.0.1:{auth_port}", anon_key)
    assert client.auth.sign_up({"email": email, "password": PASSWORD}).session is not None
    client.auth.reset_password_for_email(email)

    message = CatcherClient(f"http://127.0.0.1:{http_port}").wait_for(to=email)
    assert f"http://127.0.0.1:{auth_port}/auth/v1/verify?token=pkce_" in message["html"]
    jwks = requests.get(f"http://127.0.0.1:{auth_port}/auth/v1/.well-known/jwks.json", timeout=5).json()
    assert jwks["keys"][0]["alg"] == "ES256", "with neither a JWKS URL nor a secret set, it signs ES256"


def test_settings_follow_the_environment_and_the_projects_config_toml(tmp_path):
    (tmp_path / "supabase" / "templates").mkdir(parents=True)
    (tmp_path / "supabase" / "templates" / "recovery.html").write_text("<p>{{ .Token }}</p>")
    config = tmp_path / "supabase" / "config.toml"
    config.write_text("""
[auth]
site_url = "http://127.0.0.1:3000"
additional_redirect_urls = ["http://127.0.0.1:8000/**"]
jwt_expiry = 600
minimum_password_length = 12
[auth.email]
enable_confirmations = true
max_frequency = "5s"
[auth.email.template.recovery]
subject = "Reset it"
content_path = "./supabase/templates/recovery.html"
""")
    env = {"SUPABASE_JWT_SECRET": "x" * 40, "SUPABASE_ANON_KEY": "anon", "SMTP_URL": "smtp://127.0.0.1:2525"}

    settings = settings_from_environment("postgresql://db", env=env, config_toml=config)

    assert settings.signing == "HS256", "only a secret configured: the service verifies HS256"
    assert (settings.site_url, settings.jwt_expiry, settings.minimum_password_length) == (
        "http://127.0.0.1:3000",
        600,
        12,
    )
    assert settings.autoconfirm is False and settings.max_frequency == 5
    assert settings.additional_redirect_urls == ("http://127.0.0.1:8000/**",)
    assert settings.templates == {"recovery": ("Reset it", "<p>{{ .Token }}</p>")}
    assert (
        settings_from_environment(
            "postgresql://db",
            env={**env, "PUBLIC_BASE_URL": "http://web:8000", "SUPABASE_JWKS_URL": "http://a/jwks"},
            config_toml=config,
        ).signing
        == "ES256"
    )
    with pytest.raises(ValueError):
        settings_from_environment("postgresql://db", env={"NUMERALOOP_AUTH_SIGNING": "HS256"})


def test_the_standin_adds_its_tables_to_an_auth_schema_that_predates_them(database_url, es256_standin):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop table auth.flow_state")
    store = AuthStore(database_url)
    try:
        store.ensure_schema()
    finally:
        store.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.execute("select to_regclass('auth.flow_state') is not null").fetchone()[0]
