"""GET /api/v1/campaigns/{id}/estimate and /report.csv: what a campaign would send and cost before
it is sent (bodies rendered per recipient, segments, encoding, UCS-2 hints with their GSM-7
replacements), and each recipient's outcome with its error code explained."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from .conftest import add_contacts, create_campaign, fresh_number, recipients, run_until

# 74 characters once rendered for "Ann": two UCS-2 segments (70 a segment) because of the dash and
# the curly quote, one GSM-7 segment once they are replaced.
BODY = "Hi {{first_name|there}} \u2014 it\u2019s our spring sale: 20% off everything in the shop until Sunday"


@pytest.fixture
def draft(inbox, db, database_url):
    tag = f"estimate-{uuid.uuid4().hex[:8]}"
    add_contacts(db, inbox.workspace_id, 2, tags=[tag], first_names=["Ann", None])
    opted_out, invalid = fresh_number(), "+1999" + fresh_number()[-7:]  # 999 is no area code: not a valid number
    for number in (opted_out, invalid):
        db.execute(
            "insert into public.contacts (workspace_id, phone_e164, tags) values (%s, %s, %s)",
            (inbox.workspace_id, number, [tag]),
        )
    db.execute("select private.record_opt_out(%s, %s, 'manual')", (inbox.workspace_id, opted_out))
    return create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Estimate",
        phone_number_id=inbox.number["id"],
        body=BODY,
        include_tags=[tag],
    )


def estimate(service, user, campaign):
    return service.get(f"/api/v1/campaigns/{campaign}/estimate", user=user)


def test_the_estimate_renders_every_recipient_and_names_what_forces_ucs2(service, inbox, draft, db):
    r = estimate(service, inbox.user, draft)
    assert r.status_code == 200, r.text
    e = r.json()
    assert (e["recipients"], e["sendable"]) == (4, 2)
    assert e["skipped"] == {"opted_out": 1, "invalid": 1, "removed": 0, "unreachable": 0, "canceled": 0}
    assert e["encoding"] == "ucs2" and e["messages_by_encoding"] == {"gsm7": 0, "ucs2": 2}
    assert e["segments"] == 4 and e["max_segments_per_message"] == 2  # 74 and 76 UCS-2 characters: 2 each
    (ucs2,) = [w for w in e["warnings"] if w["code"] == "ucs2_characters"]
    assert ucs2["characters"] == [
        {"character": "\u2014", "replacement": "-"},
        {"character": "\u2019", "replacement": "'"},
    ]
    assert ucs2["segments_with_transliteration"] == 2 and "transliterate" in ucs2["message"]
    (us,) = e["cost"]["by_country"]
    assert (us["country"], us["recipients"], us["segments"], us["unit_price"]) == ("US", 2, 4, 0.0083)
    assert e["cost"] == {"total": 0.0332, "currency": "USD", "by_country": [us]}


def test_transliteration_is_applied_and_a_workspace_s_own_price_wins(service, inbox, draft, db):
    db.execute("update public.campaigns set transliterate = true where id = %s", (draft,))
    db.execute(
        "insert into public.message_prices (workspace_id, country, per_segment) values (%s, 'US', 0.01)",
        (inbox.workspace_id,),
    )
    try:
        e = estimate(service, inbox.user, draft).json()
    finally:
        db.execute("delete from public.message_prices where workspace_id = %s", (inbox.workspace_id,))
    assert e["transliterate"] is True and e["encoding"] == "gsm7" and e["segments"] == 2
    assert not [w for w in e["warnings"] if w["code"] == "ucs2_characters"]
    assert e["cost"]["total"] == 0.02


def test_a_launched_campaign_sends_the_transliterated_body(service, inbox, draft, db, sandbox, sender):
    db.execute("update public.campaigns set transliterate = true where id = %s", (draft,))
    assert service.post(f"/api/v1/campaigns/{draft}/launch", user=inbox.user).status_code == 201
    assert run_until(sender, lambda: all(r["status"] != "pending" for r in recipients(db, draft).values()))
    rows = recipients(db, draft)
    ann = next(r for r in rows.values() if r["body"] and r["body"].startswith("Hi Ann"))
    assert ann["body"] == "Hi Ann - it's our spring sale: 20% off everything in the shop until Sunday"
    (sent,) = sandbox.messages(account_sid=inbox.account["sid"], to=ann["phone_e164"])
    assert sent["body"] == ann["body"] and sent["num_segments"] == "1"


def test_the_estimate_is_for_members_of_the_campaign_s_workspace(service, draft, make_user):
    outsider = make_user("outsider")
    for campaign in (draft, str(uuid.uuid4()), "nope"):
        r = estimate(service, outsider, campaign)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "campaign_not_found")
        r = service.get(f"/api/v1/campaigns/{campaign}/report.csv", user=outsider)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "campaign_not_found")


def test_the_report_explains_each_error_code_and_exports_as_csv(service, inbox, db, database_url, sandbox, sender):
    tag = f"csv-{uuid.uuid4().hex[:8]}"
    ok, filtered = add_contacts(db, inbox.workspace_id, 2, tags=[tag])
    sandbox.set_scenario(filtered, "undelivered", error_code=30007)
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="CSV",
        phone_number_id=inbox.number["id"],
        body="Hello",
        include_tags=[tag],
        send_rate=50,
    )
    try:
        assert service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user).status_code == 201
        assert run_until(sender, lambda: all(r["status"] == "sent" for r in recipients(db, campaign).values()))
        assert sandbox.wait_idle()
    finally:
        sandbox.clear_scenario(filtered)
    report = service.get(f"/api/v1/campaigns/{campaign}/report", user=inbox.user).json()
    assert report["errors"] == [
        {
            "error_code": 30007,
            "count": 1,
            "meaning": "The carrier filtered the message as spam; review its content and sender registration.",
        }
    ]
    r = service.get(f"/api/v1/campaigns/{campaign}/report.csv", user=inbox.user)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = {row["phone_number"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert rows[ok]["message_status"] == "delivered" and rows[ok]["error_code"] == ""
    assert rows[filtered]["message_status"] == "undelivered" and rows[filtered]["error_code"] == "30007"
    assert rows[filtered]["error_meaning"].startswith("The carrier filtered the message")
