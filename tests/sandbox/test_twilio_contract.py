"""The sandbox's description of Twilio's API held against Twilio's own (github.com/twilio/twilio-oai).

The sandbox validates and shapes from twilio_sandbox/description.py alone; this is the one
place that reads Twilio's published OpenAPI description, and it is skipped, saying where to
get it, when that file is not beside the checkout. Checked here:
  - every operation the sandbox serves is Twilio's, answering the same status and resource;
  - every parameter it accepts is one Twilio declares for that operation, with the same
    type, enum, pattern, length, range, format and required flag, and none Twilio requires is missing;
  - every resource carries exactly Twilio's fields, in Twilio's order;
  - real responses validate against Twilio's response schemas, stricter than the schemas
    themselves: every declared property present (null when empty), no undeclared one.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from email.utils import parsedate_to_datetime

import jsonschema
import pytest
import requests

from numeraloop_local.twilio_sandbox import description, ids
from numeraloop_local.twilio_sandbox.description import FORMATS as KNOWN_FORMATS
from numeraloop_local.twilio_sandbox.description import Operation, Param

from .conftest import CUSTOMER, OWNED
from .twilio_oai import MESSAGING_SPEC_FILE, OpenApi, load_or_skip


@pytest.fixture(scope="module")
def spec() -> OpenApi:
    return load_or_skip()


@pytest.fixture(scope="module")
def messaging_spec() -> OpenApi:
    return load_or_skip(MESSAGING_SPEC_FILE)


class Specs:
    """Twilio's description of each API the sandbox serves, by path: /2010-04-01 and /v1 (Messaging)."""

    def __init__(self, api: OpenApi, messaging: OpenApi | None = None):
        self.api, self.messaging = api, messaging

    def __call__(self, path: str) -> OpenApi:
        return self.messaging if path.startswith("/v1/") and self.messaging is not None else self.api


# -- the description against Twilio's ------------------------------------------------------------
def as_param(spec: OpenApi, schema: dict, required: bool) -> Param:
    """Twilio's parameter schema in the description's terms, for an equality check."""
    many = schema.get("type") == "array"
    if many:
        schema = spec.resolve(schema.get("items", {}))
    fmt = schema.get("format")
    if fmt not in KNOWN_FORMATS or schema.get("x-twilio", {}).get("ignoreFormat"):
        fmt = None  # int64 and the like say nothing a request could break; ignoreFormat is unchecked by Twilio
    return Param(
        type=schema.get("type", "string"),
        required=required,
        many=many,
        enum=tuple(sorted(schema.get("enum", ()))),
        pattern=schema.get("pattern"),
        min_length=schema.get("minLength"),
        max_length=schema.get("maxLength"),
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
        format=fmt,
    )


def field_problems(what: str, ours: tuple[str, ...], schema: dict) -> list[str]:
    theirs = list(schema.get("properties", {}))
    problems = [f"{what}: Twilio has no field {name!r}" for name in ours if name not in theirs]
    problems += [f"{what}: Twilio also returns {name!r}" for name in theirs if name not in ours]
    if not problems and list(ours) != theirs:
        problems.append(f"{what}: fields not in Twilio's order {theirs}")
    return problems


def param_problems(spec: OpenApi, op: Operation, where: str, ours: dict[str, Param]) -> list[str]:
    what = f"{op.method} {op.path}"
    theirs = spec.parameters(op.path, op.method, where)
    problems = []
    for name, param in ours.items():
        if name not in theirs:
            problems.append(f"{what}: Twilio has no {where} parameter {name!r}")
            continue
        expected = as_param(spec, *theirs[name])
        if dataclasses.replace(param, enum=tuple(sorted(param.enum))) != expected:
            problems.append(f"{what}: {name} is {param}, Twilio's is {expected}")
    problems += [
        f"{what}: Twilio requires {name!r}, which the sandbox does not take"
        for name, (_schema, required) in theirs.items()
        if required and name not in ours
    ]
    return problems


def contract_problems(specs, operations: dict, resources: dict) -> list[str]:
    specs = specs if isinstance(specs, Specs) else Specs(specs)
    problems = []
    for op in operations.values():
        spec = specs(op.path)
        what = f"{op.method} {op.path}"
        if spec.operation(op.path, op.method) is None:
            problems.append(f"{what}: no such operation in Twilio's description")
            continue
        problems += param_problems(spec, op, "path", op.path_params)
        problems += param_problems(spec, op, "query" if op.method == "GET" else "form", op.params)
        declared = spec.operation(op.path, op.method)["responses"]
        if str(op.status) not in declared:
            problems.append(f"{what}: Twilio answers {sorted(declared)}, not {op.status}")
            continue
        schema = spec.response_schema(op.path, op.method, op.status)
        if op.returns is None:
            if schema is not None:
                problems.append(f"{what}: Twilio answers {op.status} with a body")
            continue
        if op.listed_as:
            page = spec.resolve(schema)
            if op.path.startswith("/v1/"):  # the list, then its paging under "meta"
                problems += field_problems(f"{what} page", (op.listed_as, "meta"), page)
                meta = page.get("properties", {}).get("meta", {})
                problems += field_problems(f"{what} meta", description.V1_PAGE_META, meta)
            else:
                problems += field_problems(f"{what} page", description.PAGE + (op.listed_as,), page)
            if op.listed_as not in page.get("properties", {}):
                continue
            schema = page["properties"][op.listed_as]["items"]
        problems += field_problems(f"{what} {op.returns}", resources[op.returns], spec.resolve(schema))
    return problems


def test_the_description_matches_twilios(spec, messaging_spec):
    assert contract_problems(Specs(spec, messaging_spec), description.OPERATIONS, description.RESOURCES) == []


def test_the_contract_check_is_not_vacuous(spec):
    """A drifted parameter, an invented one, a missing required one, an invented or reordered field: each is caught."""
    send = description.operation("POST", f"{description.ACCOUNT}/Messages.json")
    drifted = {
        "To optional": {"To": dataclasses.replace(send.params["To"], required=False)},
        "Body with a pattern": {"Body": Param(pattern="^x$")},
        "ScheduleType widened": {"ScheduleType": description.choice("fixed", "later")},
        "StatusCallback not a URL": {"StatusCallback": description.TEXT},
        "MediaUrl single": {"MediaUrl": description.TEXT},
        "invented": {"Bodyy": description.TEXT},
    }
    for label, change in drifted.items():
        op = dataclasses.replace(send, params={**send.params, **change})
        assert contract_problems(spec, {"op": op}, description.RESOURCES), label
    no_to = dataclasses.replace(send, params={k: v for k, v in send.params.items() if k != "To"})
    assert contract_problems(spec, {"op": no_to}, description.RESOURCES)
    fields = description.RESOURCES["message"]
    for wrong in (fields + ("secret_sauce",), fields[1:], (fields[1], fields[0]) + fields[2:]):
        assert contract_problems(spec, {"op": send}, {**description.RESOURCES, "message": wrong})
    invented = Operation("GET", f"{description.ACCOUNT}/Sandwiches.json", description.IN_ACCOUNT, {}, 200)
    assert contract_problems(spec, {"op": invented}, description.RESOURCES)


# -- real responses against Twilio's response schemas ---------------------------------------------
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
def messaging_check(messaging_spec):
    def _check(path: str, method: str, response: requests.Response) -> dict:
        schema = messaging_spec.response_schema(path, method, response.status_code)
        assert schema is not None, f"{method} {path} declares no JSON response {response.status_code}"
        body = response.json()
        jsonschema.Draft7Validator(to_json_schema(messaging_spec, schema), format_checker=FORMATS).validate(body)
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


def test_every_resource_matches_its_response_schema(
    check, messaging_check, api, control, receiver, sandbox_server, account
):
    check("/2010-04-01/Accounts/{Sid}.json", "get", api("GET", ".json"))

    for kind in ("Local", "TollFree"):
        found = check(
            f"{ACC}/AvailablePhoneNumbers/{{CountryCode}}/{kind}.json",
            "get",
            api("GET", f"/AvailablePhoneNumbers/US/{kind}.json", params={"PageSize": 3}),
        )
        assert len(found["available_phone_numbers"]) == 3

    created = api(
        "POST",
        "/IncomingPhoneNumbers.json",
        data={"PhoneNumber": OWNED, "SmsUrl": receiver.url("/sms"), "VoiceUrl": receiver.url("/voice")},
    )
    assert created.status_code == 201
    number = check(f"{ACC}/IncomingPhoneNumbers.json", "post", created)
    one = f"{ACC}/IncomingPhoneNumbers/{{Sid}}.json"
    check(one, "get", api("GET", f"/IncomingPhoneNumbers/{number['sid']}.json"))
    check(one, "post", api("POST", f"/IncomingPhoneNumbers/{number['sid']}.json", data={"FriendlyName": "Main"}))
    api("POST", "/IncomingPhoneNumbers.json", data={"AreaCode": "415"})
    listed = check(
        f"{ACC}/IncomingPhoneNumbers.json", "get", api("GET", "/IncomingPhoneNumbers.json", params={"PageSize": 1})
    )
    assert listed["next_page_uri"] is not None and len(listed["incoming_phone_numbers"]) == 1

    sent = api(
        "POST",
        "/Messages.json",
        data=[
            ("To", CUSTOMER),
            ("From", OWNED),
            ("Body", "hi"),
            ("MediaUrl", "https://cdn.example.test/a.jpg"),
            ("StatusCallback", receiver.url("/status")),
        ],
    )
    assert sent.status_code == 201
    message = check(f"{ACC}/Messages.json", "post", sent)
    control.queue_scenario(account["sid"], "failed", 30007)
    failed = check(
        f"{ACC}/Messages.json", "post", api("POST", "/Messages.json", data={"To": CUSTOMER, "From": OWNED, "Body": "x"})
    )
    control.wait_idle()
    check(f"{ACC}/Messages/{{Sid}}.json", "get", api("GET", f"/Messages/{message['sid']}.json"))
    listed = check(
        f"{ACC}/Messages.json",
        "get",
        api(
            "GET",
            "/Messages.json",
            params={"To": CUSTOMER, "From": OWNED, "DateSent>": "2000-01-01T00:00:00Z", "PageSize": 1},
        ),
    )
    assert [m["sid"] for m in listed["messages"]] == [message["sid"]]  # the failed one was never sent
    failed = check(f"{ACC}/Messages/{{Sid}}.json", "get", api("GET", f"/Messages/{failed['sid']}.json"))
    assert (failed["status"], failed["error_code"]) == ("failed", 30007)

    call_sid = control.inject_call(CUSTOMER, OWNED)["call_sid"]

    check_v1 = messaging_check
    v1_session = requests.Session()
    v1_session.auth = (account["sid"], account["auth_token"])

    def v1(method, path, **kwargs):
        return v1_session.request(method, f"{sandbox_server.url}/v1{path}", timeout=5, **kwargs)

    created = v1("POST", "/Services", data={"FriendlyName": "Campaigns", "StickySender": "true"})
    assert created.status_code == 201, created.text
    service = check_v1("/v1/Services", "post", created)
    check_v1("/v1/Services/{Sid}", "get", v1("GET", f"/Services/{service['sid']}"))
    check_v1(
        "/v1/Services/{Sid}",
        "post",
        v1("POST", f"/Services/{service['sid']}", data={"InboundRequestUrl": receiver.url("/service")}),
    )
    added = v1("POST", f"/Services/{service['sid']}/PhoneNumbers", data={"PhoneNumberSid": number["sid"]})
    assert added.status_code == 201, added.text
    check_v1("/v1/Services/{ServiceSid}/PhoneNumbers", "post", added)
    pool = check_v1(
        "/v1/Services/{ServiceSid}/PhoneNumbers", "get", v1("GET", f"/Services/{service['sid']}/PhoneNumbers")
    )
    assert [n["phone_number"] for n in pool["phone_numbers"]] == [OWNED]
    check(f"{ACC}/Calls/{{Sid}}.json", "get", api("GET", f"/Calls/{call_sid}.json"))
    recording = control.record(call_sid, duration=7)["recording"]
    one = f"{ACC}/Recordings/{{Sid}}.json"
    assert check(one, "get", api("GET", f"/Recordings/{recording['sid']}.json"))["duration"] == "7"
    assert api("DELETE", f"/Recordings/{recording['sid']}.json").status_code == 204
    assert api("GET", f"/Recordings/{recording['sid']}.json").status_code == 404
    gone = check(one, "get", api("GET", f"/Recordings/{recording['sid']}.json", params={"IncludeSoftDeleted": "true"}))
    assert (gone["status"], gone["media_url"]) == ("deleted", None)

    check(
        f"{ACC}/Applications.json",
        "post",
        api("POST", "/Applications.json", data={"FriendlyName": "Browser", "VoiceUrl": receiver.url("/b")}),
    )
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
