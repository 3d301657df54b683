"""Fixtures for the privacy tests: a second workspace whose data must never show up."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

OUTSIDER_SECRET = "outsider secret: the gate code is 4471"
OUTSIDER_CONTACT = "Zebedee Outsiderson"
# Australia's range for fiction: never one the Twilio sandbox hands out. An active number
# belongs to one workspace at a time, so each outsider gets their own.
_numbers = itertools.count(1)


@dataclasses.dataclass
class Outsider:
    user: object
    contact_phone: str


def add_conversation(db, workspace_id: str, number_e164: str, contact_phone: str, first_name: str, body: str,
                     sid_digit: str) -> None:
    """A number, a contact, a conversation and one inbound message, written directly."""
    number_id = db.execute(
        "insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (%s, %s, %s) returning id",
        (workspace_id, "PN" + sid_digit * 32, number_e164)).fetchone()["id"]
    contact_id = db.execute(
        "insert into public.contacts (workspace_id, phone_e164, first_name) values (%s, %s, %s) returning id",
        (workspace_id, contact_phone, first_name)).fetchone()["id"]
    conv_id = db.execute(
        "insert into public.conversations (workspace_id, phone_number_id, contact_id) values (%s, %s, %s) returning id",
        (workspace_id, number_id, contact_id)).fetchone()["id"]
    db.execute("insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status) "
               "values (%s, %s, 'inbound', %s, %s, %s, 'received')",
               (workspace_id, conv_id, contact_phone, number_e164, body))


@pytest.fixture
def outsider(make_user, db):
    """Another user's workspace with a contact and a message nobody else may see."""
    user = make_user("outsider")
    n = next(_numbers)
    add_conversation(db, user.workspace_id, f"+6149157{n:04d}", "+16285559901", OUTSIDER_CONTACT, OUTSIDER_SECRET,
                     f"{n % 10}")
    return Outsider(user=user, contact_phone="+16285559901")
