"""Contacts CSV import: wall time and memory, beside `psql \\copy` of the same file.

Writes a CSV of --rows rows to a temporary file (one row in 1,000 has an unusable phone number,
one in 500 repeats the previous number, a third of the numbers are in national format,
"(201) 555-0123"), then in the same run:

1. `psql \\copy` of the file into a bare table (text columns, no index): the floor, what loading
   those bytes into PostgreSQL costs with no parsing, checking or merging at all;
2. POST /api/v1/contacts/import with the file as a chunked text/csv body, to the real service
   started in-process on 127.0.0.1 against the test database (recreated and migrated, under the
   same lock the test runs take), while another connection polls the import's contact_imports
   row as a client would (the progress must move before the upload ends).

Printed: each figure beside its goal (1,000,000 rows in at most 60 s; peak RSS under 300 MB) and
the import's time as a multiple of the \\copy. The server runs in this process, so the RSS is
client and server together.

    .venv/bin/python -m bench.contacts_import              # 100,000 rows, a quick check
    .venv/bin/python -m bench.contacts_import --rows 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench._support import cores, terminate_as_interrupt, test_database

PAGE = os.sysconf("SC_PAGE_SIZE")
BAD_EVERY = 1000  # one row in a thousand has an unusable phone number, to exercise rejections
DUPLICATE_EVERY = 500  # and one in five hundred repeats an earlier number
NATIONAL_EVERY = 3  # and one in three is written as a national number
GOAL_SECONDS_PER_MILLION = 60.0
GOAL_RSS_MB = 300.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def phone(i: int) -> str:
    # NANP numbers that phonenumbers accepts: area codes 201-209 (not 211), exchanges 200-999.
    area = 201 + i // 8_000_000
    exchange = 200 + (i // 10_000) % 800
    if i % NATIONAL_EVERY == 0:
        return f"({area}) {exchange}-{i % 10_000:04d}"
    return f"+1{area}{exchange}{i % 10_000:04d}"


def write_csv(path: Path, rows: int) -> int:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("Phone,First Name,Last Name,Email,Tags,Plan\r\n")
        lines = []
        for i in range(rows):
            if i % BAD_EVERY == BAD_EVERY - 1:
                number = "n/a"
            elif i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
                number = phone(i - 1)
            else:
                number = phone(i)
            lines.append(f'"{number}",P{i},"Lee, Jr",p{i}@x.test,a;b,plan-{i % 7}\r\n')
            if len(lines) >= 5000:
                f.write("".join(lines))
                lines = []
        f.write("".join(lines))
    return path.stat().st_size


def psql_copy(url: str, path: Path) -> float:
    """Seconds for `psql \\copy` of the file into a bare table of text columns."""
    psql = shutil.which("psql")
    if psql is None:
        raise SystemExit("psql is not on PATH: it is the baseline this benchmark measures against")
    subprocess.run(
        [
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            "drop table if exists public.bench_bare_copy; create table public.bench_bare_copy "
            "(phone text, first_name text, last_name text, email text, tags text, plan text)",
        ],
        check=True,
    )
    started = time.perf_counter()
    subprocess.run(
        [
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            f"\\copy public.bench_bare_copy from '{path}' with (format csv, header true)",
        ],
        check=True,
    )
    seconds = time.perf_counter() - started
    subprocess.run([psql, "-X", "-q", url, "-c", "drop table public.bench_bare_copy"], check=True)
    return seconds


def file_chunks(path: Path, size: int = 256 * 1024):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.contacts_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows to generate (default 100,000)")
    args = parser.parse_args(argv)

    import psycopg
    import requests
    from psycopg.rows import dict_row

    from numeraloop.app import create_app
    from numeraloop.config import Config
    from tests.support import database
    from tests.support.live_server import serve_factory
    from tests.support.tokens import TEST_JWT_SECRET, access_token

    workdir = Path(tempfile.mkdtemp(prefix="bench-contacts-"))
    csv_path = workdir / "contacts.csv"
    try:
        t0 = time.perf_counter()
        size = write_csv(csv_path, args.rows)
        print(f"wrote {args.rows:,} rows, {size / 2**20:.1f} MB, in {time.perf_counter() - t0:.1f} s", flush=True)
        with terminate_as_interrupt(), test_database() as url:
            print("psql \\copy of the file into a bare table ...", flush=True)
            copy_seconds = psql_copy(url, csv_path)
            with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
                user = database.create_user(conn, "bench")
            config = dataclasses.replace(
                Config.from_env(env={"NUMERALOOP_ENV": "test"}),
                database_url=url,
                supabase_jwt_secret=TEST_JWT_SECRET,
                log_level="WARNING",
                db_pool_max=4,
            )
            print("POST /api/v1/contacts/import ...", flush=True)
            # The service's own account of the import: how long the database took, and how long
            # reading the file stood waiting for it.
            summary: list[str] = []
            handler = logging.Handler()
            handler.emit = lambda record: (
                summary.append(record.getMessage()) if "completed" in record.getMessage() else None
            )
            with serve_factory(lambda base: create_app(dataclasses.replace(config, public_base_url=base))) as (
                base_url,
                app,
            ):
                service_log = logging.getLogger("numeraloop.contacts.api")
                service_log.addHandler(handler)
                service_log.setLevel(logging.INFO)
                before = rss_mb()
                peak = [before]
                progress: list[tuple[float, int]] = []
                done = threading.Event()

                def watch():
                    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as poll:
                        while not done.wait(0.25):
                            peak[0] = max(peak[0], rss_mb())
                            row = poll.execute(
                                "select rows_read from public.contact_imports where workspace_id = %s",
                                (user.workspace_id,),
                            ).fetchone()
                            if row:
                                progress.append((time.perf_counter(), row["rows_read"]))

                watcher = threading.Thread(target=watch, daemon=True)
                watcher.start()
                started = time.perf_counter()
                response = requests.post(
                    f"{base_url}/api/v1/contacts/import",
                    params={"workspace_id": user.workspace_id, "consent_source": "bench", "tags": "bench-run"},
                    data=file_chunks(csv_path),
                    headers={
                        "Content-Type": "text/csv",
                        "Authorization": f"Bearer {access_token(user.id, expires_in=86400)}",
                    },
                    timeout=3600,
                )
                elapsed = time.perf_counter() - started
                done.set()
                watcher.join()
                app.extensions["numeraloop.pool"].close()
            with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
                stored = conn.execute(
                    "select count(*) as n from public.contacts where workspace_id = %s", (user.workspace_id,)
                ).fetchone()["n"]
            load = os.getloadavg()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if response.status_code != 200:
        raise SystemExit(f"import failed: HTTP {response.status_code} {response.text[:500]}")
    body = response.json()
    expected_bad = args.rows // BAD_EVERY
    expected_duplicates = sum(
        1 for i in range(args.rows) if i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 and i % BAD_EVERY != BAD_EVERY - 1
    )
    problems = []
    if (body["rows"], body["rejected_total"]) != (args.rows, expected_bad):
        problems.append(
            f"rows {body['rows']} rejected {body['rejected_total']}, expected {args.rows} and {expected_bad}"
        )
    if body["imported"] != stored or body["imported"] != args.rows - expected_bad - expected_duplicates:
        problems.append(f"imported {body['imported']}, stored {stored}")
    moving = [n for t, n in progress if 0 < n < args.rows]
    if not moving:
        problems.append("no progress was visible to another session before the import finished")

    goal = GOAL_SECONDS_PER_MILLION * args.rows / 1_000_000
    ru_max = peak_rss_mb()
    print()
    print(f"machine: {cores()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(
        f"file: {args.rows:,} rows, {size / 2**20:.1f} MB; imported {body['imported']:,}, merged {body['merged']:,}, "
        f"rejected {body['rejected_total']:,}; {stored:,} contacts stored"
    )
    for line in summary:
        print(f"service: {line}")
    print(
        f"progress: {len(moving)} polls saw the import partway (rows_read {moving[0] if moving else 0:,} "
        f"... {moving[-1] if moving else 0:,})"
    )
    print()
    copy_label, ratio_label = "psql \\copy, bare table", "import / \\copy"
    print(f"{'':<34}{'measured':>14}{'goal':>14}")
    print(f"{copy_label:<34}{copy_seconds:>12.1f} s")
    print(f"{'import end to end':<34}{elapsed:>12.1f} s{f'<= {goal:.0f} s':>14}")
    print(f"{ratio_label:<34}{elapsed / copy_seconds:>13.1f}x")
    print(f"{'rows/s':<34}{args.rows / elapsed:>14,.0f}{1_000_000 / GOAL_SECONDS_PER_MILLION:>14,.0f}")
    print(f"{'RSS before':<34}{before:>11.1f} MB")
    print(f"{'RSS peak while importing':<34}{peak[0]:>11.1f} MB{f'< {GOAL_RSS_MB:.0f} MB':>14}")
    print(f"{'ru_maxrss (process lifetime)':<34}{ru_max:>11.1f} MB")
    ok = not problems and elapsed <= goal and max(peak[0], ru_max) < GOAL_RSS_MB
    for p in problems:
        print(f"PROBLEM: {p}")
    print(
        f"\n{'ok' if ok else 'GOAL MISSED'}: {elapsed:.1f} s for {args.rows:,} rows (goal {goal:.0f} s), "
        f"{elapsed / copy_seconds:.1f}x psql \\copy, peak RSS {max(peak[0], ru_max):.0f} MB"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
