"""The web application in a real headless Chromium (Debian's, driven by Playwright), against the
service, the Twilio sandbox and the database as the other end-to-end tests run them."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from numeraloop.app import create_app
from numeraloop_local.smtp_catcher import CatcherClient, CatcherServer
from numeraloop_local.supabase_auth import AuthSettings, AuthStandinServer
from tests.support.live_server import serve_factory
from tests.support.tokens import TEST_JWT_SECRET

ANON_KEY = "sb_publishable_numeraloop_web_tests_0123456789"
PASSWORD = "correct horse battery"
SESSION_SECRET = "test-session-secret-0123456789abcdef0123456789"
CHROMIUM_FLAGS = [
    # What a closed network needs: no background connections, no first-run, no GPU.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    return os.environ.get("NUMERALOOP_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def web_mail_server():
    with CatcherServer() as server:
        yield server


@pytest.fixture(scope="session")
def web_mail(web_mail_server) -> CatcherClient:
    return CatcherClient(web_mail_server.url)


@pytest.fixture(scope="session")
def auth_standin(database_url, web_mail_server):
    """Supabase Auth as `make dev` runs it: HS256 with the project's JWT secret, mail to the catcher."""
    settings = AuthSettings(
        database_url=database_url,
        anon_key=ANON_KEY,
        signing="HS256",
        jwt_secret=TEST_JWT_SECRET,
        smtp_url=web_mail_server.smtp_url,
        refresh_token_reuse_interval=10,
        max_frequency=0,
    )
    with AuthStandinServer(settings) as server:
        yield server


@pytest.fixture(scope="session")
def web_config(service_config, auth_standin, web_mail_server):
    return dataclasses.replace(
        service_config,
        session_secret=SESSION_SECRET,
        supabase_url=auth_standin.url,
        supabase_anon_key=ANON_KEY,
        smtp_url=web_mail_server.smtp_url,
    )


@pytest.fixture(scope="session")
def web(web_config, sandbox):
    """The service with its web application, over HTTP on 127.0.0.1."""

    def build(base_url):
        return create_app(dataclasses.replace(web_config, public_base_url=base_url))

    with serve_factory(build) as (base_url, app):
        yield WebApp(base_url, app)
    app.extensions["numeraloop.pool"].close()


@dataclasses.dataclass
class WebApp:
    base_url: str
    app: object

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="session")
def chromium():
    path = chromium_path()
    if not path:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (scripts/install-browser.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser context (its own cookies) and page; console errors fail the test."""
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    # A form answered 400/401/404 is the page saying no in words, which Chromium also logs as a
    # failed load of that document: those, and only those, are not console errors.
    refused_documents: set[str] = set()

    def on_response(response):
        if response.request.is_navigation_request() and response.status >= 400:
            refused_documents.add(response.url)

    def on_console(msg):
        if msg.type != "error":
            return
        if msg.text.startswith("Failed to load resource") and msg.location.get("url") in refused_documents:
            return
        errors.append(f"{msg.text} ({msg.location.get('url')})")

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    yield page
    context.close()
    assert errors == [], f"console errors: {errors}"
