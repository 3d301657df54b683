"""Export My Data at scale: a workspace of --messages messages exported as JSON and as a zip of
CSVs, with the service's resident memory sampled throughout (goal: RSS rising by at most 100 MB).

    .venv/bin/python -m bench.export                  # 1,000,000 messages
    .venv/bin/python -m bench.export --quick          # 50,000

In the test database (recreated, migrated, locked for this run): one user whose workspace holds
--messages inbound messages over 1,000 conversations, written set-based in batches. The real
service runs in this process (tests.support.live_server), and GET /api/v1/me/export is read
with a streaming client that counts the bytes and throws them away, so what the process holds
is the service's: a flat RSS means the export streams from the database (server-side cursor,
generator body) instead of building the document in memory. Printed per format: seconds, MB
sent, rows/s, RSS before, peak and the rise; the exit status is 1 when a rise passes the goal.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import threading
import time

from bench._support import ROOT, terminate_as_interrupt, test_database

sys.path.insert(0, str(ROOT / "service"))

GOAL_MB = 100
BATCH = 100_000
CONVERSATIONS = 1_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def arrange(conn, messages: int):
    from tests.support.database import create_user

    user = create_user(conn, "bench-export")
    ws = user.workspace_id
    number = conn.execute(
        "insert into public.phone_numbers (workspace_id, twilio_sid, e164) "
        "values (%s, 'PN' || md5(%s), '+15550009000') returning id",
        (ws, ws),
    ).fetchone()["id"]
    conn.execute(
        "insert into public.contacts (workspace_id, phone_e164, first_name) "
        "select %s, '+1628' || lpad(g::text, 7, '0'), 'Contact ' || g from generate_series(1, %s) g",
        (ws, CONVERSATIONS),
    )
    conn.execute(
        "insert into public.conversations (workspace_id, phone_number_id, contact_id) "
        "select %s, %s, c.id from public.contacts c where c.workspace_id = %s",
        (ws, number, ws),
    )
    conversations = [
        r["id"] for r in conn.execute("select id from public.conversations where workspace_id = %s order by id", (ws,))
    ]
    done = 0
    started = time.perf_counter()
    while done < messages:
        n = min(BATCH, messages - done)
        conn.execute(
            "insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status, "
            "created_at) select %s, (%s::uuid[])[1 + g %% %s], 'inbound', '+16285550000', '+15550009000', "
            "'Message ' || g || ': is the plumber still coming this afternoon? We are home from two.', 'received', "
            "now() - make_interval(secs => %s - g) from generate_series(%s, %s) g",
            (ws, conversations, len(conversations), messages, done + 1, done + n),
        )
        done += n
        print(f"  {done:,} messages written ({time.perf_counter() - started:.0f} s)", flush=True)
    conn.execute("analyze public.messages")
    return user


def export(base_url: str, user, fmt: str) -> dict:
    import requests

    from tests.support.tokens import access_token

    before = rss_mb()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    received, head, tail = 0, b"", b""
    started = time.perf_counter()
    try:
        with requests.get(
            f"{base_url}/api/v1/me/export",
            params={"format": fmt},
            stream=True,
            timeout=3600,
            headers={"Authorization": f"Bearer {access_token(user.id, expires_in=86400)}"},
        ) as r:
            if r.status_code != 200:
                raise SystemExit(f"export ({fmt}) failed: HTTP {r.status_code} {r.text[:500]}")
            for chunk in r.iter_content(chunk_size=1 << 16):
                if not head:
                    head = chunk[:200]
                tail = (tail + chunk)[-200:]
                received += len(chunk)
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
    return {
        "format": fmt,
        "seconds": elapsed,
        "bytes": received,
        "before": before,
        "peak": peak[0],
        "head": head,
        "tail": tail,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 messages")
    args = parser.parse_args(argv)
    messages = 50_000 if args.quick else args.messages

    import psycopg
    from psycopg.rows import dict_row

    from numeraloop.app import create_app
    from numeraloop.config import Config
    from tests.support.live_server import serve_factory
    from tests.support.tokens import TEST_JWT_SECRET

    results = []
    with terminate_as_interrupt(), test_database() as url:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            print(f"writing {messages:,} messages ...", flush=True)
            user = arrange(conn, messages)
        config = dataclasses.replace(
            Config.from_env(env={"NUMERALOOP_ENV": "test"}),
            database_url=url,
            supabase_jwt_secret=TEST_JWT_SECRET,
            log_level="WARNING",
            db_pool_max=4,
        )
        with serve_factory(lambda base: create_app(dataclasses.replace(config, public_base_url=base))) as (base, app):
            for fmt in ("json", "csv"):
                print(f"exporting as {fmt} ...", flush=True)
                results.append(export(base, user, fmt))
            app.extensions["numeraloop.pool"].close()
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            recorded = conn.execute(
                "select status, details -> 'counts' ->> 'messages' as messages "
                "from public.data_requests where user_id = %s and kind = 'export' "
                "order by requested_at",
                (user.id,),
            ).fetchall()

    failed = False
    print(f"\nexport of a workspace with {messages:,} messages")
    print(f"{'format':<8}{'seconds':>9}{'MB sent':>10}{'rows/s':>10}{'RSS before':>12}{'RSS peak':>10}{'rise':>8}")
    for r, rec in zip(results, recorded, strict=True):
        rise = r["peak"] - r["before"]
        failed |= rise > GOAL_MB or rec["status"] != "completed" or int(rec["messages"]) != messages
        print(
            f"{r['format']:<8}{r['seconds']:>9.1f}{r['bytes'] / 2**20:>10.1f}{messages / r['seconds']:>10,.0f}"
            f"{r['before']:>10.1f}MB{r['peak']:>8.1f}MB{rise:>6.1f}MB  "
            f"({rec['status']}, {int(rec['messages']):,} messages recorded)"
        )
    json_run = results[0]
    assert json_run["head"].startswith(b'{"format_version": 2') and json_run["tail"].endswith(b"}"), "a whole document"
    print(f"goal: RSS rising by at most {GOAL_MB} MB: {'FAILED' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
