"""/api/v1/campaigns/{id}/launch|pause|resume|cancel|report: who may call them and the errors."""

from __future__ import annotations

import uuid

import pytest

from tests.support.database import add_member

from .conftest import add_contacts, create_campaign


@pytest.fixture
def draft(inbox, db, database_url):
    tag = f"api-{uuid.uuid4().hex[:8]}"  # the workspace is shared by the campaign tests
    add_contacts(db, inbox.workspace_id, 2, tags=[tag])
    return create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="API",
        phone_number_id=inbox.number["id"],
        body="Hi",
        include_tags=[tag],
        send_rate=1,
    )


def post(service, user, campaign, action, **body):
    return service.post(f"/api/v1/campaigns/{campaign}/{action}", user=user, json=body or None)


def error(r):
    return r.status_code, r.json()["error"]["code"]


def test_an_agent_may_read_the_report_but_not_act(service, inbox, draft, make_user, db):
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    for action in ("launch", "pause", "resume", "cancel"):
        assert error(post(service, agent, draft, action)) == (403, "forbidden"), action
    assert post(service, inbox.user, draft, "launch").status_code == 201
    for action in ("pause", "resume", "cancel"):
        assert error(post(service, agent, draft, action)) == (403, "forbidden"), action
    r = service.get(f"/api/v1/campaigns/{draft}/report", user=agent)
    assert r.status_code == 200 and r.json()["recipients"]["pending"] == 2


def test_another_workspace_gets_404_for_everything(service, draft, make_user, db):
    outsider = make_user("outsider")
    for action in ("launch", "pause", "resume", "cancel"):
        assert error(post(service, outsider, draft, action)) == (404, "campaign_not_found"), action
    assert error(service.get(f"/api/v1/campaigns/{draft}/report", user=outsider)) == (404, "campaign_not_found")
    assert error(service.get(f"/api/v1/campaigns/{uuid.uuid4()}/report", user=outsider)) == (404, "campaign_not_found")
    assert error(service.get("/api/v1/campaigns/not-a-uuid/report", user=outsider)) == (404, "campaign_not_found")
    assert db.execute("select status from public.campaigns where id = %s", (draft,)).fetchone()["status"] == "draft"


def test_launch_is_idempotent_and_states_are_enforced(service, inbox, draft, db):
    first = post(service, inbox.user, draft, "launch")
    assert first.status_code == 201 and first.json()["recipients_total"] == 2
    again = post(service, inbox.user, draft, "launch")
    assert again.status_code == 200 and again.json()["already_launched"] is True
    assert (
        db.execute("select count(*) as n from public.campaign_recipients where campaign_id = %s", (draft,)).fetchone()[
            "n"
        ]
        == 2
    )
    assert post(service, inbox.user, draft, "resume").json()["status"] == "sending"  # already running: no-op
    assert post(service, inbox.user, draft, "cancel").json()["status"] == "canceled"
    assert error(post(service, inbox.user, draft, "resume")) == (409, "campaign_state")
    assert error(post(service, inbox.user, draft, "launch")) == (409, "campaign_state")
    assert service.get(f"/api/v1/campaigns/{draft}/report", user=inbox.user).json()["recipients"]["canceled"] == 2


def test_scheduled_launch(service, inbox, draft):
    r = post(service, inbox.user, draft, "launch", scheduled_at="2099-01-01T09:00:00Z")
    assert r.status_code == 201 and r.json()["status"] == "scheduled"
    assert r.json()["scheduled_at"].startswith("2099-01-01T09:00:00")


@pytest.mark.parametrize("scheduled_at", ["tomorrow", "2099-01-01T09:00:00", 12])
def test_bad_scheduled_at_is_422(service, inbox, draft, scheduled_at):
    assert error(post(service, inbox.user, draft, "launch", scheduled_at=scheduled_at)) == (422, "invalid_field")


def test_a_draft_with_no_audience_is_422(service, inbox, database_url):
    empty = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Nobody",
        phone_number_id=inbox.number["id"],
        body="Hi",
        include_tags=["no-such-tag"],
    )
    r = post(service, inbox.user, empty, "launch")
    assert error(r) == (422, "campaign_not_sendable") and "no contacts" in r.json()["error"]["message"]


def test_launch_needs_twilio_connected(service, make_user, db, database_url):
    owner = make_user("unconnected")
    number = db.execute(
        "insert into public.phone_numbers (workspace_id, twilio_sid, e164) values (%s, %s, %s) returning id",
        (owner.workspace_id, "PN" + uuid.uuid4().hex, "+16284449999"),
    ).fetchone()["id"]
    add_contacts(db, owner.workspace_id, 1, tags=["x"])
    campaign = create_campaign(
        database_url,
        owner,
        workspace_id=owner.workspace_id,
        name="No Twilio",
        phone_number_id=str(number),
        body="Hi",
        include_tags=["x"],
    )
    assert error(post(service, owner, campaign, "launch")) == (409, "twilio_not_connected")
    assert db.execute("select status from public.campaigns where id = %s", (campaign,)).fetchone()["status"] == "draft"
