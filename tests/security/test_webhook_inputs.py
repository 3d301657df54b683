"""What Twilio calls, fed what Twilio never sends: every /twilio route, found by walking the
app's url_map so a new route cannot slip through, refuses unsigned, repeated-key and NUL-byte
requests with a 403 (never a 500) and stores nothing; malformed lookup keys never reach the
database, and forged signatures cannot force a lookup per request. (/stripe: tests/billing/test_webhook.py.)"""

from __future__ import annotations

import uuid

import pytest
import requests
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from numeraloop.twilio import signature
from tests.support.twilio_signing import new_sid, signed_post
from tests.support.url_map import routes_under

BOGUS_SIGNATURE = "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA=="


@pytest.fixture
def twilio_routes(service):
    return routes_under(service.app, "/twilio/")


@pytest.fixture
def lookups(monkeypatch):
    """Every credentials lookup the signature check makes, as (kind, value)."""
    seen = []
    real = signature._lookup

    def counting(kind, value):
        seen.append((kind, value))
        return real(kind, value)

    monkeypatch.setattr(signature, "_lookup", counting)
    return seen


def stored(db) -> dict:
    return {
        t: db.execute(f"select count(*) as n from public.{t}").fetchone()["n"]
        for t in ("messages", "calls", "contacts", "conversations")
    }


def twilio_params(inbox) -> dict:
    """What any of the /twilio routes would accept from this workspace's account, signed."""
    return {
        "AccountSid": inbox.account["sid"],
        "To": inbox.e164,
        "From": "+16285550999",
        "MessageSid": new_sid("SM"),
        "CallSid": new_sid("CA"),
        "Body": "hello",
        "NumMedia": "0",
        "MessageStatus": "delivered",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
    }


def post_form(url: str, body: str | list, sig: str | None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    return requests.post(url, data=body, headers=headers, timeout=15)


def assert_refused(r, status=403):
    assert r.status_code == status, (r.request.url, r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    assert set(r.json()["error"]) >= {"code", "message"}


def test_every_twilio_route_refuses_what_twilio_never_sends(service, inbox, db, lookups, twilio_routes):
    token = inbox.account["auth_token"]
    before = stored(db)
    for path, method in twilio_routes:
        assert method == "POST", f"{path} answers {method}: Twilio only POSTs to this service"
        url = service.base_url + path
        params = twilio_params(inbox)

        assert_refused(post_form(url, params, None))
        assert_refused(post_form(url, params, ""))

        # A repeated key, even correctly signed over both values.
        repeated = MultiDict(list(params.items()) + [("To", "+16285550111")])
        assert_refused(
            post_form(url, list(repeated.items(multi=True)), RequestValidator(token).compute_signature(url, repeated))
        )
        assert_refused(
            post_form(
                url, [("To", inbox.e164), ("To", inbox.e164), ("AccountSid", inbox.account["sid"])], BOGUS_SIGNATURE
            )
        )

        # A NUL byte, in a lookup key with a bogus signature, or anywhere in a correctly signed request.
        assert_refused(post_form(url, "AccountSid=AC%00", BOGUS_SIGNATURE))
        assert_refused(post_form(url, f"AccountSid=AC%00&To={inbox.e164.replace('+', '%2B')}%00", None))
        with_nul = {**params, "Body": "hi\x00there"}
        assert_refused(signed_post(url, with_nul, token))
        assert_refused(signed_post(url + "?call_id=%00", params, token))
        assert_refused(signed_post(url, {**params, "X\x00": "1"}, token))

    assert lookups == [], "no refused request reached a credentials lookup"
    assert stored(db) == before, "nothing refused was stored"

    # Control: the same requests, correctly signed and without the defect, pass the signature check.
    for path, _ in twilio_routes:
        url = service.base_url + path + f"?call_id={uuid.uuid4()}"
        r = signed_post(url, twilio_params(inbox), inbox.account["auth_token"])
        assert r.status_code != 403 and r.status_code < 500, (path, r.status_code, r.text)


@pytest.mark.parametrize(
    "account_sid",
    ["AC123", "AC" + "G" * 32, "AC" + "A" * 32, "XX" + "0" * 32, "AC" + "0" * 32 + "' or '1'='1", "AC" + "0" * 33],
)
def test_account_sids_that_cannot_be_one_are_refused_before_any_lookup(
    service, inbox, lookups, db, account_sid, twilio_routes
):
    before = stored(db)
    for path, _ in twilio_routes:
        params = {**twilio_params(inbox), "AccountSid": account_sid}
        assert_refused(signed_post(service.base_url + path, params, inbox.account["auth_token"]))
    assert lookups == [] and stored(db) == before


@pytest.mark.parametrize(
    "to",
    [
        "not-a-number",
        "14155550123",
        "+0123456789",
        "+1415555012345678",
        "client:user_x",
        "+1 415 555 0123",
        "+14155550123\n",
    ],
)
def test_numbers_that_cannot_be_one_are_refused_before_any_lookup(service, inbox, lookups, db, to):
    before = stored(db)
    for path in ("/twilio/messaging/inbound", "/twilio/voice/inbound"):
        params = {**twilio_params(inbox), "To": to}
        assert_refused(signed_post(service.base_url + path, params, inbox.account["auth_token"]))
    assert lookups == [] and stored(db) == before


def test_forged_signatures_for_a_real_number_do_not_force_a_lookup_each(service, inbox, db, lookups, monkeypatch):
    # Long enough that no refresh falls due during the test however slow the machine is.
    monkeypatch.setattr(signature, "REFRESH_SECONDS", 3600.0)
    url = service.base_url + "/twilio/messaging/inbound"
    before = stored(db)
    for _ in range(20):
        params = twilio_params(inbox)
        assert_refused(post_form(url, params, RequestValidator("forged-" + "0" * 24).compute_signature(url, params)))
    assert len(lookups) <= 1, lookups
    assert stored(db) == before

    # The real account's signature still passes, from the cached token.
    r = signed_post(url, twilio_params(inbox), inbox.account["auth_token"])
    assert r.status_code == 200, r.text
    assert len(lookups) <= 1, lookups


def test_a_failed_cached_token_is_looked_up_again_once_the_refresh_is_due(service, inbox, lookups, monkeypatch):
    monkeypatch.setattr(signature, "REFRESH_SECONDS", 0.0)
    url = service.base_url + "/twilio/messaging/status"
    params = {"AccountSid": inbox.account["sid"], "MessageSid": new_sid("SM"), "MessageStatus": "delivered"}
    assert signed_post(url, params, inbox.account["auth_token"]).status_code == 204
    first = len(lookups)
    assert_refused(signed_post(url, params, "forged-" + "0" * 24))
    assert len(lookups) == first + 1, "a refresh that is due is made: a reconnected account's new token works"


@pytest.mark.parametrize(
    "path,field",
    [
        ("/twilio/messaging/inbound", "MessageSid"),
        ("/twilio/voice/inbound", "CallSid"),
        ("/twilio/messaging/status", "MessageSid"),
        ("/twilio/voice/status", "CallSid"),
    ],
)
def test_a_sid_with_a_trailing_newline_is_not_a_sid(service, inbox, db, path, field):
    before = stored(db)
    params = twilio_params(inbox)
    params[field] += "\n"
    r = signed_post(service.base_url + path, params, inbox.account["auth_token"])
    assert_refused(r, 400)
    assert stored(db) == before
