"""The plan's phone-number limit over HTTP, enforced by the database: buying or importing past it
is a 402 plan_limit_reached (limit, used, plan) asked before Twilio is, so nothing is bought,
changed at Twilio or stored; the trigger on phone_numbers still holds when the check is raced."""

from __future__ import annotations

import itertools

from tests.billing import events as ev

_unique = itertools.count(1)


def _offered(service, user) -> str:
    r = service.get(f"/api/v1/numbers/available?workspace_id={user.workspace_id}&limit=1", user=user)
    return r.json()["numbers"][0]["phone_number"]


def _buy(service, user, phone=None):
    return service.post(
        "/api/v1/numbers",
        user=user,
        json={"workspace_id": user.workspace_id, "phone_number": phone or _offered(service, user)},
    )


def _import(service, user, phones=None):
    body = {"workspace_id": user.workspace_id, **({"phone_numbers": phones} if phones is not None else {})}
    return service.post("/api/v1/numbers/import", user=user, json=body)


def _stored(db, user) -> int:
    return db.execute(
        "select count(*) as n from public.phone_numbers where workspace_id = %s", (user.workspace_id,)
    ).fetchone()["n"]


def _own(sandbox, account, n: int) -> list[str]:
    """n numbers in the Twilio account that NumeraLoop does not know yet, their webhooks elsewhere."""
    phones = [f"+1646557{next(_unique):04d}" for _ in range(n)]
    for phone in phones:
        sandbox.add_number(account["sid"], phone, sms_url="https://old.example.com/sms")
    return phones


def _limit_error(r, used: int) -> dict:
    assert r.status_code == 402, r.text
    err = r.json()["error"]
    assert (err["code"], err["limit"], err["used"], err["plan"]) == ("plan_limit_reached", 2, used, "free")
    return err


def test_buying_past_the_limit_is_402_and_buys_nothing(service, connected_user, db, twilio_sandbox):
    assert _buy(service, connected_user).status_code == 201
    assert _buy(service, connected_user).status_code == 201
    at_twilio, stored = len(twilio_sandbox.sandbox.state.numbers), _stored(db, connected_user)
    err = _limit_error(_buy(service, connected_user), used=2)
    assert err["message"] == "The Free plan allows 2 phone numbers and this workspace has 2; upgrade to add more."
    assert len(twilio_sandbox.sandbox.state.numbers) == at_twilio, "nothing was bought at Twilio"
    assert _stored(db, connected_user) == stored


def test_importing_past_the_limit_is_402_and_changes_nothing_at_twilio(
    service, connected_user, twilio_account, sandbox, twilio_sandbox, db
):
    first, second, third = _own(sandbox, twilio_account, 3)
    err = _limit_error(_import(service, connected_user), used=0)
    assert (err["needed"], err["remaining"]) == (3, 2)
    assert _stored(db, connected_user) == 0
    state = twilio_sandbox.sandbox.state
    assert {state.number_by_e164(p).settings["sms_url"] for p in (first, second, third)} == {
        "https://old.example.com/sms"
    }, "no webhook was pointed at NumeraLoop"

    r = _import(service, connected_user, [first, second])
    assert r.status_code == 200 and len(r.json()["imported"]) == 2, r.text
    _limit_error(_import(service, connected_user, [third]), used=2)
    assert state.number_by_e164(third).settings["sms_url"] == "https://old.example.com/sms"
    # Importing the numbers it already has adds nothing, so a full workspace may.
    again = _import(service, connected_user, [first, second])
    assert again.status_code == 200 and len(again.json()["imported"]) == 2
    assert _stored(db, connected_user) == 2

    ev.give_workspace_billing(db, connected_user.workspace_id, price="price_numeraloop_starter_monthly")
    assert _import(service, connected_user, [third]).status_code == 200


def test_a_purchase_that_races_past_the_check_is_refused_and_undone(
    service, connected_user, db, twilio_sandbox, monkeypatch
):
    assert _buy(service, connected_user).status_code == 201
    assert _buy(service, connected_user).status_code == 201
    # As if another purchase had taken the last place between this one's check and its insert.
    monkeypatch.setattr("numeraloop.numbers.api._require_number_room", lambda workspace_id, adding=1: None)
    at_twilio = len(twilio_sandbox.sandbox.state.numbers)
    _limit_error(_buy(service, connected_user), used=2)
    assert len(twilio_sandbox.sandbox.state.numbers) == at_twilio, "the number bought was released again"
    assert _stored(db, connected_user) == 2
