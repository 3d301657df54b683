"""Helpers for the voice tests: routing rules, TwiML parsing, signed requests to /twilio/voice/*."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from tests.support.twilio_signing import new_sid, signed_post

_n = itertools.count(1)


def caller() -> str:
    return f"+1628555{next(_n) + 3000:04d}"


def twiml(body: str) -> ET.Element:
    root = ET.fromstring(body.encode())
    assert root.tag == "Response"
    return root


def add_rule(db, inbox, **fields):
    fields = {"workspace_id": inbox.workspace_id, "phone_number_id": inbox.number["id"], **fields}
    cols = ", ".join(fields)
    marks = ", ".join(["%s"] * len(fields))
    return db.execute(
        f"insert into public.call_routing_rules ({cols}) values ({marks}) returning id",
        [v if not isinstance(v, dict) else __import__("json").dumps(v) for v in fields.values()],
    ).fetchone()["id"]


def call_row(db, sid):
    return db.execute("select * from public.calls where twilio_sid = %s", (sid,)).fetchone()


def enable_voicemail(db, inbox, enabled: bool = True) -> None:
    """What an admin does to have callers' messages recorded (off by default)."""
    db.execute("update public.phone_numbers set voicemail_enabled = %s where id = %s", (enabled, inbox.number["id"]))


def says_then_records(root) -> list[str]:
    """The verbs of a voicemail answer, in order, with what each <Say> says."""
    return [f"Say: {child.text}" if child.tag == "Say" else child.tag for child in root]


class VoiceHooks:
    def __init__(self, service, inbox):
        self.service, self.inbox = service, inbox

    def post(self, path: str, params: dict, token: str | None = None, **kw):
        params = {"AccountSid": self.inbox.account["sid"], "ApiVersion": "2010-04-01", **params}
        return signed_post(self.service.base_url + path, params, token or self.inbox.account["auth_token"], **kw)

    def inbound(self, from_: str, sid: str | None = None, **extra):
        return self.post(
            "/twilio/voice/inbound",
            {
                "CallSid": sid or new_sid("CA"),
                "From": from_,
                "To": self.inbox.e164,
                "Direction": "inbound",
                "CallStatus": "ringing",
                **extra,
            },
        )


@pytest.fixture
def hooks(service, inbox):
    return VoiceHooks(service, inbox)
