"""Fixtures for the privacy tests: a second workspace whose data must never show up."""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid

import pytest

OUTSIDER_SECRET = "outsider secret: the gate code is 4471"
OUTSIDER_CONTACT = "Zebedee Outsiderson"
OUTSIDER_MARKER = "outsider-only"
# Australia's range for fiction: never one the Twilio sandbox hands out. An active number
# belongs to one workspace at a time, so each outsider gets their own.
_numbers = itertools.count(1)


@dataclasses.dataclass
class Outsider:
    user: object
    contact_phone: str
    records: dict[str, str]


def add_conversation(
    db, workspace_id: str, number_e164: str, contact_phone: str, first_name: str, body: str, sid_digit: str
) -> str:
    """A number, a contact, a conversation and one inbound message, written directly; the number's id."""
    number_id = db.execute(
        "insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (%s, %s, %s) returning id",
        (workspace_id, "PN" + sid_digit * 32, number_e164),
    ).fetchone()["id"]
    contact_id = db.execute(
        "insert into public.contacts (workspace_id, phone_e164, first_name) values (%s, %s, %s) returning id",
        (workspace_id, contact_phone, first_name),
    ).fetchone()["id"]
    conv_id = db.execute(
        "insert into public.conversations (workspace_id, phone_number_id, contact_id) values (%s, %s, %s) returning id",
        (workspace_id, number_id, contact_id),
    ).fetchone()["id"]
    db.execute(
        "insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status) "
        "values (%s, %s, 'inbound', %s, %s, %s, 'received')",
        (workspace_id, conv_id, contact_phone, number_e164, body),
    )
    return number_id


def _stripe_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def add_workspace_records(db, workspace_id: str, number_id: str, marker: str) -> dict[str, str]:
    """A row in each table the export gained (imports, campaigns and recipients, canned messages,
    keyword triggers, auto-replies, routing rules, a webhook endpoint, an audit row and billing),
    written directly, each carrying `marker` where it has text. Returns identifying values."""
    list_id = db.execute(
        "insert into public.contact_lists (workspace_id, name) values (%s, %s) returning id",
        (workspace_id, f"{marker} list"),
    ).fetchone()["id"]
    db.execute(
        "insert into public.contact_imports (workspace_id, filename, consent_source, list_id, status, "
        "rows_read, imported, finished_at) values (%s, %s, 'website form', %s, 'completed', 1, 1, now())",
        (workspace_id, f"{marker}.csv", list_id),
    )
    campaign_id = db.execute(
        "insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids) "
        "values (%s, %s, %s, %s, %s) returning id",
        (workspace_id, f"{marker} campaign", number_id, f"{marker} campaign body", [list_id]),
    ).fetchone()["id"]
    db.execute(
        "insert into public.campaign_recipients (workspace_id, campaign_id, phone_e164, status) "
        "values (%s, %s, '+16285550177', 'canceled')",
        (workspace_id, campaign_id),
    )
    db.execute(
        "insert into public.canned_messages (workspace_id, title, body) values (%s, %s, %s)",
        (workspace_id, f"{marker} canned", f"{marker} canned body"),
    )
    db.execute(
        "insert into public.keyword_triggers (workspace_id, keyword, reply_text) values (%s, %s, %s)",
        (workspace_id, f"JOIN{uuid.uuid4().hex[:6]}", f"{marker} keyword reply"),
    )
    db.execute(
        "insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (%s, 'first_message', %s)",
        (workspace_id, f"{marker} auto reply"),
    )
    db.execute(
        "insert into public.call_routing_rules (workspace_id, phone_number_id, name, action) "
        "values (%s, %s, %s, 'voicemail')",
        (workspace_id, number_id, f"{marker} routing"),
    )
    secret = db.execute(
        "insert into public.webhook_endpoints (workspace_id, url, description) values (%s, %s, %s) returning secret",
        (workspace_id, "https://hooks.example.com/" + uuid.uuid4().hex, f"{marker} endpoint"),
    ).fetchone()["secret"]
    db.execute(
        "select private.write_audit_log(%s, null, 'test.export_marker', 'workspace', %s, %s, null)",
        (workspace_id, workspace_id, json.dumps({"marker": marker})),
    )
    customer = _stripe_id("cus_")
    db.execute(
        "insert into public.billing_customers (workspace_id, stripe_customer_id) values (%s, %s)",
        (workspace_id, customer),
    )
    subscription = _stripe_id("sub_")
    # A paying workspace (Starter: 5 seats), so tests can add an agent and an admin to it.
    db.execute(
        "insert into public.subscriptions (workspace_id, stripe_subscription_id, stripe_customer_id, "
        "stripe_price_id, plan_id, status, stripe_updated) "
        "values (%s, %s, %s, 'price_numeraloop_starter_monthly', 'starter', 'active', now())",
        (workspace_id, subscription, customer),
    )
    invoice = _stripe_id("in_")
    db.execute(
        "insert into public.invoices (workspace_id, stripe_invoice_id, stripe_customer_id, status, currency, "
        "total, stripe_created, stripe_updated) values (%s, %s, %s, 'paid', 'usd', 2900, now(), now())",
        (workspace_id, invoice, customer),
    )
    payment_method = _stripe_id("pm_")
    db.execute(
        "insert into public.payment_methods (workspace_id, stripe_payment_method_id, stripe_customer_id, "
        "brand, last4, exp_month, exp_year, stripe_updated) "
        "values (%s, %s, %s, 'visa', '4242', 12, 2030, now())",
        (workspace_id, payment_method, customer),
    )
    return {
        "campaign_id": str(campaign_id),
        "webhook_secret": secret,
        "stripe_customer_id": customer,
        "stripe_subscription_id": subscription,
        "stripe_invoice_id": invoice,
        "stripe_payment_method_id": payment_method,
    }


@pytest.fixture
def outsider(make_user, db):
    """Another user's workspace with a contact, a message and a row in every exported table,
    none of which anybody else may see."""
    user = make_user("outsider")
    n = next(_numbers)
    number_id = add_conversation(
        db, user.workspace_id, f"+6149157{n:04d}", "+16285559901", OUTSIDER_CONTACT, OUTSIDER_SECRET, f"{n % 10}"
    )
    records = add_workspace_records(db, user.workspace_id, number_id, OUTSIDER_MARKER)
    return Outsider(user=user, contact_phone="+16285559901", records=records)
