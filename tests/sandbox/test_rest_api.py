"""Every REST endpoint over real HTTP, through twilio-python as the service calls it."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from numeraloop.twilio.client import make_twilio_client, twilio_error

from .conftest import CUSTOMER, OWNED


def raw(server, account, method, path, auth=None, **kwargs):
    """A request twilio-python would never make (unknown parameter, bad auth), sent by hand."""
    url = f"{server.url}/2010-04-01/Accounts/{account['sid']}{path}"
    return requests.request(method, url, auth=auth or (account["sid"], account["auth_token"]), timeout=5, **kwargs)


def assert_twilio_error(response, status, code):
    assert response.status_code == status
    assert response.json() == {
        "code": code,
        "message": response.json()["message"],
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def rest_error(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        call()
    return info.value


# -- authentication -------------------------------------------------------------------------
def test_fetch_account(twilio, account):
    fetched = twilio.api.v2010.accounts(account["sid"]).fetch()
    assert fetched.sid == account["sid"]
    assert fetched.status == "active"
    assert fetched.subresource_uris["messages"] == f"/2010-04-01/Accounts/{account['sid']}/Messages.json"


@pytest.mark.parametrize("auth", [None, ("wrong", "creds"), "wrong-token"])
def test_bad_credentials_get_401_with_20003(sandbox_server, account, auth):
    if auth == "wrong-token":
        auth = (account["sid"], "0" * 32)
    url = f"{sandbox_server.url}/2010-04-01/Accounts/{account['sid']}.json"
    response = requests.get(url, auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_credentials_of_one_account_do_not_open_another(sandbox_server, control, account):
    other = control.create_account()
    client = make_twilio_client(other["sid"], account["sid"], account["auth_token"], sandbox_server.url)
    err = rest_error(lambda: client.api.v2010.accounts(other["sid"]).fetch())
    assert (err.status, err.code) == (401, 20003)


def test_twilio_python_sees_401_as_rest_exception(sandbox_server, account):
    client = make_twilio_client(account["sid"], account["sid"], "f" * 32, sandbox_server.url, max_retries=0)
    err = rest_error(lambda: client.incoming_phone_numbers.create(phone_number=OWNED))
    assert (err.status, err.code) == (401, 20003)
    # Listing raises twilio-python's bare TwilioException carrying the response instead.
    with pytest.raises(TwilioException) as info:
        client.incoming_phone_numbers.list()
    assert twilio_error(info.value).code == "twilio_auth_failed"


def test_api_key_authenticates_for_its_account(twilio, sandbox_server, account):
    key = twilio.new_keys.create(friendly_name="numeraloop service")
    assert key.sid.startswith("SK") and len(key.sid) == 34
    assert len(key.secret) == 32
    as_key = make_twilio_client(account["sid"], key.sid, key.secret, sandbox_server.url)
    assert as_key.api.v2010.accounts(account["sid"]).fetch().sid == account["sid"]
    wrong = make_twilio_client(account["sid"], key.sid, "0" * 32, sandbox_server.url)
    assert rest_error(lambda: wrong.api.v2010.accounts(account["sid"]).fetch()).code == 20003


def test_fixed_account_for_the_demo_seed(control, sandbox_server):
    sid, token = "AC" + "d" * 32, "e" * 32
    assert control.create_account(sid, token)["sid"] == sid
    client = make_twilio_client(sid, sid, token, sandbox_server.url)
    assert client.api.v2010.accounts(sid).fetch().auth_token == token


# -- numbers ----------------------------------------------------------------------------------
def test_available_local_numbers_are_deterministic_and_exclude_owned(twilio, control, account):
    first = [n.phone_number for n in twilio.available_phone_numbers("US").local.list(area_code=415, limit=3)]
    assert first == ["+14155550100", "+14155550101", "+14155550102"]
    control.add_number(account["sid"], "+14155550100")
    again = [n.phone_number for n in twilio.available_phone_numbers("US").local.list(area_code=415, limit=3)]
    assert again == ["+14155550101", "+14155550102", "+14155550103"]
    found = twilio.available_phone_numbers("US").local.list(area_code=415, limit=1)[0]
    assert (found.locality, found.region, found.iso_country) == ("San Francisco", "CA", "US")
    assert found.capabilities == {"voice": True, "sms": True, "mms": True, "fax": False}


def test_available_numbers_contains_and_toll_free(twilio):
    matches = twilio.available_phone_numbers("US").local.list(contains="555017*", limit=20)
    assert matches and all("555017" in n.phone_number for n in matches)
    toll_free = twilio.available_phone_numbers("US").toll_free.list(limit=2)
    assert [n.phone_number for n in toll_free] == ["+18005550100", "+18005550101"]
    canada = twilio.available_phone_numbers("CA").local.list(limit=1)
    assert canada[0].iso_country == "CA"


def test_available_numbers_unsupported_country_is_404(twilio):
    with pytest.raises(TwilioException) as info:
        twilio.available_phone_numbers("FR").local.list(limit=1)
    assert twilio_error(info.value).http_status == 404
    assert '"code":20404' in info.value.args[1].text


def test_available_numbers_area_code_must_be_an_integer(sandbox_server, account):
    response = raw(sandbox_server, account, "GET", "/AvailablePhoneNumbers/US/Local.json", params={"AreaCode": "SF"})
    assert_twilio_error(response, 400, 20001)
    assert "AreaCode" in response.json()["message"]


def test_buy_by_number_and_by_area_code(twilio, receiver):
    bought = twilio.incoming_phone_numbers.create(
        phone_number="+14155550123",
        sms_url=receiver.url("/sms"),
        voice_url=receiver.url("/voice"),
        friendly_name="Front desk",
    )
    assert bought.sid.startswith("PN") and bought.phone_number == "+14155550123"
    assert (bought.sms_url, bought.sms_method, bought.friendly_name) == (receiver.url("/sms"), "POST", "Front desk")
    by_area = twilio.incoming_phone_numbers.create(area_code="212")
    assert by_area.phone_number == "+12125550100"
    assert by_area.friendly_name == "(212) 555-0100"
    toll_free = twilio.incoming_phone_numbers.create(area_code="888")
    assert toll_free.type == "toll-free"


def test_buying_an_owned_or_invalid_number_fails(twilio):
    twilio.incoming_phone_numbers.create(phone_number="+14155550123")
    err = rest_error(lambda: twilio.incoming_phone_numbers.create(phone_number="+14155550123"))
    assert (err.status, err.code) == (400, 21422)
    err = rest_error(lambda: twilio.incoming_phone_numbers.create(phone_number="4155550123"))
    assert (err.status, err.code) == (400, 21421)
    err = rest_error(lambda: twilio.incoming_phone_numbers.create(friendly_name="neither number nor area"))
    assert (err.status, err.code) == (400, 21421)


def test_list_numbers_filters_and_pages(twilio):
    for line in range(5):
        twilio.incoming_phone_numbers.create(phone_number=f"+1415555012{line}")
    # twilio-python follows next_page_uri (relative to api.twilio.com; our client rewrites it).
    every = twilio.incoming_phone_numbers.list(page_size=2)
    assert [n.phone_number for n in every] == [f"+1415555012{i}" for i in range(5)]
    page = twilio.incoming_phone_numbers.page(page_size=2)
    assert page._payload["next_page_uri"].endswith("PageSize=2&Page=1")
    assert page._payload["start"] == 0 and page._payload["end"] == 1
    only = twilio.incoming_phone_numbers.list(phone_number="+14155550123")
    assert [n.phone_number for n in only] == ["+14155550123"]


def test_update_fetch_and_release_number(twilio, receiver):
    bought = twilio.incoming_phone_numbers.create(phone_number=OWNED)
    updated = twilio.incoming_phone_numbers(bought.sid).update(
        sms_url=receiver.url("/sms"),
        sms_method="GET",
        voice_url=receiver.url("/voice"),
        voice_method="POST",
        status_callback=receiver.url("/status"),
        friendly_name="Support line",
    )
    assert (updated.sms_url, updated.sms_method, updated.friendly_name) == (receiver.url("/sms"), "GET", "Support line")
    fetched = twilio.incoming_phone_numbers(bought.sid).fetch()
    assert fetched.voice_url == receiver.url("/voice") and fetched.status_callback == receiver.url("/status")
    # Twilio documents an empty URL as removing it.
    assert twilio.incoming_phone_numbers(bought.sid).update(sms_url="").sms_url is None
    assert twilio.incoming_phone_numbers(bought.sid).delete() is True
    err = rest_error(lambda: twilio.incoming_phone_numbers(bought.sid).fetch())
    assert (err.status, err.code) == (404, 20404)


def test_delete_answers_204_with_no_body(sandbox_server, account, twilio):
    bought = twilio.incoming_phone_numbers.create(phone_number=OWNED)
    response = raw(sandbox_server, account, "DELETE", f"/IncomingPhoneNumbers/{bought.sid}.json")
    assert (response.status_code, response.content) == (204, b"")


def test_update_rejects_invalid_values(twilio, sandbox_server, account):
    bought = twilio.incoming_phone_numbers.create(phone_number=OWNED)
    path = f"/IncomingPhoneNumbers/{bought.sid}.json"
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data={"SmsMethod": "PUT"}), 400, 21403)
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data={"SmsUrl": "not a url"}), 400, 21402)
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data={"VoiceCallerIdLookup": "maybe"}), 400, 20001)
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data={"SmsUrls": "https://x.test"}), 400, 20001)
    assert (
        "Unknown parameter: SmsUrls"
        in raw(sandbox_server, account, "POST", path, data={"SmsUrls": "https://x.test"}).json()["message"]
    )


def test_numbers_of_another_account_are_not_found(twilio, control, sandbox_server):
    other = control.create_account()
    theirs = control.add_number(other["sid"], "+12125550150")
    err = rest_error(lambda: twilio.incoming_phone_numbers(theirs["sid"]).fetch())
    assert (err.status, err.code) == (404, 20404)


# -- messages ---------------------------------------------------------------------------------
def test_send_sms_and_fetch_it(twilio, control, number, account):
    sent = twilio.messages.create(to=CUSTOMER, from_=OWNED, body="Your table is ready")
    assert sent.sid.startswith("SM") and sent.status == "queued" and sent.direction == "outbound-api"
    assert (sent.num_segments, sent.num_media, sent.api_version) == ("1", "0", "2010-04-01")
    assert control.wait_idle()
    fetched = twilio.messages(sent.sid).fetch()
    assert fetched.status == "delivered" and fetched.date_sent is not None
    recorded = control.messages(account_sid=account["sid"], direction="outbound-api")
    assert recorded[0]["params"] == {"To": [CUSTOMER], "From": [OWNED], "Body": ["Your table is ready"]}


def test_send_mms_with_repeated_media_url(twilio, control, number):
    media = ["https://cdn.example.test/menu.jpg", "https://cdn.example.test/map.png"]
    sent = twilio.messages.create(to=CUSTOMER, from_=OWNED, body="Menu and map", media_url=media)
    assert sent.sid.startswith("MM") and sent.num_media == "2"
    assert control.messages(to=CUSTOMER)[0]["media_urls"] == media


def test_send_through_a_messaging_service_with_sticky_sender(twilio, control, account, number, receiver):
    second = control.add_number(account["sid"], "+14155550199")
    service = twilio.messaging.v1.services.create(
        friendly_name="Campaigns", sticky_sender=True, inbound_request_url=receiver.url("/service-sms")
    )
    assert service.sid.startswith("MG") and service.sticky_sender is True
    empty = rest_error(lambda: twilio.messages.create(to=CUSTOMER, messaging_service_sid=service.sid, body="x"))
    assert (empty.status, empty.code) == (400, 21704)
    for sid in (number["sid"], second["sid"]):
        twilio.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=sid)
    pool = twilio.messaging.v1.services(service.sid).phone_numbers.list()
    assert [n.phone_number for n in pool] == [OWNED, "+14155550199"]

    first = twilio.messages.create(to=CUSTOMER, messaging_service_sid=service.sid, body="campaign")
    assert first.status == "accepted" and first.messaging_service_sid == service.sid
    assert first.from_ in {OWNED, "+14155550199"}
    other = twilio.messages.create(to="+14155550143", messaging_service_sid=service.sid, body="campaign")
    again = twilio.messages.create(to=CUSTOMER, messaging_service_sid=service.sid, body="campaign 2")
    assert again.from_ == first.from_ and other.from_ != first.from_  # sticky per recipient, turns otherwise

    unknown = rest_error(lambda: twilio.messages.create(to=CUSTOMER, messaging_service_sid="MG" + "a" * 32, body="x"))
    assert (unknown.status, unknown.code) == (400, 21701)

    # A text to a pool number goes to the service's inbound URL, naming the service.
    control.inject_sms("+14155550143", "+14155550199", "hello")
    (received,) = receiver.at("/service-sms")
    assert received.form["MessagingServiceSid"] == service.sid and received.form["To"] == "+14155550199"


def test_long_unicode_body_counts_segments(twilio, number):
    sent = twilio.messages.create(to=CUSTOMER, from_=OWNED, body="héllo 👋 " * 20)
    assert sent.num_segments == "3"


@pytest.mark.parametrize("to", ["4155550142", "+0123", "whatsapp:+14155550142", "+1 415 555 0142"])
def test_send_to_invalid_number_is_21211(twilio, number, to):
    err = rest_error(lambda: twilio.messages.create(to=to, from_=OWNED, body="hi"))
    assert (err.status, err.code) == (400, 21211)


def test_send_from_a_number_not_owned_is_21606(twilio, control, number):
    other = control.create_account()
    control.add_number(other["sid"], "+12125550150")
    for sender in ("+14155550199", "+12125550150"):  # nobody's, and another account's
        err = rest_error(lambda: twilio.messages.create(to=CUSTOMER, from_=sender, body="hi"))
        assert (err.status, err.code) == (400, 21606)


def test_send_to_unsubscribed_recipient_is_21610(twilio, control, account, number):
    control.unsubscribe(account["sid"], CUSTOMER)
    assert control.unsubscribed(account["sid"]) == [CUSTOMER]
    err = rest_error(lambda: twilio.messages.create(to=CUSTOMER, from_=OWNED, body="hi"))
    assert (err.status, err.code) == (400, 21610)
    control.resubscribe(account["sid"], CUSTOMER)
    assert twilio.messages.create(to=CUSTOMER, from_=OWNED, body="hi").status == "queued"


def test_message_needs_a_sender_a_body_and_a_recipient(sandbox_server, account, twilio, number):
    path = "/Messages.json"
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data={"To": CUSTOMER, "Body": "x"}), 400, 21603)
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data={"To": CUSTOMER, "From": OWNED}), 400, 21619)
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data={"From": OWNED, "Body": "x"}), 400, 21604)
    too_long = {"To": CUSTOMER, "From": OWNED, "Body": "x" * 1601}
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data=too_long), 400, 21617)
    bad_callback = {"To": CUSTOMER, "From": OWNED, "Body": "x", "StatusCallback": "ftp://nope"}
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data=bad_callback), 400, 21402)
    unknown = {"To": CUSTOMER, "From": OWNED, "Body": "x", "Bodyy": "typo"}
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data=unknown), 400, 20001)
    bad_enum = {"To": CUSTOMER, "From": OWNED, "Body": "x", "ScheduleType": "later"}
    assert_twilio_error(raw(sandbox_server, account, "POST", path, data=bad_enum), 400, 20001)


def test_rate_limit_fault_is_429_with_20429(twilio, control, account, number):
    control.add_fault(account["sid"], times=1, method="POST", path_contains="/Messages.json")
    err = rest_error(lambda: twilio.messages.create(to=CUSTOMER, from_=OWNED, body="hi"))
    assert (err.status, err.code) == (429, 20429)
    assert twilio.messages.create(to=CUSTOMER, from_=OWNED, body="hi").status == "queued"


def test_token_bucket_rate_limit(twilio, control, account, number):
    control.set_rate_limit(account["sid"], per_second=0.001, burst=2)
    twilio.messages.create(to=CUSTOMER, from_=OWNED, body="1")
    twilio.messages.create(to=CUSTOMER, from_=OWNED, body="2")
    err = rest_error(lambda: twilio.messages.create(to=CUSTOMER, from_=OWNED, body="3"))
    assert (err.status, err.code) == (429, 20429)
    control.set_rate_limit(account["sid"], None)
    twilio.messages.create(to=CUSTOMER, from_=OWNED, body="4")


def test_fetch_unknown_message_and_malformed_sid_are_404(twilio):
    for sid in ("SM" + "0" * 32, "not-a-sid"):
        err = rest_error(lambda: twilio.messages(sid).fetch())
        assert (err.status, err.code) == (404, 20404)


# -- calls, applications, routing --------------------------------------------------------------
def test_fetch_an_injected_call(twilio, control, number):
    injected = control.inject_call(CUSTOMER, OWNED)
    call = twilio.calls(injected["call_sid"]).fetch()
    # twilio-python names the `from` field `_from` on CallInstance.
    assert (call.direction, call.status, call._from, call.to) == ("inbound", "in-progress", CUSTOMER, OWNED)
    assert call.phone_number_sid == number["sid"]
    err = rest_error(lambda: twilio.calls("CA" + "0" * 32).fetch())
    assert (err.status, err.code) == (404, 20404)


def test_create_twiml_application(twilio, receiver):
    app = twilio.applications.create(
        friendly_name="Browser calling", voice_url=receiver.url("/browser"), voice_method="POST"
    )
    assert app.sid.startswith("AP") and app.voice_url == receiver.url("/browser")
    assert app.friendly_name == "Browser calling"


def test_unknown_path_is_20404_and_wrong_method_20004(sandbox_server, account):
    assert_twilio_error(raw(sandbox_server, account, "GET", "/Queues.json"), 404, 20404)
    assert_twilio_error(raw(sandbox_server, account, "PUT", "/Messages.json"), 405, 20004)
    # Authentication still comes first, as at Twilio.
    assert raw(sandbox_server, account, "GET", "/Queues.json", auth=("x", "y")).status_code == 401


def test_requests_are_recorded(twilio, control, account):
    twilio.incoming_phone_numbers.create(phone_number=OWNED, sms_url="https://app.test/sms")
    logged = control.requests(account["sid"])
    assert logged[-1]["method"] == "POST" and logged[-1]["status"] == 201
    assert logged[-1]["form"] == {"PhoneNumber": [OWNED], "SmsUrl": ["https://app.test/sms"]}
