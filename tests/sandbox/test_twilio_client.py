"""numeraloop.twilio_client: URL rewriting, timeouts, which failures are retried, error mapping."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from numeraloop.twilio import client as twilio_client
from numeraloop.twilio.client import RewritingHttpClient, TwilioError, make_twilio_client, twilio_error

from .conftest import CUSTOMER, OWNED


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    """Retries really happen; only their waiting is skipped, and each wait is recorded."""
    waits = []
    monkeypatch.setattr(twilio_client, "_pause", waits.append)
    return waits


def client_with_retries(sandbox_server, account, retries=2, **kw):
    return make_twilio_client(
        account["sid"], account["sid"], account["auth_token"], sandbox_server.url, max_retries=retries, **kw
    )


def posts_to(control, account, fragment):
    return [r for r in control.requests(account["sid"]) if r["method"] == "POST" and fragment in r["path"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rewrites_twilio_hosts_only():
    http = RewritingHttpClient("http://127.0.0.1:8010")
    assert (
        http.rewrite("https://api.twilio.com/2010-04-01/Accounts.json?x=1")
        == "http://127.0.0.1:8010/2010-04-01/Accounts.json?x=1"
    )
    assert http.rewrite("https://messaging.twilio.com/v1/Services") == "http://127.0.0.1:8010/v1/Services"
    assert http.rewrite("https://api.stripe.com/v1/charges") == "https://api.stripe.com/v1/charges"
    assert http.rewrite("https://eviltwilio.com/x") == "https://eviltwilio.com/x"
    behind_proxy = RewritingHttpClient("https://gateway.example.test/twilio/")
    assert (
        behind_proxy.rewrite("https://api.twilio.com/2010-04-01/Accounts.json")
        == "https://gateway.example.test/twilio/2010-04-01/Accounts.json"
    )
    with pytest.raises(ValueError):
        RewritingHttpClient("127.0.0.1:8010")


def test_timeouts_are_explicit_pairs(sandbox_server, account):
    client = client_with_retries(sandbox_server, account, timeout=(1.5, 7))
    assert client.http_client.timeouts == (1.5, 7)
    assert client_with_retries(sandbox_server, account, timeout=4).http_client.timeouts == (4, 4)


def test_429_is_retried_for_post_with_backoff(sandbox_server, control, account, number, no_backoff_sleep):
    control.add_fault(account["sid"], times=2, method="POST", path_contains="/Messages.json")
    client = client_with_retries(sandbox_server, account, retries=2)
    assert client.messages.create(to=CUSTOMER, from_=OWNED, body="hi").status == "queued"
    assert [r["status"] for r in posts_to(control, account, "/Messages.json")] == [429, 429, 201]
    assert len(no_backoff_sleep) == 2 and no_backoff_sleep[1] > no_backoff_sleep[0] / 2


def test_retries_are_bounded(sandbox_server, control, account, number):
    control.add_fault(account["sid"], method="POST")  # until cleared
    client = client_with_retries(sandbox_server, account, retries=2)
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=CUSTOMER, from_=OWNED, body="hi")
    assert (info.value.status, info.value.code) == (429, 20429)
    assert len(posts_to(control, account, "/Messages.json")) == 3


def test_503_is_retried_for_get_but_never_for_post(sandbox_server, control, account, number):
    client = client_with_retries(sandbox_server, account, retries=2)
    control.add_fault(account["sid"], status=503, code=20500, message="Service Unavailable", times=1, method="GET")
    assert client.incoming_phone_numbers(number["sid"]).fetch().sid == number["sid"]
    control.add_fault(account["sid"], status=503, code=20500, message="Service Unavailable", times=1, method="POST")
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=CUSTOMER, from_=OWNED, body="must not be sent twice")
    assert info.value.status == 503
    assert len(posts_to(control, account, "/Messages.json")) == 1


def test_other_4xx_are_never_retried(sandbox_server, control, account, number):
    client = client_with_retries(sandbox_server, account, retries=3)
    with pytest.raises(TwilioRestException):
        client.messages.create(to="not-a-number", from_=OWNED, body="hi")
    assert len(posts_to(control, account, "/Messages.json")) == 1


def test_read_timeout_on_post_is_not_retried(sandbox_server, control, account, number):
    control.add_fault(account["sid"], status=500, code=20500, message="slow", method="POST", delay=0.25)
    client = client_with_retries(sandbox_server, account, retries=3, timeout=(1, 0.05))
    with pytest.raises(requests.exceptions.ReadTimeout) as info:
        client.messages.create(to=CUSTOMER, from_=OWNED, body="hi")
    assert twilio_error(info.value) == TwilioError("twilio_timeout", "Twilio did not answer in time", 504)
    deadline = time.monotonic() + 2
    while not posts_to(control, account, "/Messages.json") and time.monotonic() < deadline:
        time.sleep(0.02)  # the slow request is recorded once the sandbox answers it
    time.sleep(0.3)  # and a retry, had there been one, would have arrived by now
    assert len(posts_to(control, account, "/Messages.json")) == 1


def test_connection_refused_is_retried_even_for_post(account, no_backoff_sleep):
    client = make_twilio_client(
        account["sid"], account["sid"], account["auth_token"], f"http://127.0.0.1:{free_port()}", max_retries=2
    )
    with pytest.raises(requests.exceptions.ConnectionError) as info:
        client.messages.create(to=CUSTOMER, from_=OWNED, body="hi")
    assert len(no_backoff_sleep) == 2  # nothing was sent, so both retries were safe
    assert twilio_error(info.value).code == "twilio_unreachable"


@pytest.mark.parametrize(
    "status,code,expected",
    [
        (400, 21211, ("twilio_21211", 400)),
        (400, 21606, ("twilio_21606", 400)),
        (400, 21610, ("twilio_21610", 422)),
        (401, 20003, ("twilio_auth_failed", 400)),
        (404, 20404, ("twilio_20404", 404)),
        (429, 20429, ("twilio_rate_limited", 429)),
        (500, 20500, ("twilio_unavailable", 502)),
    ],
)
def test_error_mapping(status, code, expected):
    exc = TwilioRestException(status, "https://api.twilio.com/x", "Unable to create record: Something precise", code)
    mapped = twilio_error(exc)
    assert (mapped.code, mapped.http_status) == expected
    assert mapped.twilio_code == code
    if status < 500 and status not in (401, 429):
        assert mapped.message == "Something precise"


def test_error_mapping_end_to_end(twilio, number):
    with pytest.raises(TwilioRestException) as info:
        twilio.messages.create(to="12345", from_=OWNED, body="hi")
    assert twilio_error(info.value) == TwilioError(
        "twilio_21211", "The 'To' number 12345 is not a valid phone number.", 400, 21211
    )


def test_error_mapping_refuses_unrelated_exceptions():
    with pytest.raises(TypeError):
        twilio_error(KeyError("x"))
