"""Fixtures shared by the service, end-to-end and security tests."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from numeraloop.app import create_app
from numeraloop.config import Config
from numeraloop_local.twilio_sandbox.client import SandboxControl
from numeraloop_local.twilio_sandbox.server import SandboxServer
from tests.support import database as dbsupport
from tests.support.live_server import serve_factory
from tests.support.tokens import TEST_JWT_SECRET, TEST_SUPABASE_URL, access_token

TEST_ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef0123456789abcdef"


@pytest.fixture
def db(database_url):
    """A superuser connection (autocommit) for arranging data and checking what was stored."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def make_user(db):
    def _make(handle: str = "user", full_name: str | None = None) -> dbsupport.User:
        return dbsupport.create_user(db, handle, full_name)

    return _make


@pytest.fixture(scope="session")
def twilio_sandbox():
    """The project's Twilio sandbox on a free loopback port, with fast status callbacks."""
    with SandboxServer(step_delay=0.01) as server:
        yield server


@pytest.fixture(scope="session")
def sandbox(twilio_sandbox) -> SandboxControl:
    return SandboxControl(twilio_sandbox.url)


@pytest.fixture(scope="session")
def service_config(database_url, twilio_sandbox) -> Config:
    return dataclasses.replace(
        Config.from_env(env={"NUMERALOOP_ENV": "test"}),
        database_url=database_url,
        supabase_url=TEST_SUPABASE_URL,
        supabase_jwt_secret=TEST_JWT_SECRET,
        encryption_key=TEST_ENCRYPTION_KEY,
        twilio_api_base_url=twilio_sandbox.url,
        db_pool_max=8,
    )


@pytest.fixture(scope="session")
def service(service_config, sandbox):
    """The real service over HTTP on 127.0.0.1, against the test database and the sandbox."""

    def build(base_url):
        return create_app(dataclasses.replace(service_config, public_base_url=base_url))

    with serve_factory(build) as (base_url, app):
        yield ServiceClient(base_url, app)
        sandbox.wait_idle(timeout=5)  # let in-flight status callbacks land before the service goes
    app.extensions["numeraloop.pool"].close()


@pytest.fixture
def twilio_account(sandbox):
    """A fresh account in the sandbox: {"sid", "auth_token", "friendly_name"}."""
    return sandbox.create_account(friendly_name="Acme Plumbing")


@pytest.fixture
def connected_user(service, make_user, twilio_account):
    """A user whose personal workspace has the sandbox account connected through the API."""
    user = make_user("owner")
    r = service.post(
        "/api/v1/twilio/connect",
        user=user,
        json={
            "workspace_id": user.workspace_id,
            "account_sid": twilio_account["sid"],
            "auth_token": twilio_account["auth_token"],
        },
    )
    assert r.status_code == 201, r.text
    return user


class ServiceClient:
    def __init__(self, base_url: str, app=None):
        self.base_url = base_url
        self.app = app
        self.http = requests.Session()

    def request(self, method: str, path: str, user=None, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if user is not None:
            token = access_token(user.id)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, headers=headers, timeout=15, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def inbox(service, connected_user, twilio_account, sandbox):
    """A connected workspace with one bought number: what messaging tests start from."""
    found = service.get(
        f"/api/v1/numbers/available?workspace_id={connected_user.workspace_id}&limit=1", user=connected_user
    ).json()["numbers"][0]["phone_number"]
    r = service.post(
        "/api/v1/numbers",
        user=connected_user,
        json={"workspace_id": connected_user.workspace_id, "phone_number": found},
    )
    assert r.status_code == 201, r.text
    return Inbox(user=connected_user, account=twilio_account, number=r.json())


@dataclasses.dataclass
class Inbox:
    user: object
    account: dict
    number: dict

    @property
    def workspace_id(self) -> str:
        return self.user.workspace_id

    @property
    def e164(self) -> str:
        return self.number["e164"]
