"""Fixtures shared by the service, end-to-end and security tests."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from numeraloop.app import create_app
from numeraloop.config import Config
from tests.support import database as dbsupport
from tests.support.live_server import serve
from tests.support.tokens import TEST_JWT_SECRET, access_token

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
def service_config(database_url) -> Config:
    return dataclasses.replace(
        Config.from_env(env={}),
        database_url=database_url,
        supabase_jwt_secret=TEST_JWT_SECRET,
        encryption_key=TEST_ENCRYPTION_KEY,
        db_pool_max=8,
    )


@pytest.fixture(scope="session")
def service(service_config):
    """The real service over HTTP on 127.0.0.1, against the test database."""
    app = create_app(service_config)
    with serve(app) as base_url:
        yield ServiceClient(base_url)
    app.extensions["numeraloop.pool"].close()


class ServiceClient:
    def __init__(self, base_url: str):
        self.base_url = base_url
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
