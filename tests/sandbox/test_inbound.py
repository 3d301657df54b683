"""Inbound SMS, MMS and calls reach the application signed, with Twilio's parameters."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from numeraloop_local.twilio_sandbox import SandboxError

from .conftest import CUSTOMER, OWNED


def assert_signed(url, received, account):
    validator = RequestValidator(account["auth_token"])
    assert validator.validate(url, received.form, received.headers["X-Twilio-Signature"])


def test_inbound_sms_reaches_sms_url_and_returns_twiml(control, receiver, account, number):
    receiver.answer("/sms", (200, "<Response><Message>Thanks!</Message></Response>"))
    result = control.inject_sms(CUSTOMER, OWNED, "Is the shop open?")
    assert result["status"] == 200
    assert result["body"] == "<Response><Message>Thanks!</Message></Response>"
    assert result["headers"]["Content-Type"].startswith("text/xml")

    got = receiver.wait_for("/sms", 1)[0]
    assert got.method == "POST"
    assert_signed(receiver.url("/sms"), got, account)
    form = got.form
    sid = result["message_sid"]
    assert sid.startswith("SM")
    assert {
        k: form[k]
        for k in (
            "MessageSid",
            "SmsSid",
            "SmsMessageSid",
            "AccountSid",
            "From",
            "To",
            "Body",
            "NumMedia",
            "NumSegments",
            "SmsStatus",
            "ApiVersion",
            "FromCountry",
            "ToCountry",
            "ToCity",
        )
    } == {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": account["sid"],
        "From": CUSTOMER,
        "To": OWNED,
        "Body": "Is the shop open?",
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        "FromCountry": "US",
        "ToCountry": "US",
        "ToCity": "SAN FRANCISCO",
    }
    assert "MessagingServiceSid" not in form and "MediaUrl0" not in form
    assert control.webhooks("sms")[-1]["message_sid"] == sid
    assert control.messages(direction="inbound")[0]["status"] == "received"


def test_inbound_mms_lists_media(control, receiver, account, number):
    result = control.inject_sms(
        CUSTOMER,
        OWNED,
        "",
        media=[
            "https://cdn.example.test/photo.png",
            {"url": "https://cdn.example.test/clip", "content_type": "video/mp4"},
        ],
        messaging_service_sid="MG" + "b" * 32,
    )
    assert result["message_sid"].startswith("MM")
    form = receiver.wait_for("/sms", 1)[0].form
    assert_signed(receiver.url("/sms"), receiver.at("/sms")[0], account)
    assert form["NumMedia"] == "2"
    assert (form["MediaUrl0"], form["MediaContentType0"]) == ("https://cdn.example.test/photo.png", "image/png")
    assert (form["MediaUrl1"], form["MediaContentType1"]) == ("https://cdn.example.test/clip", "video/mp4")
    assert form["MessagingServiceSid"] == "MG" + "b" * 32


def test_inbound_sms_with_get_method_signs_the_query_url(twilio, control, receiver, account, number):
    twilio.incoming_phone_numbers(number["sid"]).update(sms_method="GET")
    control.inject_sms(CUSTOMER, OWNED, "hello there")
    got = receiver.wait_for("/sms", 1)[0]
    assert got.method == "GET" and got.args["Body"] == "hello there"
    validator = RequestValidator(account["auth_token"])
    assert validator.validate(got.url, {}, got.headers["X-Twilio-Signature"])


def test_stop_unsubscribes_and_start_resubscribes(twilio, control, receiver, account, number):
    control.inject_sms(CUSTOMER, OWNED, "Stop")
    assert receiver.wait_for("/sms", 1)[0].form["OptOutType"] == "STOP"  # still forwarded, as Twilio does
    assert control.unsubscribed(account["sid"]) == [CUSTOMER]
    with pytest.raises(TwilioRestException) as info:
        twilio.messages.create(to=CUSTOMER, from_=OWNED, body="promo")
    assert info.value.code == 21610
    control.inject_sms(CUSTOMER, OWNED, "START")
    assert control.unsubscribed(account["sid"]) == []


def test_inbound_call_reaches_voice_url(twilio, control, receiver, account, number):
    receiver.answer("/voice", (200, "<Response><Dial>+14155550177</Dial></Response>"))
    result = control.inject_call(CUSTOMER, OWNED)
    assert (result["status"], result["body"]) == (200, "<Response><Dial>+14155550177</Dial></Response>")
    got = receiver.wait_for("/voice", 1)[0]
    assert_signed(receiver.url("/voice"), got, account)
    sid = result["call_sid"]
    assert sid.startswith("CA") and len(sid) == 34
    assert {
        k: got.form[k]
        for k in ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "ApiVersion", "Caller", "Called")
    } == {
        "CallSid": sid,
        "AccountSid": account["sid"],
        "From": CUSTOMER,
        "To": OWNED,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "Caller": CUSTOMER,
        "Called": OWNED,
    }


def test_completed_call_posts_signed_call_status(twilio, control, receiver, account, number):
    sid = control.inject_call(CUSTOMER, OWNED, duration=42)["call_sid"]
    got = receiver.wait_for("/call-status", 1)[0]
    assert_signed(receiver.url("/call-status"), got, account)
    assert (got.form["CallSid"], got.form["CallStatus"], got.form["CallDuration"]) == (sid, "completed", "42")
    call = twilio.calls(sid).fetch()
    assert (call.status, call.duration) == ("completed", "42")


def test_webhook_failures_are_reported_not_raised(control, receiver, account):
    control.add_number(account["sid"], "+14155550111", sms_url="http://127.0.0.1:9/nothing-here")
    down = control.inject_sms(CUSTOMER, "+14155550111", "hello?")
    assert down["status"] is None and "ConnectionError" in down["error"]
    control.add_number(account["sid"], "+14155550112")
    unset = control.inject_sms(CUSTOMER, "+14155550112", "hello?")
    assert unset["url"] is None and "no webhook" in unset["error"]


def test_injecting_to_a_number_nobody_owns_is_404(control, account):
    with pytest.raises(SandboxError) as info:
        control.inject_sms(CUSTOMER, "+19995550100", "hi")
    assert info.value.status == 404 and info.value.body["error"]["code"] == "unknown_number"
