"""Campaign fixtures: drafts written as PostgREST writes them (the admin's role and claims),
audiences of fresh numbers, and a sender with its own pool, as a worker process has."""

from __future__ import annotations

import itertools
import json
import time

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from numeraloop.campaigns.sender import CampaignSender
from numeraloop.db import make_pool
from tests.billing.events import give_workspace_billing
from tests.conftest import Inbox
from tests.support import database as dbsupport

_n = itertools.count(1)


def fresh_number() -> str:
    return f"+1628444{next(_n):04d}"


def create_campaign(database_url: str, user, **columns) -> str:
    """Insert a draft as `user` through the client's grants and RLS; returns its id."""
    names = list(columns)
    statement = sql.SQL("insert into public.campaigns ({}) values ({}) returning id").format(
        sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(sql.Placeholder() * len(names))
    )
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        with conn.transaction():
            conn.execute(
                "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                (json.dumps(user.claims),),
            )
            return str(conn.execute(statement, [columns[n] for n in names]).fetchone()["id"])


def add_contacts(db, workspace_id: str, count: int, tags=(), first_names=None) -> list[str]:
    """`count` contacts with fresh numbers; returns their numbers in order."""
    numbers = [fresh_number() for _ in range(count)]
    for i, number in enumerate(numbers):
        name = first_names[i] if first_names else None
        db.execute(
            "insert into public.contacts (workspace_id, phone_e164, first_name, tags) values (%s, %s, %s, %s)",
            (workspace_id, number, name, list(tags)),
        )
    return numbers


def recipients(db, campaign_id: str) -> dict[str, dict]:
    rows = db.execute(
        "select r.*, m.status as message_status, m.error_code as message_error, m.body, m.source "
        "from public.campaign_recipients r left join public.messages m on m.id = r.message_id "
        "where r.campaign_id = %s",
        (campaign_id,),
    ).fetchall()
    return {r["phone_e164"]: r for r in rows}


def run_until(sender, done, timeout: float = 10.0) -> bool:
    """Run the sender's batches until `done()` holds (True) or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        if not sender.run_once():
            time.sleep(0.05)
    return done()


@pytest.fixture(scope="package")
def inbox(service, sandbox, database_url):
    """One connected workspace with one bought number for every campaign test (the sandbox's stock
    of numbers is finite; each test uses fresh contact numbers and tags instead)."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        user = dbsupport.create_user(conn, "campaigner")
        # These tests send hundreds of messages between them, past free's 250 a month: the
        # workspace is on Pro, recorded through private.apply_stripe_event as the webhook records it.
        give_workspace_billing(conn, user.workspace_id, price="price_numeraloop_pro_monthly")
    account = sandbox.create_account(friendly_name="Campaigns Co")
    r = service.post(
        "/api/v1/twilio/connect",
        user=user,
        json={"workspace_id": user.workspace_id, "account_sid": account["sid"], "auth_token": account["auth_token"]},
    )
    assert r.status_code == 201, r.text
    found = service.get(f"/api/v1/numbers/available?workspace_id={user.workspace_id}&limit=1", user=user).json()[
        "numbers"
    ][0]["phone_number"]
    r = service.post("/api/v1/numbers", user=user, json={"workspace_id": user.workspace_id, "phone_number": found})
    assert r.status_code == 201, r.text
    number = r.json()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A long code sends 1 segment a second; these tests send hundreds, so their number has
        # the throughput Twilio can grant a number (the override admins set).
        conn.execute("update public.phone_numbers set segments_per_second = 1000 where id = %s", (number["id"],))
        # Tests run at any hour: this workspace's campaigns send around the clock (quiet hours
        # have their own tests, with their own clock).
        conn.execute(
            "update public.workspaces set campaign_window_start = '00:00', campaign_window_end = '24:00' where id = %s",
            (user.workspace_id,),
        )
    return Inbox(user=user, account=account, number=number)


@pytest.fixture
def sender_pool(database_url):
    pool = make_pool(database_url, 1, 12)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


@pytest.fixture
def sender(service, sender_pool):
    """A campaign sender configured as the service is (sandbox, key, public URL for StatusCallback)."""
    s = CampaignSender(sender_pool, service.app.config["NUMERALOOP"], batch=50, log_every=25)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _no_campaign_left_running(db):
    """Claims are global: a campaign one test leaves sending must not be sent by the next test's sender."""
    yield
    db.execute(
        "update public.campaigns set status = 'canceled', canceled_at = now() "
        "where status in ('sending', 'scheduled', 'paused')"
    )
