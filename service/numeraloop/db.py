"""Database access: one pool per process, and transactions that run as a caller.

Work done for an API caller runs as that caller, exactly as PostgREST does it: inside a
transaction, `role` is set to `authenticated` and `request.jwt.claims` to the verified
token's claims, so RLS guards the service just as it guards the web client. Work done for
Twilio and Stripe webhooks, or the worker, runs as `service_role` and goes through SQL
functions that check what they need.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from flask import current_app
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

POOL_KEY = "numeraloop.pool"


def current_pool() -> ConnectionPool:
    """The pool of the application handling this request (set up by create_app)."""
    return current_app.extensions[POOL_KEY]


def make_pool(
    database_url: str, min_size: int = 1, max_size: int = 10, open_now: bool = False, check: bool = False
) -> ConnectionPool:
    """`check`: test each connection as it is handed out (one round trip) and replace it if the
    server has dropped it, so the first use after a database restart does not fail."""
    # Not opened at construction: an app factory must not block on, or fail for, a database
    # that is still coming up; /readyz reports that instead.
    pool = ConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        open=False,
        name="numeraloop",
        timeout=10,
        check=ConnectionPool.check_connection if check else None,
    )
    if open_now:
        pool.open(wait=False)
    return pool


@contextmanager
def transaction_as(
    pool: ConnectionPool, role: str, claims: Mapping[str, Any] | None = None
) -> Iterator[psycopg.Connection]:
    """A transaction whose role and JWT claims are set as PostgREST sets them for a request."""
    if role not in {"authenticated", "anon", "service_role"}:
        raise ValueError(f"unexpected database role {role!r}")
    with pool.connection() as conn:
        with conn.transaction():
            conn.execute(
                "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                (role, json.dumps(dict(claims or {"role": role}))),
            )
            yield conn


@contextmanager
def as_user(pool: ConnectionPool, claims: Mapping[str, Any]) -> Iterator[psycopg.Connection]:
    with transaction_as(pool, "authenticated", claims) as conn:
        yield conn


@contextmanager
def as_service(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    with transaction_as(pool, "service_role", {"role": "service_role"}) as conn:
        yield conn
