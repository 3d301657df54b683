"""`numeraloop dev` (what `make dev` runs): migrate, seed, then run every local process.

Every process is a child of this one and is stopped with it (Ctrl-C or SIGTERM), so
`make dev` never leaves anything running behind. Locally the service talks to the Twilio
sandbox, and development-only keys fill in for anything not configured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from numeraloop import migrations
from numeraloop.config import Config

from . import demo_seed

SANDBOX_PORT = 8010
STRIPE_STANDIN_PORT = 8020
DEV_DEFAULTS = {
    "NUMERALOOP_ENV": "development",
    # Clearly not secret: only ever used when the developer configured nothing.
    "NUMERALOOP_ENCRYPTION_KEY": "numeraloop-local-development-key-not-a-secret",
    "SUPABASE_JWT_SECRET": "numeraloop-local-development-jwt-secret-not-a-secret",
    "TWILIO_API_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
    "STRIPE_API_BASE_URL": f"http://127.0.0.1:{STRIPE_STANDIN_PORT}",
    "STRIPE_SECRET_KEY": "sk_test_numeraloop_local_not_a_secret",
    "STRIPE_WEBHOOK_SECRET": "whsec_numeraloop_local_not_a_secret",
    # Local webhook receivers live on 127.0.0.1.
    "NUMERALOOP_WEBHOOKS_ALLOW_PRIVATE": "1",
}


def dev_environment() -> dict[str, str]:
    env = dict(os.environ)
    for name, value in DEV_DEFAULTS.items():
        if not env.get(name):
            env[name] = value
    return env


def dev_processes(config: Config) -> list[tuple[str, list[str]]]:
    """The local product: (name, argv) of each long-running process."""
    exe = [sys.executable, "-m", "numeraloop.cli"]
    return [
        ("twilio-sandbox", exe + ["sandbox", "serve", "--port", str(SANDBOX_PORT),
                                  "--seed-account", f"{demo_seed.DEMO_ACCOUNT_SID}:{demo_seed.DEMO_AUTH_TOKEN}"]),
        ("stripe-standin", exe + ["stripe-standin", "serve", "--port", str(STRIPE_STANDIN_PORT)]),
        ("service", exe + ["serve", "--port", str(config.port)]),
        ("worker", exe + ["worker"]),
    ]


def _wait_for(url: str, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up at {url}")


def run_dev(config: Config) -> int:
    env = dev_environment()
    config = Config.from_env(env=env)
    applied = migrations.migrate(config.database_url, config.migrations_dir)
    print(f"dev: {len(applied)} migration(s) applied" if applied else "dev: database up to date", flush=True)
    demo_seed.apply_seed_sql(config.database_url)

    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name, argv in dev_processes(config):
            # Own process group: the terminal's Ctrl-C reaches us, and we stop children in order.
            children.append((name, subprocess.Popen(argv, env=env, start_new_session=True)))
            print(f"dev: started {name} (pid {children[-1][1].pid})", flush=True)
        sandbox_url = f"http://127.0.0.1:{SANDBOX_PORT}"
        _wait_for(f"{sandbox_url}/_sandbox/health", "the Twilio sandbox")
        seeded = demo_seed.seed_twilio(config, sandbox_url)
        _wait_for(f"http://127.0.0.1:{config.port}/readyz", "the service")
        _print_welcome(config, seeded)
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


def _print_welcome(config: Config, seeded: dict) -> None:
    token = demo_seed.demo_access_token(config)
    lines = [
        "",
        f"NumeraLoop is up: http://127.0.0.1:{config.port}  (Twilio sandbox: http://127.0.0.1:{SANDBOX_PORT})",
        f"Demo workspace {seeded['workspace_id']} owns {seeded['number']}.",
        "Text it from another terminal:",
        f"  .venv/bin/numeraloop sandbox sms --from {demo_seed.DEMO_CONTACT} --to {seeded['number']} --body 'Hi there'",
    ]
    if token:
        lines += ["Call the API as the demo owner:",
                  f"  curl -H 'Authorization: Bearer {token}' http://127.0.0.1:{config.port}/api/v1/me"]
    lines += ["Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)
