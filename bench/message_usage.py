"""The cost of one send against the monthly-messages limit, with the period empty and with
--messages outbound messages already sent in it (goal: within 1.2x of each other).

    .venv/bin/python -m bench.message_usage                    # 1,000,000 messages already sent
    .venv/bin/python -m bench.message_usage --quick            # 100,000

In the test database (recreated, migrated, locked for this run): two workspaces on a plan whose
limit is far away (so every send runs the limit check, and none is refused), each with a number.
The busy one gets --messages outbound messages in the current period (set-based, through the
same trigger as every message, in batches); the other has sent nothing. Then sends are timed in
both, interleaved (busy, empty, empty, busy, ...), so both see the same table, caches and machine
load and the ratio isolates what the workspace's own volume costs. A send is
private.prepare_outbound_message as the service calls it (service_role, its own transaction: the
limit check, the period's counter row, threading, the message), to --recipients contacts in turn;
timed is the statement, its commit apart. Printed: p50/p95/mean of each, their ratio, and what
the count each send used to run (every outbound message of the period) takes at that size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench._support import cores, percentile, terminate_as_interrupt, test_database

GOAL_RATIO = 1.2
BATCH = 100_000


def arrange(conn, name: str, number: str) -> dict:
    from tests.support.database import create_user

    user = create_user(conn, f"bench-usage-{name}")
    number_id = conn.execute(
        "insert into public.phone_numbers (workspace_id, twilio_sid, e164) "
        "values (%s, 'PN' || md5(%s), %s) returning id",
        (user.workspace_id, user.workspace_id, number),
    ).fetchone()["id"]
    return {"user_id": user.id, "workspace_id": user.workspace_id, "number_id": str(number_id), "e164": number}


def send(conn, w: dict, to: str) -> tuple[float, float]:
    """One send as the service makes it: (statement seconds, commit seconds)."""
    conn.execute("begin")
    conn.execute("select set_config('role', 'service_role', true)")
    t0 = time.perf_counter()
    conn.execute(
        "select private.prepare_outbound_message(%s, %s, %s, %s, 'Your order is ready', null, 1, 'gsm7')",
        (w["workspace_id"], w["user_id"], w["number_id"], to),
        prepare=True,
    ).fetchone()
    t1 = time.perf_counter()
    conn.execute("commit")
    return t1 - t0, time.perf_counter() - t1


def time_sends(conn, workspaces: dict[str, dict], count: int, recipients: int) -> dict[str, tuple[list, list]]:
    """`count` sends in each workspace, interleaved, alternating which goes first."""
    times = {name: ([], []) for name in workspaces}
    names = list(workspaces)
    for i in range(count):
        for name in names if i % 2 == 0 else names[::-1]:
            statement, commit = send(conn, workspaces[name], f"+1628555{i % recipients:04d}")
            times[name][0].append(statement)
            times[name][1].append(commit)
    return {name: (sorted(a), sorted(b)) for name, (a, b) in times.items()}


def fill(conn, w: dict, messages: int) -> float:
    """`messages` outbound messages in the current period, as sends leave them, through the trigger."""
    conn.execute(
        """
        create temp table bench_conversations as
        select c as k,
               private.upsert_conversation(%(ws)s, %(num)s,
                                           private.upsert_contact(%(ws)s, '+1646555' || lpad(c::text, 4, '0'))) as id
          from generate_series(0, 999) c""",
        {"ws": w["workspace_id"], "num": w["number_id"]},
    )
    started = time.perf_counter()
    done = 0
    while done < messages:
        n = min(BATCH, messages - done)
        conn.execute(
            """
            insert into public.messages (workspace_id, conversation_id, direction, from_e164, to_e164, body, status,
                                         num_segments, encoding, source, created_at, status_updated_at)
            select %(ws)s, c.id, 'outbound', %(from)s, '+1646555' || lpad(c.k::text, 4, '0'),
                   'Message ' || g || ': your order is ready for pickup', 'delivered', 1, 'gsm7', 'manual',
                   now() - random() * (now() - p.period_start), now()
              from generate_series(1, %(n)s) g
              join bench_conversations c on c.k = g %% 1000
             cross join private.message_period(%(ws)s) p""",
            {"ws": w["workspace_id"], "from": w["e164"], "n": n},
        )
        done += n
        print(f"  {done:,} messages ({time.perf_counter() - started:.0f} s)", flush=True)
    seconds = time.perf_counter() - started
    conn.execute("vacuum analyze public.messages")
    return seconds


def summary(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, 50) * 1000, percentile(values, 95) * 1000, statistics.fmean(values) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.message_usage", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=None, help="already sent (default 1,000,000; quick 100,000)")
    parser.add_argument("--sends", type=int, default=None, help="timed sends per workspace (default 1000; quick 300)")
    parser.add_argument("--recipients", type=int, default=100)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = 100_000 if args.quick else 1_000_000
    if args.sends is None:
        args.sends = 300 if args.quick else 1000

    import psycopg
    from psycopg.rows import dict_row

    with terminate_as_interrupt(), test_database() as url:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            # The free plan with a limit no run reaches: the check runs on every send and refuses none.
            conn.execute(
                "update public.plans set limits = jsonb_set(limits, '{monthly_messages}', '1000000000') "
                "where id = 'free'"
            )
            workspaces = {
                "busy": arrange(conn, "busy", "+15017122901"),
                "empty": arrange(conn, "empty", "+15017122902"),
            }
            version = conn.execute("show server_version").fetchone()["server_version"]
            sync = conn.execute("show synchronous_commit").fetchone()["synchronous_commit"]
            print(f"sending {args.messages:,} messages in the busy workspace's period ...", flush=True)
            fill_seconds = fill(conn, workspaces["busy"], args.messages)
            time_sends(conn, workspaces, 50, args.recipients)  # warm-up: plans, caches, conversations
            print(f"timing {args.sends} sends in each workspace, interleaved ...", flush=True)
            times = time_sends(conn, workspaces, args.sends, args.recipients)
            busy = workspaces["busy"]["workspace_id"]
            usage = conn.execute("select private.message_allowance(%s) as a", (busy,)).fetchone()["a"]
            counted = conn.execute(
                "select count(*) as n from public.messages m, private.message_period(%(ws)s) p "
                "where m.workspace_id = %(ws)s and m.direction = 'outbound' and m.created_at >= p.period_start "
                "and m.created_at < p.period_end",
                {"ws": busy},
            ).fetchone()["n"]
            count_times = []
            for _ in range(20):
                t0 = time.perf_counter()
                conn.execute(
                    "select private.count_period_messages(%(ws)s, p.period_start, p.period_end) "
                    "from private.message_period(%(ws)s) p",
                    {"ws": busy},
                ).fetchone()
                count_times.append(time.perf_counter() - t0)
            load = os.getloadavg()

    if int(usage["used"]) != counted:
        raise SystemExit(f"the counter says {usage['used']} used, the period holds {counted} outbound messages")
    e50, e95, emean = summary(times["empty"][0])
    f50, f95, fmean = summary(times["busy"][0])
    c50, _, cmean = summary(sorted(times["empty"][1] + times["busy"][1]))
    print()
    print(
        f"machine: {cores()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
        f"PostgreSQL {version}; synchronous_commit={sync}"
    )
    print(f"busy workspace's counter: {int(usage['used']):,} used = {counted:,} outbound messages in its period")
    print(
        f"filling {args.messages:,} messages through the trigger: {fill_seconds:.1f} s "
        f"({args.messages / fill_seconds:,.0f} rows/s)"
    )
    print()
    print(f"{'one send (statement)':<44}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    print(f"{'nothing sent yet this period':<44}{e50:>10.3f}{e95:>10.3f}{emean:>10.3f}")
    print(f"{f'{counted:,} sent this period':<44}{f50:>10.3f}{f95:>10.3f}{fmean:>10.3f}")
    print(f"{'ratio':<44}{f50 / e50:>10.2f}{f95 / e95:>10.2f}{fmean / emean:>10.2f}   goal <= {GOAL_RATIO}")
    print(f"{'its commit, apart':<44}{c50:>10.3f}{'':>10}{cmean:>10.3f}")
    print(
        f"{'the period count each send used to run':<44}{percentile(sorted(count_times), 50) * 1000:>10.3f}"
        f"{'':>10}{statistics.fmean(count_times) * 1000:>10.3f}   (now only a new period's first message)"
    )
    ok = f50 / e50 <= GOAL_RATIO
    print(f"\n{'ok' if ok else 'GOAL MISSED'}: p50 ratio {f50 / e50:.2f} (goal <= {GOAL_RATIO})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
