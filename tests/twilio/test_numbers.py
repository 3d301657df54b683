"""Phone numbers over HTTP against the sandbox: search, buy, import, release, detach."""

from __future__ import annotations

import itertools

import pytest

from tests.support.database import add_member
from tests.support.snapshots import changed_tables, twilio_requests, workspace_state

_unique = itertools.count(1000)
# The sandbox sells the whole run 100 numbers per area code, and every `inbox` fixture buys the first
# one a plain search offers (415's, then 212's...): these tests buy from the last US area code it
# lists, which the rest of the suite reaches last.
AREA = "206"


def available(service, user, **params):
    query = "&".join(f"{k}={v}" for k, v in {"workspace_id": user.workspace_id, **params}.items())
    return service.get(f"/api/v1/numbers/available?{query}", user=user)


def buy(service, user, phone=None):
    if phone is None:
        phone = available(service, user, area_code=AREA, limit=1).json()["numbers"][0]["phone_number"]
    return service.post("/api/v1/numbers", user=user, json={"workspace_id": user.workspace_id, "phone_number": phone})


def sandbox_number(twilio_sandbox, e164):
    return twilio_sandbox.sandbox.state.number_by_e164(e164)


def test_search_local_and_toll_free(service, connected_user):
    r = available(service, connected_user, area_code=AREA, limit=3)
    assert r.status_code == 200, r.text
    numbers = r.json()["numbers"]
    assert len(numbers) == 3 and all(n["phone_number"].startswith("+1" + AREA) for n in numbers)
    r = available(service, connected_user, type="toll_free", limit=2)
    assert r.status_code == 200 and len(r.json()["numbers"]) == 2
    r = available(service, connected_user, contains="77", limit=2)
    assert r.status_code == 200 and all("77" in n["phone_number"] for n in r.json()["numbers"])


@pytest.mark.parametrize(
    "params,code",
    [
        ({"country": "USA"}, "invalid_country"),
        ({"type": "premium"}, "invalid_type"),
        ({"area_code": "4x5"}, "invalid_area_code"),
        ({"limit": "ten"}, "invalid_limit"),
    ],
)
def test_search_rejects_bad_input(service, connected_user, params, code):
    r = available(service, connected_user, **params)
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_search_needs_a_connected_account(service, make_user):
    user = make_user()
    r = available(service, user)
    assert r.status_code == 409 and r.json()["error"]["code"] == "twilio_not_connected"


def test_buy_points_webhooks_at_us_and_audits(service, connected_user, twilio_sandbox, db):
    r = buy(service, connected_user)
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["status"] == "active" and row["twilio_sid"].startswith("PN")
    at_twilio = sandbox_number(twilio_sandbox, row["e164"])
    assert at_twilio is not None
    settings = at_twilio.settings
    assert settings["sms_url"] == service.base_url + "/twilio/messaging/inbound"
    assert settings["voice_url"] == service.base_url + "/twilio/voice/inbound"
    assert settings["status_callback"] == service.base_url + "/twilio/voice/status"
    actions = [
        a["action"]
        for a in db.execute(
            "select action from public.audit_log where workspace_id = %s order by id", (connected_user.workspace_id,)
        )
    ]
    assert actions[-1] == "number.buy"


def test_buy_rejects_malformed_number_and_reports_twilio_refusal(service, connected_user, twilio_account, sandbox, db):
    ws = connected_user.workspace_id
    before, asked = workspace_state(db, ws), twilio_requests(sandbox, twilio_account["sid"])
    r = buy(service, connected_user, phone="not-a-number")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_phone_number"
    assert changed_tables(before, workspace_state(db, ws)) == []
    assert twilio_requests(sandbox, twilio_account["sid"]) == asked, "refused before Twilio was asked"

    first = buy(service, connected_user)
    assert first.status_code == 201
    before = workspace_state(db, ws)
    again = buy(service, connected_user, phone=first.json()["e164"])  # Twilio: not available
    assert 400 <= again.status_code < 500
    assert again.json()["error"]["twilio_code"] == 21422
    assert changed_tables(before, workspace_state(db, ws)) == [], "Twilio's refusal stores nothing"


def test_buy_that_cannot_be_stored_is_undone_at_twilio(service, connected_user, make_user, twilio_sandbox, db):
    phone = available(service, connected_user, area_code=AREA, limit=1).json()["numbers"][0]["phone_number"]
    # Another workspace already has this number active in the database (stale data, say):
    other = make_user("other")
    db.execute(
        "insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (%s, %s, %s)",
        (other.workspace_id, "PN" + "f" * 32, phone),
    )
    r = buy(service, connected_user, phone=phone)
    # The stale row must not outlive the test: the sandbox would offer this number again.
    db.execute("delete from public.phone_numbers where twilio_sid = %s", ("PN" + "f" * 32,))
    assert r.status_code == 500 and r.json()["error"]["code"] == "number_not_stored"
    assert sandbox_number(twilio_sandbox, phone) is None, "the purchase was released again"


def test_import_adopts_existing_numbers(service, connected_user, twilio_account, sandbox, twilio_sandbox, db):
    mine = f"+1646555{next(_unique):04d}"
    sandbox.add_number(twilio_account["sid"], mine, sms_url="https://old.example.com/sms")
    r = service.post("/api/v1/numbers/import", user=connected_user, json={"workspace_id": connected_user.workspace_id})
    assert r.status_code == 200, r.text
    assert mine in [n["e164"] for n in r.json()["imported"]]
    assert sandbox_number(twilio_sandbox, mine).settings["sms_url"] == service.base_url + "/twilio/messaging/inbound"
    # Importing again is harmless.
    again = service.post(
        "/api/v1/numbers/import", user=connected_user, json={"workspace_id": connected_user.workspace_id}
    )
    assert again.status_code == 200
    count = db.execute("select count(*) as n from public.phone_numbers where e164 = %s", (mine,)).fetchone()["n"]
    assert count == 1


def test_import_reports_numbers_it_cannot_take(service, connected_user, twilio_account, sandbox, db):
    r = service.post(
        "/api/v1/numbers/import",
        user=connected_user,
        json={"workspace_id": connected_user.workspace_id, "phone_numbers": ["+15005550199"]},
    )
    assert r.status_code == 200
    assert r.json()["skipped"] == [{"phone_number": "+15005550199", "reason": "not in the Twilio account"}]
    before, asked = workspace_state(db, connected_user.workspace_id), twilio_requests(sandbox, twilio_account["sid"])
    r = service.post(
        "/api/v1/numbers/import",
        user=connected_user,
        json={"workspace_id": connected_user.workspace_id, "phone_numbers": "+15005550199"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"], r.text
    assert changed_tables(before, workspace_state(db, connected_user.workspace_id)) == []
    assert twilio_requests(sandbox, twilio_account["sid"]) == asked


def test_release_gives_the_number_back(service, connected_user, twilio_sandbox, db):
    row = buy(service, connected_user).json()
    r = service.delete(f"/api/v1/numbers/{row['id']}", user=connected_user)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "released"
    assert sandbox_number(twilio_sandbox, row["e164"]) is None
    assert service.delete(f"/api/v1/numbers/{row['id']}", user=connected_user).status_code == 404


def test_detach_keeps_the_number_at_twilio_without_our_webhooks(service, connected_user, twilio_sandbox):
    row = buy(service, connected_user).json()
    r = service.delete(f"/api/v1/numbers/{row['id']}?mode=detach", user=connected_user)
    assert r.status_code == 200 and r.json()["status"] == "detached"
    kept = sandbox_number(twilio_sandbox, row["e164"])
    assert kept is not None and not kept.settings.get("sms_url")


def test_release_refused_by_twilio_leaves_the_number_active(
    service, connected_user, twilio_account, sandbox, twilio_sandbox, db
):
    row = buy(service, connected_user).json()
    ws = connected_user.workspace_id
    # The row goes to 'releasing' while Twilio is asked and back to 'active' when it refuses: only
    # its updated_at tells.
    before = workspace_state(db, ws, ignoring=("updated_at",))
    settings = dict(sandbox_number(twilio_sandbox, row["e164"]).settings)
    sandbox.add_fault(
        twilio_account["sid"], status=500, code=20500, message="Internal Server Error", method="DELETE", times=5
    )
    try:
        r = service.delete(f"/api/v1/numbers/{row['id']}", user=connected_user)
    finally:
        sandbox.clear_faults(twilio_account["sid"])
    assert r.status_code == 502 and r.json()["error"]["code"] == "twilio_unavailable", r.text
    assert changed_tables(before, workspace_state(db, ws, ignoring=("updated_at",))) == [], "the number is as it was"
    assert (
        db.execute("select status from public.phone_numbers where id = %s", (row["id"],)).fetchone()["status"]
        == "active"
    )
    assert sandbox_number(twilio_sandbox, row["e164"]).settings == settings, "still ours at Twilio, webhooks and all"


def refused_requests(service, user, ws: str, number_id: str, phone: str) -> dict:
    return {
        "buy": service.post("/api/v1/numbers", user=user, json={"workspace_id": ws, "phone_number": phone}),
        "import": service.post("/api/v1/numbers/import", user=user, json={"workspace_id": ws}),
        "release": service.delete(f"/api/v1/numbers/{number_id}", user=user),
        "detach": service.delete(f"/api/v1/numbers/{number_id}?mode=detach", user=user),
    }


def test_agent_gets_403_on_buy_import_release_and_nothing_changes(
    service, connected_user, make_user, twilio_account, sandbox, twilio_sandbox, db
):
    agent = make_user("agent")
    add_member(db, connected_user.workspace_id, agent, "agent")
    row = buy(service, connected_user).json()
    ws = connected_user.workspace_id
    spare = available(service, connected_user, limit=1).json()["numbers"][0]["phone_number"]
    before, asked = workspace_state(db, ws), twilio_requests(sandbox, twilio_account["sid"])
    settings = dict(sandbox_number(twilio_sandbox, row["e164"]).settings)

    for what, r in refused_requests(service, agent, ws, row["id"], spare).items():
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), (what, r.text)
    assert changed_tables(before, workspace_state(db, ws)) == []
    assert twilio_requests(sandbox, twilio_account["sid"]) == asked, "refused before Twilio was asked"
    assert sandbox_number(twilio_sandbox, row["e164"]).settings == settings
    assert sandbox_number(twilio_sandbox, spare) is None, "the refused buy bought nothing"
    # Agents may still search.
    assert available(service, agent, workspace_id=ws).status_code == 200


def test_other_workspace_gets_404_and_nothing_changes(
    service, connected_user, make_user, twilio_account, sandbox, twilio_sandbox, db
):
    stranger = make_user("stranger")
    row = buy(service, connected_user).json()
    ws = connected_user.workspace_id
    spare = available(service, connected_user, limit=1).json()["numbers"][0]["phone_number"]
    before, asked = workspace_state(db, ws), twilio_requests(sandbox, twilio_account["sid"])
    settings = dict(sandbox_number(twilio_sandbox, row["e164"]).settings)

    expected = {
        "buy": "workspace_not_found",
        "import": "workspace_not_found",
        "release": "number_not_found",
        "detach": "number_not_found",
    }
    for what, r in refused_requests(service, stranger, ws, row["id"], spare).items():
        assert (r.status_code, r.json()["error"]["code"]) == (404, expected[what]), (what, r.text)
    r = service.get(f"/api/v1/numbers/available?workspace_id={ws}", user=stranger)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "workspace_not_found")
    assert changed_tables(before, workspace_state(db, ws)) == []
    assert twilio_requests(sandbox, twilio_account["sid"]) == asked, "refused before Twilio was asked"
    assert sandbox_number(twilio_sandbox, row["e164"]).settings == settings
    assert sandbox_number(twilio_sandbox, spare) is None
