"""`numeraloop dev` run as a subprocess on free ports against the test database.

Every process a run starts is ended by the `dev_run` fixture's finalizer, whatever the test
did: the dev runner first (SIGTERM, then SIGKILL), then any child it names in its
"started <name> (pid N)" lines that is somehow still there (each child leads its own
process group, so its own workers go with it).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import TEST_ENCRYPTION_KEY
from tests.support.database import ROOT

STARTED = re.compile(r"^dev: started (\S+) \(pid (\d+)\)$")
# Settings a developer's shell may carry that would point the run somewhere else.
SCRUBBED = (
    "PUBLIC_BASE_URL",
    "TWILIO_API_BASE_URL",
    "STRIPE_API_BASE_URL",
    "NUMERALOOP_READY_DEPENDENCIES",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "NUMERALOOP_ENV",
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SMTP_URL",
    "NUMERALOOP_SESSION_SECRET",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class DevRun:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.lines: list[str] = []
        self.children: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.env["PORT"])

    def start(self, **overrides: str) -> DevRun:
        self.env.update(overrides)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "numeraloop.cli", "dev"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            started = STARTED.match(line)
            if started:
                self.children[started.group(1)] = int(started.group(2))

    def wait(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def wait_for_line(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, "numeraloop dev exited:\n" + self.output()
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + self.output()
            time.sleep(0.1)

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in self.children.values():
            if alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def dev_run(database_url):
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(
        {
            "NUMERALOOP_DOTENV": os.devnull,
            "DATABASE_URL": database_url,
            "PORT": str(free_port()),
            "NUMERALOOP_SANDBOX_PORT": str(free_port()),
            "NUMERALOOP_STRIPE_STANDIN_PORT": str(free_port()),
            "NUMERALOOP_WORKER_HEALTH_PORT": str(free_port()),
            "NUMERALOOP_AUTH_STANDIN_PORT": str(free_port()),
            "NUMERALOOP_SMTP_PORT": str(free_port()),
            "NUMERALOOP_MAIL_HTTP_PORT": str(free_port()),
            # The demo Twilio credentials it seeds stay in the test database: under the suite's key,
            # so later tests (key rotation re-encrypts every row) can still decrypt them.
            "NUMERALOOP_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
            # Two gunicorn workers and two stand-ins on a 2-core machine: keep the pool small.
            "NUMERALOOP_DB_POOL_MAX": "3",
        }
    )
    run = DevRun(env)
    yield run
    run.stop()
