"""Every resource the sandbox returns validates against Twilio's OpenAPI response schema.

Stricter than the spec itself: every declared property must be present (Twilio's
responses carry all keys, null when empty) and no undeclared one may appear. Skipped,
saying where to get it, when Twilio's description is not beside the checkout.
"""

from __future__ import annotations

import copy
import re
from email.utils import parsedate_to_datetime

import jsonschema
import pytest
import requests

from numeraloop_local.twilio_sandbox import ids

from .conftest import CUSTOMER, OWNED
from .twilio_oai import OpenApi, load_or_skip

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time-rfc-2822", raises=(TypeError, ValueError))
def _rfc2822(value) -> bool:
    return parsedate_to_datetime(value).utcoffset() is not None and value.endswith("+0000")


@FORMATS.checks("phone-number")
def _phone(value) -> bool:
    # The spec marks an available number's friendly_name as phone-number, while Twilio's own
    # example (and API) gives the display form "(808) 925-1571"; both are accepted, nothing else.
    return ids.is_e164(value) or re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", value) is not None


def to_json_schema(spec: OpenApi, node: dict) -> dict:
    """OpenAPI 3.0 schema -> JSON Schema: inline $refs, `nullable` as a null alternative, strict objects."""
    if "$ref" in node:
        return to_json_schema(spec, spec.resolve(node))
    node = copy.deepcopy(node)
    nullable = node.pop("nullable", False)
    if "properties" in node:
        node["properties"] = {k: to_json_schema(spec, v) for k, v in node["properties"].items()}
        node["required"] = list(node["properties"])
        node["additionalProperties"] = False
    if "items" in node:
        node["items"] = to_json_schema(spec, node["items"])
    return {"anyOf": [node, {"type": "null"}]} if nullable else node


@pytest.fixture(scope="module")
def spec() -> OpenApi:
    return load_or_skip()


@pytest.fixture
def check(spec):
    def _check(path: str, method: str, response: requests.Response) -> dict:
        schema = spec.response_schema(path, method, response.status_code)
        assert schema is not None, f"{method} {path} declares no JSON response {response.status_code}"
        body = response.json()
        jsonschema.Draft7Validator(to_json_schema(spec, schema), format_checker=FORMATS).validate(body)
        return body

    return _check


@pytest.fixture
def api(sandbox_server, account):
    session = requests.Session()
    session.auth = (account["sid"], account["auth_token"])
    base = f"{sandbox_server.url}/2010-04-01/Accounts/{account['sid']}"

    def call(method, path, **kwargs):
        return session.request(method, base + path, timeout=5, **kwargs)

    return call


ACC = "/2010-04-01/Accounts/{AccountSid}"


def test_every_resource_matches_its_response_schema(check, api, control, receiver, sandbox_server, account):
    check("/2010-04-01/Accounts/{Sid}.json", "get", api("GET", ".json"))

    for kind in ("Local", "TollFree"):
        found = check(f"{ACC}/AvailablePhoneNumbers/{{CountryCode}}/{kind}.json", "get",
                      api("GET", f"/AvailablePhoneNumbers/US/{kind}.json", params={"PageSize": 3}))
        assert len(found["available_phone_numbers"]) == 3

    created = api("POST", "/IncomingPhoneNumbers.json", data={"PhoneNumber": OWNED, "SmsUrl": receiver.url("/sms"),
                                                                "VoiceUrl": receiver.url("/voice")})
    assert created.status_code == 201
    number = check(f"{ACC}/IncomingPhoneNumbers.json", "post", created)
    one = f"{ACC}/IncomingPhoneNumbers/{{Sid}}.json"
    check(one, "get", api("GET", f"/IncomingPhoneNumbers/{number['sid']}.json"))
    check(one, "post", api("POST", f"/IncomingPhoneNumbers/{number['sid']}.json", data={"FriendlyName": "Main"}))
    api("POST", "/IncomingPhoneNumbers.json", data={"AreaCode": "415"})
    listed = check(f"{ACC}/IncomingPhoneNumbers.json", "get", api("GET", "/IncomingPhoneNumbers.json",
                                                                     params={"PageSize": 1}))
    assert listed["next_page_uri"] is not None and len(listed["incoming_phone_numbers"]) == 1

    sent = api("POST", "/Messages.json", data=[("To", CUSTOMER), ("From", OWNED), ("Body", "hi"),
                                               ("MediaUrl", "https://cdn.example.test/a.jpg"),
                                               ("StatusCallback", receiver.url("/status"))])
    assert sent.status_code == 201
    message = check(f"{ACC}/Messages.json", "post", sent)
    control.queue_scenario(account["sid"], "failed", 30007)
    failed = check(f"{ACC}/Messages.json", "post", api("POST", "/Messages.json",
                                                       data={"To": CUSTOMER, "From": OWNED, "Body": "x"}))
    control.wait_idle()
    check(f"{ACC}/Messages/{{Sid}}.json", "get", api("GET", f"/Messages/{message['sid']}.json"))
    failed = check(f"{ACC}/Messages/{{Sid}}.json", "get", api("GET", f"/Messages/{failed['sid']}.json"))
    assert (failed["status"], failed["error_code"]) == ("failed", 30007)

    call_sid = control.inject_call(CUSTOMER, OWNED)["call_sid"]
    check(f"{ACC}/Calls/{{Sid}}.json", "get", api("GET", f"/Calls/{call_sid}.json"))

    check(f"{ACC}/Applications.json", "post", api("POST", "/Applications.json",
                                                 data={"FriendlyName": "Browser", "VoiceUrl": receiver.url("/b")}))
    check(f"{ACC}/Keys.json", "post", api("POST", "/Keys.json", data={"FriendlyName": "svc"}))


def test_the_schema_check_is_not_vacuous(spec, api):
    """The same check rejects a resource with a wrong SID, a missing key or an extra one."""
    good = api("GET", ".json").json()
    schema = to_json_schema(spec, spec.response_schema("/2010-04-01/Accounts/{Sid}.json", "get", 200))
    validator = jsonschema.Draft7Validator(schema, format_checker=FORMATS)
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "sid": "XX" + good["sid"][2:]})
    assert not validator.is_valid({**good, "date_created": "2015-07-30T20:00:00Z"})
    assert not validator.is_valid({k: v for k, v in good.items() if k != "uri"})
    assert not validator.is_valid({**good, "secret_sauce": True})
