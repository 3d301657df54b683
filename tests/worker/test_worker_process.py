"""`numeraloop worker` run as operators run it: it stops cleanly on SIGTERM, finishing the batch it
holds; it survives losing its database connections mid-run; and it starts a scheduled campaign
at its time, by the database's clock."""

from __future__ import annotations

import signal
import time

import pytest

from tests.campaigns.conftest import add_contacts, create_campaign, recipients


def wait_until(check, what: str, timeout: float = 60.0, worker=None):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what}: not within {timeout} s" + (f"; the worker said:\n{worker.output()}" if worker else "")
            )
        time.sleep(0.05)
    return result


def statuses(db, campaign_id: str) -> dict[str, int]:
    return {
        r["status"]: r["n"]
        for r in db.execute(
            "select status, count(*) as n from public.campaign_recipients where campaign_id = %s group by 1",
            (campaign_id,),
        )
    }


def campaign_row(db, campaign_id: str) -> dict:
    return db.execute("select * from public.campaigns where id = %s", (campaign_id,)).fetchone()


def launch(service, inbox, campaign_id: str, **body) -> dict:
    r = service.post(f"/api/v1/campaigns/{campaign_id}/launch", user=inbox.user, json=body or None)
    assert r.status_code == 201, r.text
    return r.json()


def new_campaign(db, database_url, inbox, tag: str, count: int, rate: float) -> tuple[str, list[str]]:
    numbers = add_contacts(db, inbox.workspace_id, count, tags=[tag])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name=tag,
        phone_number_id=inbox.number["id"],
        body="Hello from the worker",
        include_tags=[tag],
        send_rate=rate,
    )
    return campaign, numbers


def held_mid_batch(db, gate, campaign_id: str, worker) -> list[int]:
    """Waits until every recipient the worker claimed is waiting at the gate: the worker is in the
    middle of a batch, its messages made and handed to Twilio, none of their outcomes recorded."""

    def all_at_the_gate():
        claimed = [
            r["id"]
            for r in db.execute(
                "select id from public.campaign_recipients where campaign_id = %s and status = 'claimed' order by id",
                (campaign_id,),
            )
        ]
        return claimed if claimed and gate.waiting == len(claimed) else None

    return wait_until(all_at_the_gate, "the worker's batch reached Twilio", timeout=30, worker=worker)


def test_sigterm_mid_batch_finishes_the_batch_and_exits_0(
    start_worker, gate, inbox, service, db, database_url, sandbox
):
    worker = start_worker()
    campaign, numbers = new_campaign(db, database_url, inbox, "sigterm", 12, rate=4)  # a batch: 4
    gate.hold()
    launch(service, inbox, campaign)
    claimed = held_mid_batch(db, gate, campaign, worker)
    assert 0 < len(claimed) < len(numbers)

    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.poll() is None, "the worker waits for its batch"
    gate.release()
    assert worker.wait(timeout=30) == 0, worker.output()
    assert "worker stopped" in worker.output()

    rows = {r["id"]: r for r in recipients(db, campaign).values()}
    assert {rows[i]["status"] for i in claimed} == {"sent"}, "every claimed recipient is recorded"
    assert statuses(db, campaign) == {"sent": len(claimed), "pending": len(numbers) - len(claimed)}
    assert all(r["attempts"] == 0 for r in rows.values() if r["status"] == "pending"), "no batch after SIGTERM"
    assert gate.sends == len(claimed)
    sent_to = {m["to"] for m in sandbox.messages(account_sid=inbox.account["sid"])}
    assert sent_to & set(numbers) == {rows[i]["phone_e164"] for i in claimed}


def test_lost_database_connections_mid_run_are_survived(start_worker, gate, inbox, service, db, database_url):
    # A restart of the shared PostgreSQL cluster would hit every other test run on this machine;
    # terminating this worker's own backends (found by its application_name) is what a restart
    # does to it: every connection it holds is cut, and it must connect again.
    worker = start_worker()
    campaign, numbers = new_campaign(db, database_url, inbox, "reconnect", 9, rate=3)
    gate.hold()
    launch(service, inbox, campaign)
    held_mid_batch(db, gate, campaign, worker)  # none of its connections is in use: all would be cut idle in its pool

    killed = db.execute(
        "select count(*) filter (where pg_terminate_backend(pid)) as n from pg_stat_activity "
        "where application_name = %s and pid <> pg_backend_pid()",
        (worker.application_name,),
    ).fetchone()["n"]
    assert killed >= 1, "the worker had connections to cut"
    gate.release()

    def settled():
        now = statuses(db, campaign)
        return now if now.get("sent") == len(numbers) or set(now) - {"pending", "claimed", "sent"} else None

    final = wait_until(settled, "the campaign finished after the connections were cut", worker=worker)
    assert final == {"sent": len(numbers)}, worker.output()
    assert campaign_row(db, campaign)["status"] == "completed"
    assert worker.proc.poll() is None, worker.output()
    assert (
        db.execute(
            "select count(*) as n from pg_stat_activity where application_name = %s", (worker.application_name,)
        ).fetchone()["n"]
        >= 1
    ), "it connected again"
    assert worker.terminate() == 0, worker.output()


def test_a_scheduled_campaign_is_sent_at_its_time_and_not_before(start_worker, inbox, service, db, database_url):
    worker = start_worker()
    scheduled, numbers = new_campaign(db, database_url, inbox, "scheduled", 3, rate=10)
    assert launch(service, inbox, scheduled, scheduled_at="2099-01-01T00:00:00Z")["status"] == "scheduled"

    # Another campaign sent from start to finish: the worker has claimed again and again while the
    # scheduled one waited (every claim also starts the scheduled campaigns that are due).
    marker, _ = new_campaign(db, database_url, inbox, "before-schedule", 2, rate=10)
    launch(service, inbox, marker)
    wait_until(lambda: campaign_row(db, marker)["status"] == "completed", "the marker campaign was sent", worker=worker)
    assert campaign_row(db, scheduled)["status"] == "scheduled"
    assert statuses(db, scheduled) == {"pending": len(numbers)}

    # Its time comes, by the database's clock (the one the claim reads): moved to a second ago, as
    # launching it for that time would have set it (scheduled_at, and next_send_at, the pace's start).
    due = db.execute(
        "update public.campaigns set scheduled_at = now() - interval '1 second', "
        "next_send_at = now() - interval '1 second' where id = %s returning scheduled_at",
        (scheduled,),
    ).fetchone()["scheduled_at"]
    wait_until(
        lambda: campaign_row(db, scheduled)["status"] == "completed", "the scheduled campaign was sent", worker=worker
    )
    row = campaign_row(db, scheduled)
    assert row["started_at"] >= due
    sent = recipients(db, scheduled)
    assert {r["status"] for r in sent.values()} == {"sent"}
    assert all(r["sent_at"] >= due for r in sent.values())


@pytest.fixture(autouse=True)
def _no_campaign_left_running(db, inbox):
    """Claims are global: a campaign a test leaves due must not be sent by a later test's sender."""
    yield
    db.execute(
        "update public.campaigns set status = 'canceled', canceled_at = now() "
        "where workspace_id = %s and status in ('sending', 'scheduled', 'paused')",
        (inbox.workspace_id,),
    )
