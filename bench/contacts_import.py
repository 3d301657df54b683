"""Contacts CSV import: throughput and memory.

Generates a CSV of --rows rows on the fly (never held in memory), streams it as a chunked
text/csv body to the real service started in-process on 127.0.0.1 against the test
database (recreated and migrated, under the same lock the test runs take), and prints rows/s
and the process's resident memory: before, peak while importing, and the lifetime peak
(resource.getrusage). The server runs in this process, so a flat RSS means the import
streams.

    .venv/bin/python -m bench.contacts_import              # 20,000 rows, a quick check
    .venv/bin/python -m bench.contacts_import --rows 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import threading
import time

import psycopg
import requests

from numeraloop.app import create_app
from numeraloop.config import Config
from tests.support import database
from tests.support.live_server import serve_factory
from tests.support.tokens import TEST_JWT_SECRET, access_token

PAGE = os.sysconf("SC_PAGE_SIZE")
BAD_EVERY = 1000  # one row in a thousand has an unusable phone number, to exercise rejections
DUPLICATE_EVERY = 500  # and one in five hundred repeats an earlier number


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def phone(i: int) -> str:
    # NANP numbers that phonenumbers accepts: area codes 201-209 (not 211), exchanges 200-999.
    area = 201 + i // 8_000_000
    exchange = 200 + (i // 10_000) % 800
    return f"+1{area}{exchange}{i % 10_000:04d}"


class Counter:
    def __init__(self, chunks):
        self.chunks, self.bytes = chunks, 0

    def __iter__(self):
        for chunk in self.chunks:
            self.bytes += len(chunk)
            yield chunk


def csv_chunks(rows: int, lines_per_chunk: int = 2000):
    yield b"Phone,First Name,Last Name,Email,Tags,Plan\r\n"
    lines = []
    for i in range(rows):
        if i % BAD_EVERY == BAD_EVERY - 1:
            number = "n/a"
        elif i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
            number = phone(i - 1)
        else:
            number = phone(i)
        # Short rows, so a million fit under the service's 64 MB request limit (about 55 MB).
        lines.append(f'{number},P{i},"Lee, Jr",p{i}@x.test,a;b,plan-{i % 7}\r\n')
        if len(lines) >= lines_per_chunk:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.contacts_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="CSV rows to generate (default 20,000)")
    args = parser.parse_args(argv)

    url = database.session_database()  # fresh, migrated test database; held until we exit
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            user = database.create_user(conn, "bench")
        config = dataclasses.replace(
            Config.from_env(env={"NUMERALOOP_ENV": "test"}),
            database_url=url,
            supabase_jwt_secret=TEST_JWT_SECRET,
            log_level="WARNING",
            db_pool_max=4,
        )
        with serve_factory(lambda base: create_app(dataclasses.replace(config, public_base_url=base))) as (
            base_url,
            app,
        ):
            before = rss_mb()
            peak = [before]
            done = threading.Event()

            def sample():
                while not done.wait(0.05):
                    peak[0] = max(peak[0], rss_mb())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            upload = Counter(csv_chunks(args.rows))
            started = time.perf_counter()
            response = requests.post(
                f"{base_url}/api/v1/contacts/import",
                params={"workspace_id": user.workspace_id, "consent_source": "bench", "tags": "bench-run"},
                data=iter(upload),
                headers={
                    "Content-Type": "text/csv",
                    "Authorization": f"Bearer {access_token(user.id, expires_in=86400)}",
                },
                timeout=3600,
            )
            elapsed = time.perf_counter() - started
            done.set()
            sampler.join()
            app.extensions["numeraloop.pool"].close()
    finally:
        database.release_session_database()

    if response.status_code != 200:
        error = (
            (response.json().get("error") or {}) if response.headers.get("Content-Type") == "application/json" else {}
        )
        raise SystemExit(
            f"import {error.get('import_id', '')} failed: HTTP {response.status_code} {response.text[:500]}"
        )
    sent = upload.bytes
    body = response.json()
    print(f"import id       {body['import_id']}")
    print(f"status          {body['status']:>12}")
    print(f"CSV bytes       {sent:>12,}")
    print(f"rows            {body['rows']:>12,}")
    print(f"imported        {body['imported']:>12,}")
    print(f"merged          {body['merged']:>12,}")
    print(f"rejected        {body['rejected_total']:>12,}")
    print(f"seconds         {elapsed:>12.1f}")
    print(f"rows/s          {body['rows'] / elapsed:>12,.0f}")
    print(f"RSS before      {before:>12.1f} MB")
    print(f"RSS peak import {peak[0]:>12.1f} MB  (+{peak[0] - before:.1f} MB while importing)")
    print(f"ru_maxrss       {peak_rss_mb():>12.1f} MB  (process lifetime, client and server)")


if __name__ == "__main__":
    main()
