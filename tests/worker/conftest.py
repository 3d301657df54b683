"""`numeraloop worker` as a process: started with `python -m numeraloop.cli worker` against the
test database, talking to the Twilio sandbox through a gate the test can close, so it can act
while the worker is known to be in the middle of a batch (its messages handed to "Twilio",
their outcome not yet recorded) without timing anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from werkzeug.wrappers import Request, Response

from tests.conftest import TEST_ENCRYPTION_KEY
from tests.support.database import ROOT
from tests.support.live_server import serve

# The worker's Twilio client gives up on a response after 15 s: the gate never holds that long.
HOLD_LIMIT_SECONDS = 10.0


class TwilioGate:
    """A pass-through to the sandbox; while held, message sends wait at the gate."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._waiting = 0
        self.sends = 0  # message sends that went through
        self.http = requests.Session()
        self.http.trust_env = False

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def __call__(self, environ, start_response):
        request = Request(environ)
        is_send = request.method == "POST" and request.path.endswith("/Messages.json")
        if is_send:
            with self._lock:
                self._waiting += 1
            try:
                self._open.wait(HOLD_LIMIT_SECONDS)
            finally:
                with self._lock:
                    self._waiting -= 1
        query = environ.get("QUERY_STRING")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        answer = self.http.request(
            request.method,
            self.upstream + request.path + (f"?{query}" if query else ""),
            headers=headers,
            data=request.get_data(),
            timeout=15,
        )
        if is_send and answer.ok:
            with self._lock:
                self.sends += 1
        return Response(answer.content, status=answer.status_code, content_type=answer.headers.get("Content-Type"))(
            environ, start_response
        )


@pytest.fixture
def gate(twilio_sandbox):
    g = TwilioGate(twilio_sandbox.url)
    with serve(g) as url:
        g.url = url
        yield g
        g.release()  # a test that failed while holding must not leave the worker stuck at the gate


class WorkerProcess:
    def __init__(self, env: dict[str, str], application_name: str):
        self.application_name = application_name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "numeraloop.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, f"the worker exited with {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} from the worker within {timeout} s:\n{self.output()}"
            time.sleep(0.05)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a process manager stops it; its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not exit within {timeout} s:\n{self.output()}")
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def start_worker(database_url, service, gate, nothing_else_due):
    """Starts `numeraloop worker` (configured as the service is: the test database, the sandbox
    through the gate, the suite's key, the service's URL for status callbacks); killed afterwards
    if a test left it running."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        name = f"numeraloop-worker-test-{uuid.uuid4().hex[:8]}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NUMERALOOP_", "TWILIO_", "STRIPE_", "SUPABASE_", "PG"))
            and k not in {"DATABASE_URL", "PUBLIC_BASE_URL"}
        }
        env.update(
            {
                "NUMERALOOP_DOTENV": os.devnull,
                "NUMERALOOP_ENV": "test",
                "DATABASE_URL": database_url,
                "TWILIO_API_BASE_URL": gate.url,
                "PUBLIC_BASE_URL": service.base_url,
                "NUMERALOOP_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
                "LOG_LEVEL": "INFO",
                # libpq reports it as application_name: how the test finds this process's connections.
                "PGAPPNAME": name,
            }
        )
        worker = WorkerProcess(env, name)
        started.append(worker)
        worker.wait_for_line("worker started")
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def nothing_else_due(db):
    """The worker claims across the whole database: campaigns and webhook deliveries other tests
    left due are moved out of its reach for this test, and put back afterwards."""
    far = "interval '1000 years'"
    campaigns = [
        r["id"]
        for r in db.execute(
            f"update public.campaigns set next_send_at = next_send_at + {far}, scheduled_at = scheduled_at + {far} "
            "where status in ('sending', 'scheduled') returning id"
        )
    ]
    deliveries = [
        r["id"]
        for r in db.execute(
            f"update public.webhook_deliveries set next_attempt_at = next_attempt_at + {far} "
            "where delivered_at is null and not dead returning id"
        )
    ]
    yield
    db.execute(
        f"update public.campaigns set next_send_at = next_send_at - {far}, scheduled_at = scheduled_at - {far} "
        "where id = any(%s)",
        (campaigns,),
    )
    db.execute(
        f"update public.webhook_deliveries set next_attempt_at = next_attempt_at - {far} where id = any(%s)",
        (deliveries,),
    )


@pytest.fixture
def inbox(inbox, db):
    """The connected workspace with its number (tests/conftest.py), its campaigns sending at any
    hour and at the pace each test sets (quiet hours and a number's own throughput have their own
    tests, with their own clock)."""
    db.execute("update public.phone_numbers set segments_per_second = 1000 where id = %s", (inbox.number["id"],))
    db.execute(
        "update public.workspaces set campaign_window_start = '00:00', campaign_window_end = '24:00' where id = %s",
        (inbox.workspace_id,),
    )
    return inbox
