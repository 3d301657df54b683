"""Status callbacks: signed as Twilio signs, in order by default, and each scenario as described."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from .conftest import CUSTOMER, OWNED


def send(twilio, receiver, path="/status", **extra):
    return twilio.messages.create(to=CUSTOMER, from_=OWNED, body="Hello", status_callback=receiver.url(path), **extra)


def statuses(received) -> list[str]:
    return [r.form["MessageStatus"] for r in received]


def assert_signed(received, account, receiver, path="/status"):
    validator = RequestValidator(account["auth_token"])
    for r in received:
        assert validator.validate(receiver.url(path), r.form, r.headers["X-Twilio-Signature"]), r.form


def test_default_scenario_queued_sent_delivered_in_order_and_signed(twilio, control, receiver, account, number):
    message = send(twilio, receiver)
    got = receiver.wait_for("/status", 3)
    assert statuses(got) == ["queued", "sent", "delivered"]
    assert_signed(got, account, receiver)
    last = got[-1].form
    assert {k: last[k] for k in ("MessageSid", "SmsSid", "AccountSid", "From", "To", "SmsStatus", "ApiVersion")} == {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "AccountSid": account["sid"],
        "From": OWNED,
        "To": CUSTOMER,
        "SmsStatus": "delivered",
        "ApiVersion": "2010-04-01",
    }
    assert "ErrorCode" not in last
    assert control.wait_idle()
    assert [c["status"] for c in control.callbacks(message.sid)] == [200, 200, 200]


def test_a_tampered_callback_would_not_validate(twilio, receiver, account, number):
    send(twilio, receiver)
    first = receiver.wait_for("/status", 1)[0]
    validator = RequestValidator(account["auth_token"])
    assert not validator.validate(
        receiver.url("/status"), {**first.form, "MessageStatus": "delivered"}, first.headers["X-Twilio-Signature"]
    )
    assert not validator.validate(receiver.url("/other"), first.form, first.headers["X-Twilio-Signature"])


def test_undelivered_scenario_per_destination(twilio, control, receiver, account, number):
    control.set_scenario(CUSTOMER, "undelivered", 30007)
    message = send(twilio, receiver)
    got = receiver.wait_for("/status", 3)
    assert statuses(got) == ["queued", "sent", "undelivered"]
    assert got[-1].form["ErrorCode"] == "30007"
    assert_signed(got, account, receiver)
    assert control.wait_idle()
    fetched = twilio.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code, fetched.error_message) == ("undelivered", 30007, "Message filtered")


def test_failed_scenario_per_message(twilio, control, receiver, account, number):
    control.queue_scenario(account["sid"], "failed", 21610)
    failing = send(twilio, receiver, "/failing")
    normal = send(twilio, receiver, "/normal")  # the queued scenario applied to one message only
    assert statuses(receiver.wait_for("/failing", 2)) == ["queued", "failed"]
    assert receiver.at("/failing")[-1].form["ErrorCode"] == "21610"
    assert statuses(receiver.wait_for("/normal", 3)) == ["queued", "sent", "delivered"]
    assert {failing.sid, normal.sid} == {r.form["MessageSid"] for r in receiver.received}


def test_failed_scenario_default_error_code(twilio, control, receiver, number):
    control.set_scenario(CUSTOMER, "failed")
    send(twilio, receiver)
    assert receiver.wait_for("/status", 2)[-1].form["ErrorCode"] == "30008"


def test_duplicate_scenario_sends_every_callback_twice(twilio, control, receiver, account, number):
    control.set_scenario(CUSTOMER, "duplicate")
    send(twilio, receiver)
    got = receiver.wait_for("/status", 6)
    assert statuses(got) == ["queued", "queued", "sent", "sent", "delivered", "delivered"]
    assert_signed(got, account, receiver)
    tokens = [r.headers["I-Twilio-Idempotency-Token"] for r in got]
    assert tokens[0] == tokens[1] and tokens[2] == tokens[3] and tokens[0] != tokens[2]


def test_out_of_order_scenario_delivers_before_sent(twilio, control, receiver, account, number):
    control.set_scenario(CUSTOMER, "out_of_order")
    message = send(twilio, receiver)
    got = receiver.wait_for("/status", 3)
    assert statuses(got) == ["queued", "delivered", "sent"]
    assert_signed(got, account, receiver)
    assert control.wait_idle()
    assert twilio.messages(message.sid).fetch().status == "delivered"


def test_none_scenario_sends_no_callbacks_but_the_message_is_delivered(twilio, control, receiver, number):
    control.set_scenario(CUSTOMER, "none")
    message = send(twilio, receiver)
    assert control.wait_idle()
    assert receiver.at("/status") == []
    assert twilio.messages(message.sid).fetch().status == "delivered"


def test_callbacks_are_retried_after_5xx_and_failures_never_crash(twilio, control, receiver, sandbox_server, number):
    receiver.answer("/flaky", (503, "busy"), (500, "oops"))
    send(twilio, receiver, "/flaky")
    got = receiver.wait_for("/flaky", 5)
    assert statuses(got) == ["queued", "queued", "queued", "sent", "delivered"]
    assert control.wait_idle()
    first = control.callbacks()[0]
    assert [a["status"] for a in first["attempts"]] == [503, 500, 200] and first["delivered"]

    # A receiver that is not there at all: logged, given up on, sandbox carries on.
    message = twilio.messages.create(to=CUSTOMER, from_=OWNED, body="x", status_callback="http://127.0.0.1:9/down")
    assert control.wait_idle()
    records = control.callbacks(message.sid)
    assert len(records) == 3 and not any(r["delivered"] for r in records)
    assert all(len(r["attempts"]) == 3 and r["attempts"][0]["error"] for r in records)
    assert twilio.messages(message.sid).fetch().status == "delivered"


def test_4xx_from_the_application_is_final(twilio, control, receiver, number):
    receiver.answer("/forbidden", (403, "bad signature"), (403, "bad"), (403, "bad"))
    message = send(twilio, receiver, "/forbidden")
    assert control.wait_idle()
    assert [len(c["attempts"]) for c in control.callbacks(message.sid)] == [1, 1, 1]
    assert len(receiver.at("/forbidden")) == 3
