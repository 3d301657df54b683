"""private.claim_campaign_recipients under concurrency: workers claiming at once against the
real database never share a recipient, and together they keep a campaign's send rate: every
recipient comes with a send_at slot (on the database's clock), the slots are spaced by the rate,
and none is handed out more than a second ahead."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from .conftest import add_contacts, create_campaign


def launched(service, inbox, db, database_url, tag, count, rate) -> str:
    add_contacts(db, inbox.workspace_id, count, tags=[tag])
    campaign = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name=tag,
        phone_number_id=inbox.number["id"],
        body="Hi",
        include_tags=[tag],
        send_rate=rate,
    )
    r = service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user)
    assert r.status_code == 201, r.text
    return campaign


def claimers(
    database_url, campaign, workers: int, target: int, limit: int, timeout: float = 60.0
) -> list[list[tuple[datetime, datetime, int]]]:
    """Run `workers` threads claiming in a loop until `target` recipients of `campaign` are claimed
    between them; each returns [(database time of its claim, send_at slot, recipient_id)] of `campaign`.

    The time is the claiming transaction's now(), the clock claim_campaign_recipients paces by,
    so the pace is checked on the database's clock, whatever the load on this machine.
    """
    results: list[list[tuple[datetime, datetime, int]]] = [[] for _ in range(workers)]
    start = threading.Barrier(workers)
    enough = threading.Event()
    lock = threading.Lock()
    claimed = [0]

    def work(i):
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            start.wait()
            deadline = time.monotonic() + timeout  # a safety net; the test asserts the target was reached
            while not enough.is_set() and time.monotonic() < deadline:
                with conn.transaction():
                    conn.execute("select set_config('role', 'service_role', true)")
                    rows = conn.execute(
                        "select c.*, now() as claimed_at from private.claim_campaign_recipients(%s, 60) c", (limit,)
                    ).fetchall()
                mine = [
                    (r["claimed_at"], r["send_at"], r["recipient_id"])
                    for r in rows
                    if str(r["campaign_id"]) == campaign
                ]
                results[i].extend(mine)
                with lock:
                    claimed[0] += len(mine)
                    if claimed[0] >= target:
                        enough.set()
                time.sleep(0.005)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert claimed[0] >= target, f"only {claimed[0]} of {target} claimed within {timeout} s"
    return results


def test_two_workers_claiming_at_once_never_share_a_recipient(service, inbox, db, database_url):
    campaign = launched(service, inbox, db, database_url, "concurrent", 200, rate=100)
    a, b = claimers(database_url, campaign, workers=2, target=200, limit=7)
    ids_a, ids_b = [i for _, _, i in a], [i for _, _, i in b]
    assert ids_a and ids_b, "both workers claimed some"
    assert len(set(ids_a)) == len(ids_a) and len(set(ids_b)) == len(ids_b)
    assert not set(ids_a) & set(ids_b)
    all_ids = {
        r["id"]
        for r in db.execute("select id from public.campaign_recipients where campaign_id = %s", (campaign,)).fetchall()
    }
    assert set(ids_a) | set(ids_b) == all_ids
    states = db.execute(
        "select status, attempts, count(*) as n from public.campaign_recipients where campaign_id = %s group by 1, 2",
        (campaign,),
    ).fetchall()
    assert [(s["status"], s["attempts"], s["n"]) for s in states] == [("claimed", 1, 200)]


def test_workers_together_keep_the_campaign_rate(service, inbox, db, database_url):
    rate = 5
    campaign = launched(service, inbox, db, database_url, "paced", 60, rate=rate)
    claims = sum(claimers(database_url, campaign, workers=3, target=3 * rate, limit=50), [])
    assert len({i for _, _, i in claims}) == len(claims), "no recipient claimed twice"
    for claimed_at, send_at, _ in claims:
        assert timedelta(0) <= send_at - claimed_at < timedelta(seconds=1), "at most one second handed out ahead"
    # Each 1-segment message costs 1/rate seconds of the campaign's pace, whichever worker claimed it:
    # between any two slots there are at most rate x (the time between them) + 1.
    slots = sorted(send_at for _, send_at, _ in claims)
    for i, first in enumerate(slots):
        for j in range(i, len(slots)):
            within = j - i + 1
            allowed = rate * (slots[j] - first).total_seconds() + 1
            assert within <= allowed + 1e-6, f"{within} slots in {(slots[j] - first).total_seconds():.3f} s"
