"""The web application in a real headless Chromium (Debian's, driven by Playwright), against the
service, the Twilio sandbox and the database as the other end-to-end tests run them."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from numeraloop.app import create_app
from tests.support.live_server import serve_factory

SESSION_SECRET = "test-session-secret-0123456789abcdef0123456789"
CHROMIUM_FLAGS = [
    # What a closed network needs: no background connections, no first-run, no GPU.
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    return os.environ.get("NUMERALOOP_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def web_config(service_config):
    return dataclasses.replace(service_config, session_secret=SESSION_SECRET)


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
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    yield page
    context.close()
    assert errors == [], f"console errors: {errors}"
