"""Inbound SMS webhook throughput, signature check and storage included, as a ratio to a
bare Flask endpoint served the same way in the same run.

    .venv/bin/python -m bench.inbound_throughput              # 20,000 messages
    .venv/bin/python -m bench.inbound_throughput --quick      # 2,000
    .venv/bin/python -m bench.inbound_throughput --messages 50000

What runs:
- the test database (tests.support.database: recreated, migrated, locked for this run) with
  one user, their workspace's Twilio account stored encrypted (numeraloop.credentials.store)
  and one active phone number;
- `numeraloop serve` (gunicorn, gthread, the settings of numeraloop/server.py) and
  bench/bare_app.py under the very same settings, one after the other, each in its own
  process group on a free loopback port;
- a load generator of several processes, each with a few threads that each hold one
  keep-alive http.client connection (fixed concurrency = processes x threads), replaying
  request bodies built and signed before timing (twilio's RequestValidator, as Twilio
  signs): every request a distinct MessageSid, senders spread over --contacts numbers.

Each server first gets a short untimed warm-up (pool connections, token cache). After the
real run the number of stored inbound messages must equal the number sent, or the
benchmark fails.
"""

from __future__ import annotations

import argparse
import array
import http.client
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench._support import ROOT, cores, free_port, percentile, server_process, terminate_as_interrupt, test_database

PATH = "/twilio/messaging/inbound"
ENCRYPTION_KEY = "bench-encryption-key-0123456789abcdef0123456789abcdef"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789abcdef"
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
NUMBER = "+15017122661"
THREADS_PER_WORKER = 4  # numeraloop/server.py; the bare app is served through the same function


@dataclass
class Workload:
    requests: list[tuple[bytes, dict[str, str]]]


@dataclass
class RunResult:
    name: str
    sent: int
    seconds: float
    latencies: list[float]  # seconds, sorted
    errors: dict[str, int]
    error_sample: str
    client_cpu: float
    reconnects: int

    @property
    def rps(self) -> float:
        return self.sent / self.seconds if self.seconds else float("nan")

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000


# ---------------------------------------------------------------------------------------
# Arrange


def arrange(url: str) -> str:
    """A user whose workspace has the Twilio account (encrypted credentials) and NUMBER."""
    import dataclasses

    import psycopg
    from psycopg.rows import dict_row

    from numeraloop.config import Config
    from numeraloop.twilio import credentials
    from tests.support.database import create_user

    config = dataclasses.replace(Config.from_env(env={}), database_url=url, encryption_key=ENCRYPTION_KEY)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db:
        user = create_user(db, "bench")
        with db.transaction():
            db.execute("select set_config('role', 'service_role', true)")
            account = credentials.store(
                db,
                config,
                workspace_id=user.workspace_id,
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                api_key_sid=None,
                api_key_secret=None,
                twiml_app_sid=None,
                friendly_name="Bench",
                account_status="active",
                actor=None,
            )
        db.execute(
            "insert into public.phone_numbers (workspace_id, twilio_account_id, twilio_sid, e164) "
            "values (%s, %s, %s, %s)",
            (user.workspace_id, account["id"], "PN" + uuid.uuid4().hex, NUMBER),
        )
    return user.workspace_id


def build_workload(count: int, contacts: int, signed_url: str) -> Workload:
    """Every request signed exactly as Twilio signs it, with a distinct MessageSid."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    requests = []
    for i in range(count):
        sid = "SM" + uuid.uuid4().hex
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "NY",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": f"Hi, is order #{100000 + i} ready for pickup today?",
            "FromCountry": "US",
            "To": NUMBER,
            "MessagingServiceSid": "",
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"+1646{i % contacts:07d}",
            "ApiVersion": "2010-04-01",
        }
        body = urlencode(params).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(signed_url, params),
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        requests.append((body, headers))
    return Workload(requests)


# ---------------------------------------------------------------------------------------
# Load generator


def _client_process(port: int, requests, threads: int, barrier, results) -> None:
    """One load-generator process: `threads` keep-alive connections, each replaying its share."""
    slices = [requests[t::threads] for t in range(threads)]
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(threads)]
    for c in conns:
        c.connect()
    lat = [array.array("d") for _ in range(threads)]
    errors: dict[str, int] = {}
    sample = [""]
    reconnects = [0]
    lock = threading.Lock()

    def run(t: int) -> None:
        conn = conns[t]
        out = lat[t]
        for body, headers in slices[t]:
            for attempt in (0, 1):
                t0 = time.perf_counter()
                try:
                    conn.request("POST", PATH, body, headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (http.client.HTTPException, OSError) as exc:
                    # The server closed a kept-alive connection: reconnect and send again
                    # (a repeated MessageSid is a no-op for the service).
                    conn.close()
                    with lock:
                        reconnects[0] += 1
                    if attempt:
                        with lock:
                            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                out.append(time.perf_counter() - t0)
                if resp.status != 200 or b"<Response" not in data:
                    with lock:
                        errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                        sample[0] = sample[0] or data[:300].decode("utf-8", "replace")
                break

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    end = time.perf_counter()
    for c in conns:
        c.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    merged = array.array("d")
    for a in lat:
        merged.extend(a)
    results.put(
        {
            "start": start,
            "end": end,
            "latencies": merged.tobytes(),
            "errors": errors,
            "sample": sample[0],
            "cpu": usage.ru_utime + usage.ru_stime,
            "reconnects": reconnects[0],
        }
    )


def drive(name: str, port: int, requests, processes: int, threads: int) -> RunResult:
    """Send `requests` with processes x threads connections; timing starts when all are connected."""
    ctx = mp.get_context("fork")  # children inherit the pre-built requests; nothing is pickled
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_client_process, args=(port, requests[p::processes], threads, barrier, results), daemon=True)
        for p in range(processes)
    ]
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join(timeout=30)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    latencies = array.array("d")
    errors: dict[str, int] = {}
    for g in got:
        latencies.frombytes(g["latencies"])
        for k, v in g["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return RunResult(
        name=name,
        sent=len(requests),
        seconds=max(g["end"] for g in got) - min(g["start"] for g in got),
        latencies=sorted(latencies),
        errors=errors,
        error_sample=next((g["sample"] for g in got if g["sample"]), ""),
        client_cpu=sum(g["cpu"] for g in got),
        reconnects=sum(g["reconnects"] for g in got),
    )


# ---------------------------------------------------------------------------------------
# Run


def server_env(url: str, port: int, log_level: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "NUMERALOOP_ENV": "test",
            "DATABASE_URL": url,
            "NUMERALOOP_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "SUPABASE_JWT_SECRET": JWT_SECRET,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PORT": str(port),
            "LOG_LEVEL": log_level,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def measure(name, argv, env, port, log_path, warmup, timed, processes, threads) -> RunResult:
    with server_process(argv, env, port, log_path):
        if warmup:
            drive(name + " warm-up", port, warmup, processes, threads)
        return drive(name, port, timed, processes, threads)


def count_stored(url: str, workspace_id: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "select (select count(*) from public.messages where workspace_id = %(w)s and direction = 'inbound'),"
            "       (select count(*) from public.messages where workspace_id = %(w)s and direction = 'outbound'),"
            "       (select count(*) from public.contacts where workspace_id = %(w)s),"
            "       (select count(*) from public.conversations where workspace_id = %(w)s),"
            "       (select coalesce(sum(unread_count), 0) from public.conversations where workspace_id = %(w)s)",
            {"w": workspace_id},
        ).fetchone()
    return dict(zip(["inbound", "outbound", "contacts", "conversations", "unread"], row))


def report(runs: list[RunResult], args, wall_cores: int) -> None:
    print()
    print(f"machine: {wall_cores} cores ({os.uname().machine}), Python {sys.version.split()[0]}")
    print(
        f"servers: gunicorn gthread, {args.workers} workers x {THREADS_PER_WORKER} threads each "
        f"(numeraloop.server.serve), LOG_LEVEL={args.log_level}"
    )
    print(
        f"load: {args.processes} processes x {args.threads} keep-alive connections = "
        f"{args.processes * args.threads} in flight; {args.messages} timed requests per server, "
        f"{args.warmup} warm-up; senders over {args.contacts} contacts"
    )
    print()
    print(f"{'':<22}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}{'client CPU':>12}")
    for r in runs:
        share = r.client_cpu / (r.seconds * wall_cores) if r.seconds else float("nan")
        print(
            f"{r.name:<22}{r.rps:>9.0f}{r.ms(50):>9.2f}{r.ms(95):>9.2f}{r.ms(99):>9.2f}"
            f"{r.latencies[-1] * 1000 if r.latencies else float('nan'):>9.1f}{sum(r.errors.values()):>8}"
            f"{share:>11.0%}"
        )
    bare, real = runs
    print()
    print(
        f"ratio service/bare: req/s {real.rps / bare.rps:.3f}  (the service does {real.rps / bare.rps:.1%} "
        f"of the bare endpoint's throughput)"
    )
    print(
        f"ratio service/bare: p99 latency {real.ms(99) / bare.ms(99):.2f}x  "
        f"({real.ms(99):.2f} ms vs {bare.ms(99):.2f} ms)"
    )
    print("(client CPU: the load generator's CPU time as a share of all cores over the timed run)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inbound_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=None, help="timed requests per server (default 20000)")
    parser.add_argument("--quick", action="store_true", help="2,000 messages")
    parser.add_argument("--contacts", type=int, default=2000, help="distinct senders (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for both servers (default 2)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="connections per load-generator process (default 4)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed requests per server first (default 5%%)")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of both servers (default INFO, as deployed)")
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = 2000 if args.quick else 20000
    if args.warmup is None:
        args.warmup = max(100, args.messages // 20)

    with terminate_as_interrupt(), test_database() as url, tempfile.TemporaryDirectory(prefix="nl-bench-") as tmp:
        workspace_id = arrange(url)
        bare_port, real_port = free_port(), free_port()
        t0 = time.perf_counter()
        workload = build_workload(args.warmup + args.messages, args.contacts, f"http://127.0.0.1:{real_port}{PATH}")
        warm, timed = workload.requests[: args.warmup], workload.requests[args.warmup :]
        print(f"built and signed {len(workload.requests)} requests in {time.perf_counter() - t0:.1f} s", flush=True)

        runs = []
        print(f"bare Flask on :{bare_port} ...", flush=True)
        runs.append(
            measure(
                "bare Flask",
                [sys.executable, "-m", "bench.bare_app", "--port", str(bare_port), "--workers", str(args.workers)],
                server_env(url, bare_port, args.log_level),
                bare_port,
                Path(tmp, "bare.log"),
                warm,
                timed,
                args.processes,
                args.threads,
            )
        )
        print(f"numeraloop serve on :{real_port} ...", flush=True)
        numeraloop_cli = Path(sys.executable).with_name("numeraloop")
        runs.append(
            measure(
                "service (inbound)",
                [str(numeraloop_cli), "serve", "--port", str(real_port), "--workers", str(args.workers)],
                server_env(url, real_port, args.log_level),
                real_port,
                Path(tmp, "service.log"),
                warm,
                timed,
                args.processes,
                args.threads,
            )
        )
        report(runs, args, cores())

        failures = []
        for r in runs:
            if r.errors:
                failures.append(f"{r.name}: {r.errors} (first body: {r.error_sample!r})")
        stored = count_stored(url, workspace_id)
        expected = args.warmup + args.messages
        print(
            f"\nstored: {stored['inbound']} inbound messages (sent {expected} = {args.warmup} warm-up + "
            f"{args.messages} timed), {stored['contacts']} contacts, {stored['conversations']} conversations, "
            f"{stored['unread']} unread, {stored['outbound']} outbound replies"
        )
        if stored["inbound"] != expected:
            failures.append(f"stored {stored['inbound']} inbound messages, sent {expected}")
        if failures:
            log_tail = Path(tmp, "service.log").read_text(errors="replace").splitlines()[-20:]
            print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
            print("service log (last lines):\n  " + "\n  ".join(log_tail), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
