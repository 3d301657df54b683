"""Small pieces the benchmarks share: percentiles, free ports, subprocess lifetimes, the
test database lock."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def stop_process_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the group the server leads (gunicorn master and its workers), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


@contextmanager
def server_process(argv: list[str], env: dict[str, str], port: int, log_path: Path):
    """A server in its own process group, logging to `log_path`, stopped on exit (also on errors)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(port, proc)
            yield proc
        finally:
            stop_process_group(proc)


@contextmanager
def terminate_as_interrupt():
    """SIGTERM ends the benchmark like Ctrl-C, so every `finally` (servers, DB lock) runs."""

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def test_database():
    """The migrated test database (tests.support.database), holding its cross-process lock."""
    sys.path.insert(0, str(ROOT))
    from tests.support import database

    if "lock" not in database._session:
        # Another benchmark in this process may have used (and released) it: migrate afresh.
        database._session.pop("url", None)
    print("waiting for the test database lock and migrating it ...", flush=True)
    try:
        url = database.session_database()
        yield url
    finally:
        database.release_session_database()
        # The next benchmark in this process starts from a freshly migrated database again.
        database._session.pop("url", None)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
