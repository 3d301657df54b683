"""private.claim_campaign_recipients under concurrency: workers claiming at once against the
real database never share a recipient, and together they keep a campaign's send rate."""

from __future__ import annotations

import threading
import time

import psycopg
from psycopg.rows import dict_row

from .conftest import add_contacts, create_campaign


def launched(service, inbox, db, database_url, tag, count, rate) -> str:
    add_contacts(db, inbox.workspace_id, count, tags=[tag])
    campaign = create_campaign(database_url, inbox.user, workspace_id=inbox.workspace_id, name=tag,
                               phone_number_id=inbox.number["id"], body="Hi", include_tags=[tag], send_rate=rate)
    r = service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user)
    assert r.status_code == 201, r.text
    return campaign


def claimers(database_url, campaign, workers: int, seconds: float, limit: int) -> list[list[tuple[float, int]]]:
    """Run `workers` threads claiming in a loop for `seconds`; each returns [(time, recipient_id)] of `campaign`."""
    results: list[list[tuple[float, int]]] = [[] for _ in range(workers)]
    start = threading.Barrier(workers)

    def work(i):
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            start.wait()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                with conn.transaction():
                    conn.execute("select set_config('role', 'service_role', true)")
                    rows = conn.execute("select * from private.claim_campaign_recipients(%s, 60)", (limit,)).fetchall()
                now = time.monotonic()
                results[i].extend((now, r["recipient_id"]) for r in rows if str(r["campaign_id"]) == campaign)
                time.sleep(0.005)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_workers_claiming_at_once_never_share_a_recipient(service, inbox, db, database_url):
    campaign = launched(service, inbox, db, database_url, "concurrent", 200, rate=100)
    a, b = claimers(database_url, campaign, workers=2, seconds=2.5, limit=7)
    ids_a, ids_b = [i for _, i in a], [i for _, i in b]
    assert ids_a and ids_b, "both workers claimed some"
    assert len(set(ids_a)) == len(ids_a) and len(set(ids_b)) == len(ids_b)
    assert not set(ids_a) & set(ids_b)
    all_ids = {r["id"] for r in db.execute("select id from public.campaign_recipients where campaign_id = %s",
                                           (campaign,)).fetchall()}
    assert set(ids_a) | set(ids_b) == all_ids
    states = db.execute("select status, attempts, count(*) as n from public.campaign_recipients where campaign_id = %s "
                        "group by 1, 2", (campaign,)).fetchall()
    assert [(s["status"], s["attempts"], s["n"]) for s in states] == [("claimed", 1, 200)]


def test_workers_together_keep_the_campaign_rate(service, inbox, db, database_url):
    rate = 5
    campaign = launched(service, inbox, db, database_url, "paced", 60, rate=rate)
    seconds = 2.0
    claims = sorted(sum(claimers(database_url, campaign, workers=3, seconds=seconds, limit=50), []))
    # One second's worth may go at once, then `rate` per second: never more, whatever the number of workers.
    assert rate * seconds - rate <= len(claims) <= rate * seconds + rate
    first = claims[0][0]
    for window_start in (first, first + 0.5, first + 1.0):
        in_window = [c for c in claims if window_start <= c[0] < window_start + 1.0]
        assert len(in_window) <= 2 * rate
