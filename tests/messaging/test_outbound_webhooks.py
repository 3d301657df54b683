"""Outbound webhooks: queued by the inbound/status path, delivered signed by the worker, retried."""

from __future__ import annotations

import json
import time

import pytest

from numeraloop.outbound_webhooks import signing
from numeraloop.outbound_webhooks.worker import WebhookWorker
from tests.support.receiver import Receiver


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def worker(service):
    w = WebhookWorker(service.app.extensions["numeraloop.pool"], allow_private_targets=True)
    yield w
    w.close()


def add_endpoint(db, workspace_id, url, events=("message.received", "message.status")):
    return db.execute("insert into public.webhook_endpoints (workspace_id, url, events) values (%s, %s, %s) "
                      "returning id, secret", (workspace_id, url, list(events))).fetchone()


def drain(worker, rounds=5):
    return sum(worker.run_once() for _ in range(rounds))


def test_message_received_is_delivered_signed_outside_the_twilio_request(inbox, sandbox, db, receiver, worker):
    endpoint = add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    drain(worker)  # nothing queued for this endpoint yet
    receiver.received.clear()
    assert sandbox.inject_sms("+16285559001", inbox.e164, "ping")["status"] == 200
    assert receiver.received == [], "the Twilio request never waits for outbound webhooks"
    assert drain(worker) >= 1
    hits = [h for h in receiver.received if h["headers"].get("NumeraLoop-Event") == "message.received"]
    assert len(hits) == 1
    hit = hits[0]
    assert signing.verify(endpoint["secret"], hit["body"], hit["headers"][signing.HEADER])
    assert not signing.verify("whsec_wrong", hit["body"], hit["headers"][signing.HEADER])
    payload = json.loads(hit["body"])
    assert payload["type"] == "message.received" and payload["workspace_id"] == inbox.workspace_id
    assert "ping" in json.dumps(payload["data"])


def test_failed_delivery_is_retried_later_with_backoff(inbox, sandbox, db, receiver, worker):
    add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    drain(worker)
    receiver.status = 500
    sandbox.inject_sms("+16285559002", inbox.e164, "retry me")
    drain(worker)
    row = db.execute("select attempts, delivered_at, dead, last_status_code, next_attempt_at > now() as later "
                     "from public.webhook_deliveries where workspace_id = %s order by id desc limit 1",
                     (inbox.workspace_id,)).fetchone()
    assert row["attempts"] == 1 and row["delivered_at"] is None and not row["dead"]
    assert row["last_status_code"] == 500 and row["later"]
    # Due again (as if the backoff had passed): the endpoint recovered, delivery succeeds.
    receiver.status = 204
    db.execute("update public.webhook_deliveries set next_attempt_at = now() where workspace_id = %s",
               (inbox.workspace_id,))
    drain(worker)
    assert db.execute("select delivered_at is not null as ok from public.webhook_deliveries where workspace_id = %s "
                      "order by id desc limit 1", (inbox.workspace_id,)).fetchone()["ok"]


def test_status_events_reach_subscribed_endpoints(service, inbox, db, receiver, worker, sandbox):
    add_endpoint(db, inbox.workspace_id, receiver.url, ["message.status"])
    drain(worker)
    receiver.received.clear()
    r = service.post("/api/v1/messages", user=inbox.user,
                     json={"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": "+16285559003", "body": "hi"})
    assert r.status_code == 201
    assert sandbox.wait_idle()
    statuses = []
    for _ in range(50):  # the last callback's event may be committed just after wait_idle returns
        drain(worker, rounds=1)
        statuses = [json.loads(h["body"])["data"]["message"]["status"] for h in receiver.received]
        if "delivered" in statuses:
            break
        time.sleep(0.05)
    assert "delivered" in statuses
    assert all(h["headers"]["NumeraLoop-Event"] == "message.status" for h in receiver.received)


def test_private_targets_are_refused_unless_allowed(service, inbox, sandbox, db, receiver):
    add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    strict = WebhookWorker(service.app.extensions["numeraloop.pool"])  # production default
    try:
        sandbox.inject_sms("+16285559004", inbox.e164, "to a private address")
        drain(strict)
    finally:
        strict.close()
    assert receiver.received == []
    row = db.execute("select last_error, delivered_at from public.webhook_deliveries where workspace_id = %s "
                     "order by id desc limit 1", (inbox.workspace_id,)).fetchone()
    assert row["delivered_at"] is None and row["last_error"].startswith("blocked:")
