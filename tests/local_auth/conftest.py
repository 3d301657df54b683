"""The Supabase Auth stand-in and the SMTP catcher, on free loopback ports, over the test database.

Tests drive the stand-in with the official `supabase` client the way the web application does:
one client per browser session, server-side, without the client's own refresh timer.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
from supabase import ClientOptions, create_client

from numeraloop_local.smtp_catcher import CatcherClient, CatcherServer
from numeraloop_local.supabase_auth import AuthSettings, AuthStandinServer
from tests.support.tokens import TEST_JWT_SECRET

ANON_KEY = "sb_publishable_numeraloop_tests_0123456789"
SITE_URL = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def catcher():
    with CatcherServer() as server:
        yield server


@pytest.fixture(scope="session")
def mail(catcher) -> CatcherClient:
    return CatcherClient(catcher.url)


@pytest.fixture(scope="session")
def standin_settings(database_url, catcher):
    def build(signing: str = "ES256", **overrides) -> AuthSettings:
        values = dict(
            database_url=database_url,
            anon_key=ANON_KEY,
            signing=signing,
            jwt_secret=TEST_JWT_SECRET,
            smtp_url=catcher.smtp_url,
            site_url=SITE_URL,
            refresh_token_reuse_interval=0,
            max_frequency=0,
        )
        values.update(overrides)
        return AuthSettings(**values)

    return build


@pytest.fixture(scope="session")
def start_standin(standin_settings):
    """`with start_standin("HS256", autoconfirm=False) as server:` a stand-in of its own."""

    @contextlib.contextmanager
    def start(signing: str = "ES256", **overrides):
        with AuthStandinServer(standin_settings(signing, **overrides)) as server:
            yield server

    return start


@pytest.fixture(scope="session")
def es256_standin(start_standin):
    with start_standin("ES256") as server:
        yield server


@pytest.fixture(scope="session")
def hs256_standin(start_standin):
    with start_standin("HS256") as server:
        yield server


@pytest.fixture(params=["ES256", "HS256"])
def standin(request, es256_standin, hs256_standin):
    """Each test using it runs against both signing modes."""
    return es256_standin if request.param == "ES256" else hs256_standin


def new_client(server, key: str = ANON_KEY, **options):
    """A `supabase` client as the web application creates it: server-side, no refresh timer."""
    return create_client(server.url, key, options=ClientOptions(auto_refresh_token=False, **options))


@pytest.fixture
def client_for():
    return new_client


@pytest.fixture
def email():
    return f"user-{uuid.uuid4().hex[:10]}@example.test"
