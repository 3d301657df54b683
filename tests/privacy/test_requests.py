"""Data-subject requests filed in the product (/api/v1/me/requests) and consent to product
e-mails (/api/v1/me/consent): what is recorded, when it is due, the CCPA's two a year, and the
requests that take effect at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def file(service, user, **body):
    return service.post("/api/v1/me/requests", user=user, json=body)


@pytest.mark.parametrize(
    ("law", "kind", "days"), [("gdpr", "access", 30), ("pipeda", "correction", 30), ("ccpa", "know", 45)]
)
def test_a_request_is_recorded_with_its_law_due_date_and_verified_identity(service, make_user, db, law, kind, days):
    user = make_user()
    r = file(service, user, law=law, kind=kind, description="Please send me what you hold.")
    assert r.status_code == 201, r.text
    req = r.json()["request"]
    assert (req["law"], req["kind"], req["channel"]) == (law, kind, "product")
    assert parse(req["due_at"]) - parse(req["requested_at"]) == timedelta(days=days)
    # A signed-in user is who they say they are; the request waits for NumeraLoop's answer.
    assert (req["identity_verification"], req["status"], req["outcome"]) == ("verified", "in_progress", None)
    assert req["description"] == "Please send me what you hold."
    audit = db.execute(
        "select details from public.audit_log where action = 'data_request.received' and target_id = %s", (req["id"],)
    ).fetchone()["details"]
    assert (audit["law"], audit["kind"]) == (law, kind) and "description" not in audit

    listed = service.get("/api/v1/me/requests", user=user).json()["requests"]
    assert [x["id"] for x in listed] == [req["id"]]


def test_the_ccpa_allows_two_requests_a_year(service, make_user, db):
    user = make_user()
    assert file(service, user, law="ccpa", kind="know").status_code == 201
    assert file(service, user, law="ccpa", kind="delete").status_code == 201
    third = file(service, user, law="ccpa", kind="correct")
    assert third.status_code == 429 and third.json()["error"]["code"] == "request_limit_reached"
    assert file(service, user, law="gdpr", kind="access").status_code == 201, "other laws do not count"
    # A year after the first two, a third may be made.
    db.execute(
        "update public.data_requests set requested_at = requested_at - interval '13 months', "
        "due_at = due_at - interval '13 months' where user_id = %s and law = 'ccpa'",
        (user.id,),
    )
    assert file(service, user, law="ccpa", kind="limit").status_code == 201


def test_kinds_are_the_laws_own(service, make_user):
    user = make_user()
    for body, code in (
        ({"law": "hipaa", "kind": "access"}, "invalid_law"),
        ({"law": "ccpa", "kind": "erasure"}, "invalid_kind"),
        ({"law": "pipeda", "kind": "portability"}, "invalid_kind"),
        ({"kind": "access"}, "missing_field"),
    ):
        r = file(service, user, **body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, body
    too_long = file(service, user, law="gdpr", kind="access", description="x" * 4001)
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "invalid_field"
    assert service.get("/api/v1/me/requests", user=user).json()["requests"] == []


def test_a_withdrawal_of_consent_takes_effect_at_once(service, make_user, db):
    user = make_user()
    r = service.request("PUT", "/api/v1/me/consent", user=user, json={"product_emails": True})
    assert r.status_code == 200 and r.json()["product_emails"]["granted"] is True
    r = file(service, user, law="gdpr", kind="withdraw_consent")
    assert r.status_code == 201, r.text
    assert r.json()["request"]["status"] == "completed" and r.json()["request"]["outcome"]
    consent = service.get("/api/v1/me/consent", user=user).json()["product_emails"]
    assert consent["granted"] is False and consent["source"] == "data_request"


def test_consent_to_product_emails_is_recorded_with_time_and_source(service, make_user, db):
    user, other = make_user("newsletter"), make_user("no-newsletter")
    assert service.get("/api/v1/me/consent", user=user).json() == {
        "product_emails": {"granted": False, "recorded_at": None, "source": None}
    }

    def recipients():
        return {str(r["user_id"]) for r in db.execute("select user_id from private.product_email_recipients()")}

    granted = service.request("PUT", "/api/v1/me/consent", user=user, json={"product_emails": True}).json()
    assert granted["product_emails"]["granted"] and granted["product_emails"]["source"] == "api"
    assert user.id in recipients() and other.id not in recipients()

    # Withdrawing is this one call, recorded beside the grant.
    withdrawn = service.request("PUT", "/api/v1/me/consent", user=user, json={"product_emails": False})
    assert withdrawn.status_code == 200 and withdrawn.json()["product_emails"]["granted"] is False
    events = db.execute(
        "select granted, source, recorded_at from public.consent_events where user_id = %s order by recorded_at",
        (user.id,),
    ).fetchall()
    assert [(e["granted"], e["source"]) for e in events] == [(True, "api"), (False, "api")]
    assert events[0]["recorded_at"] < events[1]["recorded_at"]
    assert user.id not in recipients()

    bad = service.request("PUT", "/api/v1/me/consent", user=user, json={"product_emails": "yes"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_field"


def test_a_restricted_account_gets_no_product_email_even_with_consent(service, make_user, db):
    user = make_user()
    service.request("PUT", "/api/v1/me/consent", user=user, json={"product_emails": True})
    assert service.post("/api/v1/me/restriction", user=user).status_code == 201
    recipients = db.execute("select user_id from private.product_email_recipients()").fetchall()
    assert user.id not in {str(r["user_id"]) for r in recipients}


def test_a_deleted_accounts_token_gets_clean_answers(service, make_user, db):
    user = make_user("gone")
    db.execute("select private.delete_account(%s)", (user.id,))
    for method, path, body in (
        ("POST", "/api/v1/me/requests", {"law": "gdpr", "kind": "access"}),
        ("POST", "/api/v1/me/restriction", None),
        ("PUT", "/api/v1/me/consent", {"product_emails": True}),
    ):
        r = service.request(method, path, user=user, json=body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "account_not_found", (path, r.text)
