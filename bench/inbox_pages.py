"""Server time of the web application's inbox pages at 1,000,000 messages over 100 workspaces.

    .venv/bin/python -m bench.inbox_pages            # 1,000,000 messages over 100 workspaces
    .venv/bin/python -m bench.inbox_pages --quick    # 100,000

The data is bench.inbox_query's (set-based, skewed threads). Each workspace's owner gets a
signed session cookie, as signing in gives one, and the service (the real application, in
process, through Flask's test client: no network, so the figure is the server's own time)
renders, for random workspaces and their conversations:

  GET /inbox                  the 50 latest conversations and the unread total
  GET /inbox/<conversation>   the same list, the thread's latest 200 messages, the composer
  GET /inbox/updates          the poll an open inbox makes every 2 s, when nothing changed (204)

Beside them, in the same run, a bare page of the same application (the sign-in form, no
database read) is the baseline: the ratio says what the inbox's reads and rendering add.
Goal: p95 under 50 ms for both pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import time
from urllib.parse import urlencode

from bench._support import percentile, terminate_as_interrupt, test_database

GOAL_P95_MS = 50.0
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789abcdef"
SESSION_SECRET = "bench-session-secret-0123456789abcdef0123456789"


def _cookie(app, user_id: str) -> str:
    import jwt
    from itsdangerous import URLSafeSerializer

    now = int(time.time())
    token = jwt.encode(
        {"sub": user_id, "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 3600},
        JWT_SECRET,
        algorithm="HS256",
    )
    return URLSafeSerializer(SESSION_SECRET, salt="numeraloop.session").dumps(
        {"a": token, "r": "x", "e": now + 3600, "adult": True}
    )


def _time(client, path: str, cookie: str, expect: int) -> float:
    client.set_cookie("nl_session", cookie)
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != expect:
        raise RuntimeError(f"GET {path} answered {response.status_code}, not {expect}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inbox_pages", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=None, help="messages in total (default 1000000)")
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="100,000 messages, fewer requests")
    parser.add_argument("--requests", type=int, default=None, help="per page (default 1000; quick 200)")
    args = parser.parse_args(argv)
    messages = args.messages or (100_000 if args.quick else 1_000_000)
    requests_per_page = args.requests or (200 if args.quick else 1000)

    import psycopg
    from psycopg.rows import dict_row

    from bench.inbox_query import generate, targets
    from numeraloop.app import create_app
    from numeraloop.config import Config

    with terminate_as_interrupt(), test_database() as url:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            print(f"generating {messages} messages over {args.workspaces} workspaces ...", flush=True)
            t0 = time.perf_counter()
            generate(conn, messages, args.workspaces)
            conn.execute("update public.profiles set age_confirmed_at = now() where age_confirmed_at is null")
            print(f"generated in {time.perf_counter() - t0:.0f} s", flush=True)
            workspaces = targets(conn)

        config = dataclasses.replace(
            Config.from_env(env={"NUMERALOOP_ENV": "test"}),
            database_url=url,
            supabase_jwt_secret=JWT_SECRET,
            session_secret=SESSION_SECRET,
            db_pool_max=4,
            log_level="WARNING",
        )
        app = create_app(config)
        client = app.test_client()
        client.get("/signin")  # the CSRF cookie, as a browser has it
        rng = random.Random(20261201)
        times: dict[str, list[float]] = {
            "baseline: GET /signin": [],
            "GET /inbox": [],
            "GET /inbox/<id>": [],
            "GET /inbox/updates (nothing new)": [],
        }
        for _warm in range(20):  # the pool's connections, Jinja's compiled templates
            ws_id, user_id, conversations = rng.choice(workspaces)
            _time(client, "/inbox", _cookie(app, user_id), 200)
        for _ in range(requests_per_page):
            ws_id, user_id, conversations = rng.choice(workspaces)
            cookie = _cookie(app, user_id)
            conversation = rng.choice(conversations)
            times["baseline: GET /signin"].append(_time(client, "/signin", cookie, 302))
            times["GET /inbox"].append(_time(client, "/inbox", cookie, 200))
            times["GET /inbox/<id>"].append(_time(client, f"/inbox/{conversation}", cookie, 200))
            body = client.get(f"/inbox/{conversation}").get_data(as_text=True)
            version = re.search(r'"version": "([^"]*)"', body).group(1)
            times["GET /inbox/updates (nothing new)"].append(
                _time(
                    client,
                    "/inbox/updates?"
                    + urlencode(
                        {"conversation": conversation, "version": version, "view": "all", "status": "open", "q": ""}
                    ),
                    cookie,
                    204,
                )
            )
        app.extensions["numeraloop.pool"].close()

    baseline = percentile(sorted(times["baseline: GET /signin"]), 95)
    print(f"\nserver time over {requests_per_page} requests each, {messages} messages / {args.workspaces} workspaces:")
    print(f"{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'goal p95':>9} {'p95 / baseline':>15}")
    failed = False
    for name, values in times.items():
        values.sort()
        p50, p95 = percentile(values, 50), percentile(values, 95)
        goal = "" if name.startswith("baseline") else f"< {GOAL_P95_MS:.0f}"
        if goal and name != "GET /inbox/updates (nothing new)" and p95 >= GOAL_P95_MS:
            failed = True
        print(f"{name:36} {p50:8.1f} {p95:8.1f} {goal:>9} {p95 / baseline:15.1f}")
    print("goal met" if not failed else "GOAL NOT MET: an inbox page's p95 is 50 ms or more")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
