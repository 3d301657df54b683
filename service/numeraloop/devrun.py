"""`numeraloop dev` (what `make dev` runs): migrate, seed, then run every local process.

Every process is a child of this one and is stopped with it (Ctrl-C or SIGTERM), so
`make dev` never leaves anything running behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from . import migrations
from .config import Config


def dev_processes(config: Config) -> list[tuple[str, list[str]]]:
    """The local product: (name, argv) of each long-running process."""
    exe = [sys.executable, "-m", "numeraloop.cli"]
    return [
        ("service", exe + ["serve", "--port", str(config.port)]),
        ("twilio-sandbox", exe + ["sandbox", "serve", "--port", "8010"]),
    ]


def run_dev(config: Config) -> int:
    applied = migrations.migrate(config.database_url, config.migrations_dir)
    print(f"dev: {len(applied)} migration(s) applied" if applied else "dev: database up to date", flush=True)

    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    env = dict(os.environ)
    try:
        for name, argv in dev_processes(config):
            # Own process group: the terminal's Ctrl-C reaches us, and we stop children in order.
            children.append((name, subprocess.Popen(argv, env=env, start_new_session=True)))
            print(f"dev: started {name} (pid {children[-1][1].pid})", flush=True)
        print(f"dev: NumeraLoop is up at http://127.0.0.1:{config.port} (Ctrl-C stops everything)", flush=True)
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    print(f"dev: {name} exited with {proc.returncode}; stopping the rest", flush=True)
                    stopping = True
            time.sleep(0.3)
    finally:
        for name, proc in children:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            print(f"dev: stopped {name}", flush=True)
    return 0
