"""Entitlements: free without an active subscription, the plan's limits with one, and the
phone-number limit enforced when buying a number."""

from __future__ import annotations

import psycopg
import pytest

from tests.billing import events as ev
from tests.support.database import acting_as


def entitlements(database_url, user, workspace_id):
    with acting_as(database_url, "authenticated", user.claims) as conn:
        return conn.execute("select public.workspace_entitlements(%s) as e", (workspace_id,)).fetchone()["e"]


def test_default_is_free(make_user, database_url):
    user = make_user("newcomer")
    e = entitlements(database_url, user, user.workspace_id)
    assert e["plan"] == "free" and e["subscription_status"] is None
    assert e["current_period_end"] is None and e["cancel_at_period_end"] is False
    assert e["limits"] == {"phone_numbers": 2, "monthly_messages": 250, "seats": 2}


def test_active_plan_limits_and_only_for_members(make_user, db, database_url):
    owner, outsider = make_user("owner"), make_user("outsider")
    ev.give_workspace_billing(db, owner.workspace_id, price="price_numeraloop_starter_monthly")
    e = entitlements(database_url, owner, owner.workspace_id)
    assert e["plan"] == "starter" and e["limits"]["phone_numbers"] == 5 and e["subscription_status"] == "active"
    assert e["current_period_end"] is not None and e["cancel_at_period_end"] is False
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        entitlements(database_url, outsider, owner.workspace_id)


def test_canceled_or_incomplete_subscription_is_free(make_user, db, database_url):
    for status in ("canceled", "incomplete", "unpaid"):
        user = make_user(f"lapsed-{status}")
        ev.give_workspace_billing(db, user.workspace_id, status=status)
        assert entitlements(database_url, user, user.workspace_id)["plan"] == "free", status


def _buy(service, user):
    found = service.get(f"/api/v1/numbers/available?workspace_id={user.workspace_id}&limit=1", user=user)
    return service.post(
        "/api/v1/numbers",
        user=user,
        json={"workspace_id": user.workspace_id, "phone_number": found.json()["numbers"][0]["phone_number"]},
    )


def test_buying_past_the_plan_number_limit_is_402(service, connected_user, db, twilio_sandbox):
    assert _buy(service, connected_user).status_code == 201
    assert _buy(service, connected_user).status_code == 201
    before = len(twilio_sandbox.sandbox.state.numbers)
    r = _buy(service, connected_user)
    assert r.status_code == 402, r.text
    err = r.json()["error"]
    assert err["code"] == "plan_limit_reached" and err["limit"] == 2 and err["used"] == 2 and err["plan"] == "free"
    assert len(twilio_sandbox.sandbox.state.numbers) == before, "nothing was bought at Twilio"
    # On a paid plan the next number goes through.
    ev.give_workspace_billing(db, connected_user.workspace_id, price="price_numeraloop_starter_monthly")
    assert _buy(service, connected_user).status_code == 201
