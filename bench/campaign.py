"""Campaigns at carrier speed: throughput against a bare twilio-python loop, pacing counted in
segments at the sandbox, and SIGKILLed workers that neither double-text nor forget anyone.

    .venv/bin/python -m bench.campaign            # 100,000 recipients x 1, 2, 4 workers; 20 crash runs
    .venv/bin/python -m bench.campaign --quick    # 3,000 recipients; 3 crash runs

Everything runs against one Twilio sandbox (its own process, status callbacks off for both
sides: scenario "none", so neither pays for delivering them) and the migrated test database:

* throughput: for 1, 2 and 4 workers, `numeraloop worker`'s campaign sender (one process per
  worker, CampaignSender as the worker runs it: claims, leases, slots, message rows, recording)
  sends a campaign to N recipients, and a bare twilio-python loop (the same number of processes,
  each with the sender's number of threads) sends N messages to the same sandbox. Both are
  timed from the first message to the last; the ratio is campaign / bare.
* pacing: a campaign at a configured rate (segments per second, 2-segment messages, 2 workers);
  the sandbox counts the segments it received in each second of arrival: none may exceed the rate.
* crash: a campaign sent by 2 workers, one SIGKILLed at a random moment and started again (as a
  supervisor would); the sandbox's own count must show 0 recipients texted twice and 0 never
  texted, the report's "sent" must equal the sandbox's count, and the wall time must stay within
  10 s of an unbroken run of the same size.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

from ._support import ROOT, cores, free_port, stop_process_group, terminate_as_interrupt, test_database, wait_for_port

sys.path.insert(0, str(ROOT / "service"))

KEY = "bench-encryption-key-0123456789abcdef0123456789abcdef"
CONCURRENCY = 8  # CampaignSender's threads per worker process, and the bare loop's per process
BODY = "Hi {{first_name|there}}, our spring sale starts today: 20% off everything in store and online."
LONG_BODY = BODY + " Reply STOP to opt out. " + "See you soon at the shop on Main Street, open 9 to 6 every day."


def config(database_url: str, sandbox_url: str):
    from numeraloop.config import Config

    return dataclasses.replace(
        Config.from_env(env={"NUMERALOOP_ENV": "test"}),
        database_url=database_url,
        encryption_key=KEY,
        twilio_api_base_url=sandbox_url,
        public_base_url="http://127.0.0.1:9",
        db_pool_max=CONCURRENCY + 4,
    )


# -- child processes ------------------------------------------------------------------------------
def worker_main(database_url: str, sandbox_url: str) -> int:
    """One campaign worker, as `numeraloop worker` runs its campaign loop, until SIGTERM."""
    import logging

    from numeraloop.campaigns.sender import CampaignSender
    from numeraloop.db import make_pool

    logging.basicConfig(level=logging.WARNING)
    cfg = config(database_url, sandbox_url)
    pool = make_pool(database_url, 2, CONCURRENCY + 4)
    pool.open(wait=True, timeout=30)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sender = CampaignSender(pool, cfg, batch=100, concurrency=CONCURRENCY)
    print("ready", flush=True)
    try:
        sender.run_forever(stop, idle_seconds=0.05)
    finally:
        sender.close()
        pool.close()
    return 0


def bare_main(sandbox_url: str, account_sid: str, token: str, sender: str, start: int, count: int) -> int:
    """`count` messages through twilio-python on CONCURRENCY threads; prints first and last times."""
    from numeraloop.twilio.client import make_twilio_client

    lock, next_i, times = threading.Lock(), [start], []

    def loop():
        messages = (
            make_twilio_client(account_sid, account_sid, token, sandbox_url).api.v2010.accounts(account_sid).messages
        )
        while True:
            with lock:
                i = next_i[0]
                if i >= start + count:
                    return
                next_i[0] += 1
            messages.create(
                to=f"+1628{i:07d}",
                from_=sender,
                body=BODY.replace("{{first_name|there}}", "Ann"),
                status_callback="http://127.0.0.1:9/twilio/messaging/status",
            )
            with lock:
                times.append(time.time())

    print("ready", flush=True)
    sys.stdin.readline()  # go
    began = time.time()
    threads = [threading.Thread(target=loop) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"began": began, "ended": max(times), "sent": len(times)}), flush=True)
    return 0


def spawn(args: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.campaign", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"child {args[0]} did not start: {line!r}")
    return proc


# -- the run --------------------------------------------------------------------------------------
class Bench:
    def __init__(self, database_url: str, sandbox_url: str):
        import psycopg
        from psycopg.rows import dict_row

        from numeraloop_local.twilio_sandbox.client import SandboxControl

        self.url, self.sandbox_url = database_url, sandbox_url
        self.control = SandboxControl(sandbox_url, timeout=120)
        self.db = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)
        self.cfg = config(database_url, sandbox_url)
        # The plan is not what is measured: room for every run's messages and numbers.
        self.db.execute(
            'update public.plans set limits = \'{"phone_numbers": 1000, "monthly_messages": '
            "100000000, \"seats\": 25}' where id = 'pro'"
        )
        self.control.settings(default_scenario="none")
        self.account = self.control.create_account(friendly_name="Bench")
        self._numbers = iter(range(1000, 9999))

    def sender_number(self) -> str:
        number = f"+1415555{next(self._numbers):04d}"
        self.control.add_number(self.account["sid"], number)
        return number

    def workspace(
        self, recipients: int, body: str, sender: str, rate: float = 10000, segments_per_second: float = 100000
    ) -> str:
        """A Pro workspace with the account connected, `sender` as its number and a draft to `recipients`."""
        from numeraloop.twilio import credentials
        from tests.billing.events import give_workspace_billing
        from tests.support import database as dbsupport

        user = dbsupport.create_user(self.db, "bench")
        ws = user.workspace_id
        give_workspace_billing(self.db, ws, price="price_numeraloop_pro_monthly")
        with self.db.transaction():
            self.db.execute("select set_config('role', 'service_role', true)")
            stored = credentials.store(
                self.db,
                self.cfg,
                workspace_id=ws,
                account_sid=self.account["sid"],
                auth_token=self.account["auth_token"],
                api_key_sid=None,
                api_key_secret=None,
                twiml_app_sid=None,
                friendly_name="Bench",
                account_status="active",
                actor=user.id,
            )
        self.db.execute(
            "update public.workspaces set campaign_window_start = '00:00', campaign_window_end = '24:00' where id = %s",
            (ws,),
        )
        number = self.db.execute(
            "insert into public.phone_numbers (workspace_id, twilio_account_id, twilio_sid, e164, segments_per_second) "
            "values (%s, %s, %s, %s, %s) returning id",
            (ws, stored["id"], "PN" + uuid.uuid4().hex, sender, segments_per_second),
        ).fetchone()["id"]
        tag = "bench"
        self.db.execute(
            "insert into public.contacts (workspace_id, phone_e164, first_name, tags) "
            "select %s, '+1628' || lpad(i::text, 7, '0'), case when i %% 2 = 0 then 'Ann' end, "
            "array[%s] from generate_series(1, %s) i",
            (ws, tag, recipients),
        )
        self.db.execute("analyze public.contacts")
        with self.db.transaction():
            self.db.execute(
                "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                (json.dumps(user.claims),),
            )
            campaign = self.db.execute(
                "insert into public.campaigns (workspace_id, name, phone_number_id, body, include_tags, send_rate) "
                "values (%s, 'Bench', %s, %s, %s, %s) returning id",
                (ws, number, body, [tag], rate),
            ).fetchone()["id"]
        self._user = user
        return str(campaign)

    def launch(self, campaign: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                (json.dumps(self._user.claims),),
            )
            self.db.execute("select public.launch_campaign(%s)", (campaign,))

    def state(self, campaign: str) -> dict:
        return self.db.execute(
            "select k.status, count(*) filter (where r.status = 'sent') as sent, "
            "count(*) filter (where r.status in ('pending', 'claimed', 'uncertain')) as open, "
            "count(*) filter (where r.status = 'failed') as failed, "
            "count(*) filter (where r.reconcile or r.attempts > 1) as retried "
            "from public.campaigns k join public.campaign_recipients r on r.campaign_id = k.id where k.id = %s "
            "group by k.status",
            (campaign,),
        ).fetchone()

    def wait_done(self, campaign: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(campaign)
            if state["status"] != "sending":
                return state
            time.sleep(0.05)
        raise RuntimeError(f"campaign {campaign} not done after {timeout:.0f} s: {self.state(campaign)}")

    def reset_sandbox(self) -> None:
        """Forget the messages (memory); a new account (one Twilio account connects to one workspace)."""
        self.control.reset()
        self.control.settings(default_scenario="none")
        self.account = self.control.create_account(friendly_name="Bench")

    # -- the three measurements ---------------------------------------------------------------
    def campaign_run(
        self, workers: int, recipients: int, body: str = BODY, rate: float = 10000, kill: bool = False
    ) -> dict:
        self.reset_sandbox()
        sender = self.sender_number()
        campaign = self.workspace(recipients, body, sender, rate=rate)
        procs = [spawn(["--worker", self.url, self.sandbox_url]) for _ in range(workers)]
        killed_at = None
        try:
            began = time.time()
            self.launch(campaign)
            if kill:
                expected = recipients / max(1.0, getattr(self, "rate_seen", 200.0))
                time.sleep(random.uniform(0.1, 0.9) * expected)
                victim = random.randrange(workers)
                os.killpg(procs[victim].pid, signal.SIGKILL)
                procs[victim].wait()
                killed_at = time.time() - began
                procs[victim] = spawn(["--worker", self.url, self.sandbox_url])
            state = self.wait_done(campaign, timeout=max(120.0, recipients / 20))
            ended = time.time()
        finally:
            for p in procs:
                stop_process_group(p)
        at_sandbox = self.control.sent(self.account["sid"], sender)
        return {
            "campaign": campaign,
            "seconds": ended - began,
            "state": state,
            "sandbox": at_sandbox,
            "killed_at": killed_at,
            "rate": recipients / (ended - began),
        }

    def bare_run(self, workers: int, messages: int) -> dict:
        self.reset_sandbox()
        sender = self.sender_number()
        share = messages // workers
        procs = [
            spawn(
                [
                    "--bare",
                    self.sandbox_url,
                    self.account["sid"],
                    self.account["auth_token"],
                    sender,
                    str(i * share),
                    str(share if i < workers - 1 else messages - i * share),
                ]
            )
            for i in range(workers)
        ]
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs]
        for p in procs:
            p.wait(timeout=30)
        began, ended = min(r["began"] for r in results), max(r["ended"] for r in results)
        return {
            "seconds": ended - began,
            "rate": sum(r["sent"] for r in results) / (ended - began),
            "sandbox": self.control.sent(self.account["sid"], sender),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.campaign", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3,000 recipients and 3 crash runs")
    parser.add_argument("--recipients", type=int, help="throughput runs' size (default 100,000; quick 3,000)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts of the throughput runs")
    parser.add_argument("--crash-runs", type=int, help="default 20; quick 3")
    parser.add_argument("--crash-recipients", type=int, help="default 3,000; quick 1,000")
    parser.add_argument("--pacing-rate", type=float, default=40.0, help="segments per second of the pacing run")
    parser.add_argument("--worker", nargs=2, metavar=("DATABASE_URL", "SANDBOX_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--bare", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(*args.worker)
    if args.bare:
        url, sid, token, sender, start, count = args.bare
        return bare_main(url, sid, token, sender, int(start), int(count))

    n = args.recipients or (3000 if args.quick else 100_000)
    crash_runs = args.crash_runs if args.crash_runs is not None else (3 if args.quick else 20)
    crash_n = args.crash_recipients or (1000 if args.quick else 3000)
    counts = [int(w) for w in args.workers.split(",")]
    failures = []
    port = free_port()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    log = open(ROOT / "bench" / "results" / "campaign-sandbox.log", "ab")
    sandbox = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "numeraloop"), "sandbox", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )  # no log line per request
    print(f"{cores()} cores; sandbox on :{port} (its own process); {n:,} recipients per throughput run", flush=True)
    with terminate_as_interrupt():
        try:
            wait_for_port(port, sandbox)
            with test_database() as url:
                bench = Bench(url, f"http://127.0.0.1:{port}")
                print("\nthroughput (messages/s, first to last; status callbacks off for both)")
                print(f"{'workers':>7} {'campaign':>9} {'bare loop':>10} {'ratio':>6}  checks")
                for w in counts:
                    bare = bench.bare_run(w, n)
                    ours = bench.campaign_run(w, n)
                    bench.rate_seen = ours["rate"]
                    ok = ours["sandbox"]["messages"] == ours["sandbox"]["recipients"] == n == ours["state"]["sent"]
                    if not ok:
                        failures.append(f"throughput {w}: {ours['state']} / sandbox {ours['sandbox']}")
                    print(
                        f"{w:>7} {ours['rate']:>9.0f} {bare['rate']:>10.0f} {ours['rate'] / bare['rate']:>6.2f}  "
                        f"{'each texted once' if ok else 'MISMATCH'}",
                        flush=True,
                    )

                rate = args.pacing_rate
                paced = bench.campaign_run(2, int(rate * 6 / 2), body=LONG_BODY, rate=rate)
                seconds = paced["sandbox"]["segments_per_second"][1:-1]  # whole seconds only
                worst = max((s for _, s in seconds), default=0)
                print(
                    f"\npacing: {rate:.0f} segments/s, 2-segment messages, 2 workers: busiest second at the "
                    f"sandbox {worst} segments over {len(seconds)} whole seconds "
                    f"({'within' if worst <= rate else 'OVER'} budget)",
                    flush=True,
                )
                if worst > rate:
                    failures.append(f"pacing: {worst} segments in one second at {rate}/s")

                unbroken = bench.campaign_run(2, crash_n)
                bench.rate_seen = unbroken["rate"]
                print(
                    f"\ncrash: {crash_n:,} recipients, 2 workers, one SIGKILLed at random and restarted; "
                    f"unbroken run {unbroken['seconds']:.1f} s"
                )
                print(
                    f"{'run':>4} {'killed at':>9} {'wall s':>7} {'+s':>6} {'twice':>6} {'never':>6} "
                    f"{'report=sandbox':>15} {'reconciled':>10}"
                )
                for i in range(crash_runs):
                    run = bench.campaign_run(2, crash_n, kill=True)
                    box, state = run["sandbox"], run["state"]
                    twice, never = box["messages"] - box["recipients"], crash_n - box["recipients"]
                    same = state["sent"] == box["messages"]
                    extra = run["seconds"] - unbroken["seconds"]
                    print(
                        f"{i + 1:>4} {run['killed_at']:>8.1f}s {run['seconds']:>7.1f} {extra:>+6.1f} {twice:>6} "
                        f"{never:>6} {str(same):>15} {state['retried']:>10}",
                        flush=True,
                    )
                    if twice or never or not same or state["open"] or extra > 10:
                        failures.append(f"crash run {i + 1}: {run}")
        finally:
            stop_process_group(sandbox)
            log.close()
    if failures:
        print("\nFAILED:\n" + "\n".join(failures))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
