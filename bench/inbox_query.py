"""The inbox's two reads under row-level security, against a large messages table.

    .venv/bin/python -m bench.inbox_query              # 1,000,000 messages over 100 workspaces
    .venv/bin/python -m bench.inbox_query --quick      # 100,000
    .venv/bin/python -m bench.inbox_query --messages 5000000 --workspaces 500

The test database (tests.support.database: recreated, migrated, locked for this run) is
filled with set-based SQL as the superuser: --workspaces users (signup trigger: profile,
personal workspace, owner membership), one phone number per workspace, contacts (one per
ten messages), one conversation per contact, and the messages spread over them (skewed:
a few long threads, many short ones), half inbound and half outbound, over the last year.
Conversations' last_message_at / preview / unread_count follow their messages, as the
messaging functions keep them. Then VACUUM ANALYZE.

The queries are the ones the web client sends through PostgREST, in the shape PostgREST
generates (a CTE with the filters, ordering and limit, aggregated to JSON), run in a
transaction that sets role and request.jwt.claims as PostgREST does, and prepared (as
PostgREST prepares them):

  (a) GET /conversations?workspace_id=eq.<ws>&order=last_message_at.desc&limit=50
  (b) GET /messages?conversation_id=eq.<id>&order=created_at.desc&limit=50

each as `authenticated` (the workspace's owner; RLS applies) and as `service_role`
(BYPASSRLS), paired over the same random workspaces and conversations. Times are the
statement's round trip (execute + fetch), not the transaction's. Before timing, EXPLAIN
(ANALYZE, BUFFERS) of each as `authenticated` is printed, and checked for an index scan
and for the RLS helper running once, as an InitPlan.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time

from bench._support import cores, percentile, terminate_as_interrupt, test_database

RESULT_WRAPPER = (
    "SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
    "coalesce(json_agg(_postgrest_t), '[]') AS body, "
    "nullif(current_setting('response.headers', true), '') AS response_headers, "
    "nullif(current_setting('response.status', true), '') AS response_status "
    "FROM ( SELECT * FROM pgrst_source ) _postgrest_t"
)


def postgrest_read(table: str, column: str, order: str) -> str:
    return (
        f'WITH pgrst_source AS ( SELECT "public"."{table}".* FROM "public"."{table}" '
        f'WHERE "public"."{table}"."{column}" = %s '
        f'ORDER BY "public"."{table}".{order} LIMIT 50 OFFSET 0 ) ' + RESULT_WRAPPER
    )


QUERIES = {
    # order=last_message_at.desc: PostgREST writes DESC and nothing else, i.e. NULLS FIRST.
    "conversations": postgrest_read("conversations", "workspace_id", '"last_message_at" DESC'),
    "messages": postgrest_read("messages", "conversation_id", '"created_at" DESC'),
    # order=last_message_at.desc.nullslast: the order conversations_inbox_idx is built in.
    "conversations_nullslast": postgrest_read("conversations", "workspace_id", '"last_message_at" DESC NULLS LAST'),
}
LABELS = {
    "conversations": "(a) workspace's 50 latest conversations",
    "messages": "(b) conversation's 50 latest messages",
    "conversations_nullslast": "(a') as (a), order=...desc.nullslast",
}
TABLE = {"conversations": "conversations", "messages": "messages", "conversations_nullslast": "conversations"}


# ---------------------------------------------------------------------------------------
# Data


def generate(conn, messages: int, workspaces: int) -> dict:
    per_ws_contacts = max(1, messages // workspaces // 10)
    steps = [
        (
            "users and their workspaces (signup trigger)",
            """
            insert into auth.users (id, email, raw_user_meta_data, aud, role)
            select gen_random_uuid(), 'bench-' || n || '@example.test',
                   jsonb_build_object('full_name', 'Bench Owner ' || n), 'authenticated', 'authenticated'
              from generate_series(1, %(w)s) n""",
        ),
        (
            "workspace index",
            """
            create temp table bench_ws as
            select (row_number() over (order by w.created_at, w.id) - 1)::int as ws_n, w.id as workspace_id,
                   w.created_by as user_id
              from public.workspaces w join auth.users u on u.id = w.created_by
             where w.is_personal and u.email like 'bench-%%@example.test';
            alter table bench_ws add primary key (ws_n)""",
        ),
        (
            "phone numbers",
            """
            insert into public.phone_numbers (workspace_id, twilio_sid, e164, friendly_name)
            select workspace_id, 'PN' || md5('bench-number-' || ws_n), '+1415' || lpad(ws_n::text, 7, '0'),
                   'Main line'
              from bench_ws""",
        ),
        (
            "contacts",
            """
            insert into public.contacts (workspace_id, phone_e164, first_name, last_name, created_at, updated_at)
            select w.workspace_id, '+1646' || lpad(c::text, 7, '0'), 'First' || c, 'Last' || c,
                   now() - interval '400 days', now() - interval '400 days'
              from bench_ws w cross join generate_series(0, %(c)s - 1) c""",
        ),
        (
            "conversations",
            """
            insert into public.conversations (workspace_id, phone_number_id, contact_id, created_at, updated_at)
            select ct.workspace_id, p.id, ct.id, ct.created_at, ct.created_at
              from public.contacts ct join public.phone_numbers p on p.workspace_id = ct.workspace_id
              join bench_ws w on w.workspace_id = ct.workspace_id""",
        ),
        (
            "conversation index",
            """
            create temp table bench_conv as
            select w.ws_n, (substr(ct.phone_e164, 6))::int as k, cv.id as conversation_id, cv.workspace_id,
                   ct.phone_e164 as contact_e164, p.e164 as number_e164
              from public.conversations cv join public.contacts ct on ct.id = cv.contact_id
              join public.phone_numbers p on p.id = cv.phone_number_id
              join bench_ws w on w.workspace_id = cv.workspace_id;
            alter table bench_conv add primary key (ws_n, k)""",
        ),
        # Message g goes to workspace g mod W and, within it, to conversation floor(C * r^2):
        # a few long threads, many short ones (the skew of a real inbox).
        (
            "messages",
            """
            insert into public.messages (workspace_id, conversation_id, direction, twilio_sid, from_e164, to_e164,
                                         body, status, num_segments, num_media, source, created_at,
                                         status_updated_at)
            select c.workspace_id, c.conversation_id, d.direction, 'SM' || md5('bench-message-' || g),
                   case when d.direction = 'inbound' then c.contact_e164 else c.number_e164 end,
                   case when d.direction = 'inbound' then c.number_e164 else c.contact_e164 end,
                   'Message ' || g || ' about order #' || (g %% 9973) || ', see you at the shop tomorrow?',
                   case when d.direction = 'inbound' then 'received' else 'delivered' end, 1, 0,
                   case when d.direction = 'inbound' then null else 'manual' end, d.at, d.at
              from (select g, (g %% %(w)s)::int as ws_n,
                           least(%(c)s - 1, floor(%(c)s * power(random(), 2)))::int as k,
                           case when random() < 0.5 then 'inbound' else 'outbound' end as direction,
                           now() - random() * interval '365 days' as at
                      from generate_series(0, %(m)s - 1) g) d
              join bench_conv c on c.ws_n = d.ws_n and c.k = d.k""",
        ),
        (
            "conversations without messages (never exist: a message creates its conversation)",
            """
            delete from public.conversations cv
             where cv.workspace_id in (select workspace_id from bench_ws)
               and not exists (select 1 from public.messages m where m.conversation_id = cv.id)""",
        ),
        (
            "conversations' last_message_at, preview and unread count from their messages",
            """
            update public.conversations cv
               set last_message_at = l.created_at, last_message_preview = left(l.body, 160),
                   unread_count = l.unread
              from (select distinct on (m.conversation_id) m.conversation_id, m.created_at, m.body,
                           case when m.direction = 'inbound' then 1 else 0 end as unread
                      from public.messages m join bench_ws w on w.workspace_id = m.workspace_id
                     order by m.conversation_id, m.created_at desc) l
             where l.conversation_id = cv.id""",
        ),
    ]
    params = {"w": workspaces, "c": per_ws_contacts, "m": messages}
    for label, statement in steps:
        t0 = time.perf_counter()
        with conn.transaction():
            for part in statement.split(";\n"):
                cur = conn.execute(part, params)
        print(f"  {label}: {cur.rowcount if cur.rowcount >= 0 else ''} ({time.perf_counter() - t0:.1f} s)", flush=True)
    t0 = time.perf_counter()
    for table in (
        "public.contacts",
        "public.conversations",
        "public.messages",
        "public.workspace_members",
        "public.phone_numbers",
        "public.workspaces",
    ):
        conn.execute(f"vacuum analyze {table}")
    print(f"  vacuum analyze: ({time.perf_counter() - t0:.1f} s)", flush=True)

    stats = conn.execute("""
        select (select count(*) from public.messages) as messages,
               (select count(*) from public.conversations) as conversations,
               (select count(*) from public.contacts) as contacts,
               (select pg_size_pretty(pg_total_relation_size('public.messages'))) as messages_size,
               (select max(n) from (select count(*) n from public.messages group by conversation_id) x) as longest,
               (select percentile_disc(0.5) within group (order by n)
                  from (select count(*) n from public.messages group by conversation_id) x) as median_thread,
               (select count(*) from public.conversations
                 where last_message_at is distinct from
                       (select max(m.created_at) from public.messages m where m.conversation_id = conversations.id))
                 as inconsistent""").fetchone()
    if stats["inconsistent"]:
        raise RuntimeError(f"{stats['inconsistent']} conversations' last_message_at differ from their messages")
    return dict(stats)


def targets(conn) -> list[tuple[str, str, list[str]]]:
    """(workspace_id, owner user id, conversation ids) per bench workspace."""
    rows = conn.execute("""
        select w.workspace_id, w.user_id, array_agg(cv.id) as conversations
          from bench_ws w join public.conversations cv on cv.workspace_id = w.workspace_id
         group by w.workspace_id, w.user_id order by w.workspace_id""").fetchall()
    return [(str(r["workspace_id"]), str(r["user_id"]), [str(c) for c in r["conversations"]]) for r in rows]


# ---------------------------------------------------------------------------------------
# Queries


def claims_for(role: str, user_id: str) -> str:
    if role == "authenticated":
        return json.dumps({"sub": user_id, "role": "authenticated"})
    return json.dumps({"role": "service_role"})


def run_once(conn, role: str, user_id: str, query: str, value: str) -> tuple[float, int]:
    """One PostgREST-style request: a transaction with role and claims set, then the read."""
    with conn.transaction():
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, claims_for(role, user_id)),
        )
        t0 = time.perf_counter()
        row = conn.execute(query, (value,), prepare=True).fetchone()
        elapsed = time.perf_counter() - t0
    return elapsed, row["page_total"]


def explain(conn, user_id: str, query: str, value: str) -> str:
    with conn.transaction():
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (claims_for("authenticated", user_id),),
        )
        literal = conn.execute("select quote_literal(%s::text)", (value,)).fetchone()["quote_literal"]
        rows = conn.execute("explain (analyze, buffers) " + query.replace("%s", literal)).fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


def check_plan(plan: str, table: str) -> list[str]:
    problems = []
    if re.search(rf"Seq Scan on {table}\b", plan):
        problems.append(f"sequential scan on {table}")
    if not re.search(rf"(Index (Only )?Scan( Backward)? using \w+|Bitmap Heap Scan) on {table}\b", plan):
        problems.append(f"no index scan on {table}")
    # array(select private.workspace_ids_for_current_user()) shows as "InitPlan 1 (returns $0)"
    # over a ProjectSet; the scan then tests workspace_id = ANY ($0).
    initplans = re.findall(r"InitPlan \d+ \(returns \$\d+\)\n\s*->\s*\w+.*loops=(\d+)\)", plan)
    if initplans != ["1"] or "workspace_id = ANY ($0)" not in plan:
        problems.append(f"the RLS helper is not one InitPlan run once (found {initplans})")
    if re.search(r"Sort Key: \w+\.\w+ DESC", plan):
        problems.append("an explicit sort: no index gives the requested order under this plan")
    return problems


def bench_queries(url: str, ws: list, iterations: int, seed: int) -> dict:
    import psycopg
    from psycopg.rows import dict_row

    rng = random.Random(seed)
    picks = []
    for _ in range(iterations):
        workspace_id, user_id, conversations = rng.choice(ws)
        picks.append((workspace_id, user_id, rng.choice(conversations)))
    results = {(q, r): [] for q in QUERIES for r in ("authenticated", "service_role")}
    with (
        psycopg.connect(url, autocommit=True, row_factory=dict_row) as auth_conn,
        psycopg.connect(url, autocommit=True, row_factory=dict_row) as service_conn,
    ):
        conns = {"authenticated": auth_conn, "service_role": service_conn}
        for q, query in QUERIES.items():
            for i, (workspace_id, user_id, conversation_id) in enumerate([picks[0]] * 20 + picks):
                value = conversation_id if q == "messages" else workspace_id
                order = ("authenticated", "service_role") if i % 2 else ("service_role", "authenticated")
                counts = {}
                for role in order:
                    elapsed, counts[role] = run_once(conns[role], role, user_id, query, value)
                    if i >= 20:  # the first 20 warm the caches and the prepared statements
                        results[(q, role)].append(elapsed)
                if counts["authenticated"] != counts["service_role"] or counts["authenticated"] == 0:
                    raise RuntimeError(
                        f"{q}: authenticated saw {counts['authenticated']} rows, service_role {counts['service_role']}"
                    )
    return {k: sorted(v) for k, v in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inbox_query", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=None, help="messages in total (default 1000000)")
    parser.add_argument("--workspaces", type=int, default=100, help="workspaces (default 100)")
    parser.add_argument("--quick", action="store_true", help="100,000 messages, fewer iterations")
    parser.add_argument("--iterations", type=int, default=None, help="per query and role (default 2000; quick 500)")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = 100_000 if args.quick else 1_000_000
    if args.iterations is None:
        args.iterations = 500 if args.quick else 2000

    import psycopg
    from psycopg.rows import dict_row

    with terminate_as_interrupt(), test_database() as url:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            print(f"generating {args.messages} messages over {args.workspaces} workspaces ...", flush=True)
            t0 = time.perf_counter()
            random_seed = (args.seed % 1000) / 1000.0
            conn.execute("select setseed(%s)", (random_seed,))
            stats = generate(conn, args.messages, args.workspaces)
            print(
                f"generated in {time.perf_counter() - t0:.0f} s: {stats['messages']} messages "
                f"({stats['messages_size']} with indexes), {stats['conversations']} conversations, "
                f"{stats['contacts']} contacts; messages per conversation: median {stats['median_thread']}, "
                f"longest {stats['longest']}",
                flush=True,
            )
            ws = targets(conn)
            settings = {
                r["name"]: r["setting"] + (r["unit"] or "")
                for r in conn.execute(
                    "select name, setting, unit from pg_settings where name in "
                    "('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit')"
                ).fetchall()
            }
            version = conn.execute("show server_version").fetchone()["server_version"]

        # The plans, as authenticated: a typical workspace, and its longest conversation.
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            workspace_id, user_id, _ = ws[len(ws) // 2]
            longest = conn.execute(
                "select conversation_id from public.messages where workspace_id = %s "
                "group by conversation_id order by count(*) desc limit 1",
                (workspace_id,),
            ).fetchone()
            problems = []
            for q in QUERIES:
                value = str(longest["conversation_id"]) if q == "messages" else workspace_id
                explain(conn, user_id, QUERIES[q], value)  # once to load the caches, as a warm server has them
                plan = explain(conn, user_id, QUERIES[q], value)
                print(f"\nEXPLAIN (ANALYZE, BUFFERS) as authenticated, {LABELS[q]}:")
                print("  " + plan.replace("\n", "\n  "))
                problems += [f"{q}: {p}" for p in check_plan(plan, TABLE[q])]

        print(f"\ntiming {args.iterations} requests per query and role ...", flush=True)
        results = bench_queries(url, ws, args.iterations, args.seed)

    print()
    print(f"machine: {cores()} cores; PostgreSQL {version}; " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(
        f"data: {stats['messages']} messages, {stats['conversations']} conversations, {args.workspaces} workspaces; "
        f"{args.iterations} paired requests per query over random workspaces/conversations"
    )
    print()
    print(f"{'':<44}{'authenticated':>26}{'service_role':>26}{'ratio auth/service':>22}")
    print(f"{'':<44}{'p50 ms':>13}{'p95 ms':>13}{'p50 ms':>13}{'p95 ms':>13}{'p50':>11}{'p95':>11}")
    for q in QUERIES:
        a, s = results[(q, "authenticated")], results[(q, "service_role")]
        a50, a95, s50, s95 = (percentile(x, p) * 1000 for x, p in ((a, 50), (a, 95), (s, 50), (s, 95)))
        print(f"{LABELS[q]:<44}{a50:>13.3f}{a95:>13.3f}{s50:>13.3f}{s95:>13.3f}{a50 / s50:>11.2f}{a95 / s95:>11.2f}")
    if problems:
        print("\nplan warnings:\n  " + "\n  ".join(problems))
    else:
        print("\nplans: index scans, RLS helper once per query (InitPlan), no explicit sort")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
