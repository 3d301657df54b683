"""Where the service and the schema both bound an input, they bound it alike: at the limit the
input is taken, one past it is a clean 4xx with its own code and nothing is stored, never a 500
from a check constraint (supabase/migrations/20261128002200_messaging.sql)."""

from __future__ import annotations

import itertools

from tests.support.twilio_signing import new_sid, signed_post

_n = itertools.count(1)

IDEMPOTENCY_KEY_LIMIT = 200  # messages.idempotency_key: char_length between 1 and 200
MEDIA_URL_LIMIT = 2000  # message_media.url: char_length(url) <= 2000
CONTENT_TYPE_LIMIT = 200  # message_media.content_type: char_length(content_type) <= 200
INBOUND_BODY_LIMIT = 10000  # messages.body: char_length(body) <= 10000
# messages.num_segments is an integer (at most 2147483647) and >= 0


def customer() -> str:
    return f"+1628556{next(_n):04d}"


def url_of_length(n: int) -> str:
    start = "https://media.example.com/"
    return start + "a" * (n - len(start))


def send(service, inbox, **extra):
    headers = extra.pop("headers", {})
    body = {"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": customer(), "body": "Hi", **extra}
    return service.post("/api/v1/messages", user=inbox.user, json=body, headers=headers)


def messages_to(db, workspace_id, to):
    return db.execute(
        "select count(*) as n from public.messages where workspace_id = %s and to_e164 = %s", (workspace_id, to)
    ).fetchone()["n"]


def test_idempotency_key_up_to_the_column_limit(service, inbox, db):
    at_limit = "k" * IDEMPOTENCY_KEY_LIMIT
    r = send(service, inbox, headers={"Idempotency-Key": at_limit})
    assert r.status_code == 201, r.text
    assert (
        db.execute("select count(*) as n from public.messages where idempotency_key = %s", (at_limit,)).fetchone()["n"]
        == 1
    )

    past = "k" * (IDEMPOTENCY_KEY_LIMIT + 1)
    to = customer()
    r = send(service, inbox, to=to, headers={"Idempotency-Key": past})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_idempotency_key"
    assert str(IDEMPOTENCY_KEY_LIMIT) in r.json()["error"]["message"]
    assert messages_to(db, inbox.workspace_id, to) == 0


def test_media_url_up_to_the_column_limit(service, inbox, db, sandbox):
    r = send(service, inbox, media_urls=[url_of_length(MEDIA_URL_LIMIT)])
    assert r.status_code == 201, r.text
    assert (
        db.execute(
            "select char_length(url) as n from public.message_media where message_id = %s", (r.json()["id"],)
        ).fetchone()["n"]
        == MEDIA_URL_LIMIT
    )

    to = customer()
    r = send(service, inbox, to=to, media_urls=["https://media.example.com/ok.jpg", url_of_length(MEDIA_URL_LIMIT + 1)])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "media_url_too_long"
    assert r.json()["error"]["field"] == "media_urls"
    assert messages_to(db, inbox.workspace_id, to) == 0
    assert not [m for m in sandbox.messages(account_sid=inbox.account["sid"]) if m.get("to") == to]


# ---------------------------------------------------------------------------------------
# Inbound: what Twilio posts, signed with the account's token


def inbound(service, inbox, sender, **fields):
    params = {
        "MessageSid": new_sid("MM"),
        "AccountSid": inbox.account["sid"],
        "From": sender,
        "To": inbox.e164,
        "Body": "photo",
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        **fields,
    }
    r = signed_post(service.base_url + "/twilio/messaging/inbound", params, inbox.account["auth_token"])
    return r, params["MessageSid"]


def stored(db, sid) -> int:
    return db.execute("select count(*) as n from public.messages where twilio_sid = %s", (sid,)).fetchone()["n"]


# (what is posted, the error code, or None when it is taken)
INBOUND_CASES = {
    "url at the limit": (
        {"NumMedia": "1", "MediaUrl0": url_of_length(MEDIA_URL_LIMIT), "MediaContentType0": "image/jpeg"},
        None,
    ),
    "url past the limit": (
        {"NumMedia": "1", "MediaUrl0": url_of_length(MEDIA_URL_LIMIT + 1), "MediaContentType0": "image/jpeg"},
        "invalid_media",
    ),
    "content type at the limit": (
        {
            "NumMedia": "1",
            "MediaUrl0": "https://media.example.com/a.jpg",
            "MediaContentType0": "image/" + "x" * (CONTENT_TYPE_LIMIT - 6),
        },
        None,
    ),
    "content type past the limit": (
        {
            "NumMedia": "1",
            "MediaUrl0": "https://media.example.com/a.jpg",
            "MediaContentType0": "image/" + "x" * (CONTENT_TYPE_LIMIT - 5),
        },
        "invalid_media",
    ),
    "ten media": (
        {"NumMedia": "10", **{f"MediaUrl{i}": f"https://media.example.com/{i}.jpg" for i in range(10)}},
        None,
    ),
    "eleven media": (
        {"NumMedia": "11", **{f"MediaUrl{i}": f"https://media.example.com/{i}.jpg" for i in range(11)}},
        "invalid_num_media",
    ),
    "body at the limit": ({"Body": "b" * INBOUND_BODY_LIMIT}, None),
    "body past the limit": ({"Body": "b" * (INBOUND_BODY_LIMIT + 1)}, "body_too_long"),
    "segments at the limit": ({"NumSegments": "2147483647"}, None),
    "segments past the limit": ({"NumSegments": "2147483648"}, "invalid_num_segments"),
    "negative segments": ({"NumSegments": "-1"}, "invalid_num_segments"),
}


def test_inbound_fields_up_to_the_column_limits(service, inbox, db):
    # One workspace for every case: each inbox buys a number from the sandbox's shared inventory.
    for case, (fields, code) in INBOUND_CASES.items():
        r, sid = inbound(service, inbox, customer(), **fields)
        if code is None:
            assert r.status_code == 200, f"{case}: {r.text}"
            assert stored(db, sid) == 1, case
        else:
            assert r.status_code == 400, f"{case}: {r.text}"
            assert r.json()["error"]["code"] == code, case
            assert stored(db, sid) == 0, case
