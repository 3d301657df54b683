"""The /_sandbox control API and the sandbox under concurrent use."""

from __future__ import annotations

import threading

import pytest

from numeraloop_local.twilio_sandbox import SandboxError

from .conftest import CUSTOMER, OWNED


def test_settings_can_be_read_and_changed(control):
    assert control.settings()["step_delay"] == 0.01
    assert control.settings(step_delay=0.02, callback_attempts=1)["callback_attempts"] == 1
    with pytest.raises(SandboxError) as info:
        control.settings(no_such_setting=1)
    assert info.value.status == 400


def test_reset_forgets_everything(control, twilio, account, number):
    twilio.messages.create(to=CUSTOMER, from_=OWNED, body="hi")
    control.reset()
    assert control.messages() == [] and control.requests() == []
    with pytest.raises(SandboxError):
        control.add_number(account["sid"], "+14155550177")  # the account is gone too


def test_control_api_validates_its_input(control, account):
    with pytest.raises(SandboxError) as info:
        control.set_scenario(CUSTOMER, "lost_in_the_mail")
    assert info.value.status == 400
    with pytest.raises(SandboxError) as info:
        control.add_number(account["sid"], "555-0100")
    assert info.value.body["error"]["code"] == "invalid_number"
    control.add_number(account["sid"], OWNED)
    with pytest.raises(SandboxError) as info:
        control.add_number(account["sid"], OWNED)
    assert info.value.status == 409
    with pytest.raises(SandboxError) as info:
        control.create_account("AC123", "token")
    assert info.value.status == 400


def test_message_log_filters(control, twilio, number):
    twilio.messages.create(to=CUSTOMER, from_=OWNED, body="one")
    twilio.messages.create(to="+14155550143", from_=OWNED, body="two", status_callback="https://app.test/s")
    rows = control.messages(to="+14155550143")
    assert [r["body"] for r in rows] == ["two"]
    assert rows[0]["status_callback"] == "https://app.test/s" and rows[0]["scenario"] == "delivered"


def test_concurrent_sends_each_get_their_callbacks_in_order(twilio, control, receiver, number):
    sids, errors = [], []

    def worker(n):
        try:
            for i in range(4):
                sids.append(
                    twilio.messages.create(
                        to=f"+1415555016{n}", from_=OWNED, body=f"{n}-{i}", status_callback=receiver.url("/status")
                    ).sid
                )
        except Exception as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(sids)) == 20
    got = receiver.wait_for("/status", 60)
    by_message: dict[str, list[str]] = {}
    for r in got:
        by_message.setdefault(r.form["MessageSid"], []).append(r.form["MessageStatus"])
    assert set(by_message) == set(sids)
    assert all(seq == ["queued", "sent", "delivered"] for seq in by_message.values())
