"""`numeraloop dev` (what `make dev` runs): migrate, seed, then run every local process.

Every process is a child of this one and is stopped with it (Ctrl-C or SIGTERM), so
`make dev` never leaves anything running behind. A child that exits, at start-up or
later, stops the whole run at once, and its own last lines are printed last, where they
are seen. The service is told which local processes must answer before its /readyz says
ready (NUMERALOOP_READY_DEPENDENCIES), so a 200 there means the whole product is up.
Locally the service talks to the Twilio sandbox and the Stripe stand-in, and
development-only keys fill in for anything not configured.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psycopg
import requests

from numeraloop import migrations
from numeraloop.config import Config, ConfigError
from numeraloop.health import READY_DEPENDENCIES_ENV

from . import demo_seed
from .supabase_auth.settings import DEFAULT_ANON_KEY

SANDBOX_PORT = 8010
STRIPE_STANDIN_PORT = 8020
WORKER_HEALTH_PORT = 8030
AUTH_STANDIN_PORT = 8040
SMTP_PORT = 8025
MAIL_HTTP_PORT = 8026
DEV_DEFAULTS = {
    "NUMERALOOP_ENV": "development",
    # Clearly not secret: only ever used when the developer configured nothing.
    "NUMERALOOP_ENCRYPTION_KEY": "numeraloop-local-development-key-not-a-secret",
    "SUPABASE_JWT_SECRET": "numeraloop-local-development-jwt-secret-not-a-secret",
    "STRIPE_SECRET_KEY": "sk_test_numeraloop_local_not_a_secret",
    "STRIPE_WEBHOOK_SECRET": "whsec_numeraloop_local_not_a_secret",
    "NUMERALOOP_SESSION_SECRET": "numeraloop-local-development-session-secret-not-a-secret",
    "SUPABASE_ANON_KEY": DEFAULT_ANON_KEY,
    # Local webhook receivers live on 127.0.0.1.
    "NUMERALOOP_WEBHOOKS_ALLOW_PRIVATE": "1",
}
STARTUP_TIMEOUT = 60.0  # seconds for the whole product to answer; a child that dies ends the wait at once
TAIL_LINES = 40  # of a child's output, re-printed when it dies


class DevError(RuntimeError):
    """The run cannot start or go on; the message says why."""


class ChildExited(DevError):
    def __init__(self, child: Child):
        super().__init__(f"{child.name} exited with {child.proc.returncode}")
        self.child = child


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while starting."""


@dataclass(frozen=True)
class DevPorts:
    service: int = 8000
    sandbox: int = SANDBOX_PORT
    stripe_standin: int = STRIPE_STANDIN_PORT
    worker_health: int = WORKER_HEALTH_PORT
    auth: int = AUTH_STANDIN_PORT
    smtp: int = SMTP_PORT
    mail_http: int = MAIL_HTTP_PORT

    @classmethod
    def from_env(cls, env: dict[str, str]) -> DevPorts:
        def port(name: str, default: int) -> int:
            raw = env.get(name) or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise DevError(f"{name} is not a port number: {raw!r}")
            return int(raw)

        return cls(
            port("PORT", 8000),
            port("NUMERALOOP_SANDBOX_PORT", SANDBOX_PORT),
            port("NUMERALOOP_STRIPE_STANDIN_PORT", STRIPE_STANDIN_PORT),
            port("NUMERALOOP_WORKER_HEALTH_PORT", WORKER_HEALTH_PORT),
            port("NUMERALOOP_AUTH_STANDIN_PORT", AUTH_STANDIN_PORT),
            port("NUMERALOOP_SMTP_PORT", SMTP_PORT),
            port("NUMERALOOP_MAIL_HTTP_PORT", MAIL_HTTP_PORT),
        )

    def health_urls(self) -> dict[str, str]:
        """What must answer before the service is ready, besides its database."""
        return {
            "twilio-sandbox": f"http://127.0.0.1:{self.sandbox}/_sandbox/health",
            "stripe-standin": f"http://127.0.0.1:{self.stripe_standin}/_standin/health",
            "worker": f"http://127.0.0.1:{self.worker_health}/healthz",
            "supabase-auth": f"http://127.0.0.1:{self.auth}/_standin/health",
            "smtp-catcher": f"http://127.0.0.1:{self.mail_http}/api/health",
        }


def dev_environment(base: dict[str, str] | None = None) -> tuple[dict[str, str], DevPorts]:
    """The environment every child gets: the developer's, with local defaults for what it leaves unset."""
    env = dict(os.environ if base is None else base)
    ports = DevPorts.from_env(env)
    defaults = {
        **DEV_DEFAULTS,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.service}",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{ports.sandbox}",
        "STRIPE_API_BASE_URL": f"http://127.0.0.1:{ports.stripe_standin}",
        "SUPABASE_URL": f"http://127.0.0.1:{ports.auth}",
        "SMTP_URL": f"smtp://127.0.0.1:{ports.smtp}",
        READY_DEPENDENCIES_ENV: ",".join(f"{name}={url}" for name, url in ports.health_urls().items()),
    }
    for name, value in defaults.items():
        if not env.get(name):
            env[name] = value
    env["PYTHONUNBUFFERED"] = "1"  # children's output arrives line by line, in order
    return env, ports


def dev_processes(config: Config, ports: DevPorts) -> list[tuple[str, list[str]]]:
    """The local product: (name, argv) of each long-running process."""
    exe = [sys.executable, "-m", "numeraloop.cli"]
    return [
        (
            "twilio-sandbox",
            exe
            + [
                "sandbox",
                "serve",
                "--port",
                str(ports.sandbox),
                "--seed-account",
                f"{demo_seed.DEMO_ACCOUNT_SID}:{demo_seed.DEMO_AUTH_TOKEN}",
            ],
        ),
        ("stripe-standin", exe + ["stripe-standin", "serve", "--port", str(ports.stripe_standin)]),
        (
            "smtp-catcher",
            exe + ["smtp-catcher", "serve", "--smtp-port", str(ports.smtp), "--http-port", str(ports.mail_http)],
        ),
        ("supabase-auth", exe + ["auth-standin", "serve", "--port", str(ports.auth)]),
        ("service", exe + ["serve", "--port", str(config.port)]),
        ("worker", exe + ["worker", "--health-port", str(ports.worker_health)]),
    ]


class Child:
    """One local process: its output passed through, its last lines kept for when it dies."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name = name
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        # Own process group: the terminal's Ctrl-C reaches us, and we stop children ourselves.
        self.proc = subprocess.Popen(
            argv,
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._pass_through, name=f"dev-{name}", daemon=True)
        self._reader.start()

    def _pass_through(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.tail.append(line)
            print(f"{self.name} | {line}", flush=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        if self.running():
            os.killpg(self.proc.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def last_lines(self) -> list[str]:
        self._reader.join(timeout=5)  # the pipe closes when the process is gone
        return list(self.tail)


class Supervisor:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: list[Child] = []
        self.stopping = False

    def start(self, name: str, argv: list[str]) -> None:
        self.children.append(Child(name, argv, self.env))
        print(f"dev: started {name} (pid {self.children[-1].proc.pid})", flush=True)

    def check(self) -> None:
        """ChildExited for the first child that is gone, Interrupted on Ctrl-C/SIGTERM."""
        for child in self.children:
            if not child.running():
                raise ChildExited(child)
        if self.stopping:
            raise Interrupted()

    def wait_for(self, url: str, what: str, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            self.check()
            try:
                response = requests.get(url, timeout=2)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code} {response.text.strip()[:300]}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            if time.monotonic() > deadline:
                raise DevError(f"{what} did not come up at {url} within {timeout:.0f} s (last: {last})")
            time.sleep(0.2)

    def watch(self) -> None:
        while True:
            self.check()
            time.sleep(0.3)

    def stop_all(self) -> None:
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + 15
        for child in self.children:
            child.wait(max(0.1, deadline - time.monotonic()))
            print(f"dev: stopped {child.name}", flush=True)


def run_dev(config: Config) -> int:
    try:
        env, ports = dev_environment()
        config = Config.from_env(env=env)
    except (DevError, ConfigError) as exc:
        print(f"dev: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        applied = migrations.migrate(config.database_url, config.migrations_dir)
        demo_seed.apply_seed_sql(config.database_url)
    except (psycopg.OperationalError, migrations.MigrationError) as exc:
        print(f"dev: the database at DATABASE_URL is not usable: {exc}", file=sys.stderr, flush=True)
        return 1
    except migrations.MigrationDrift as exc:
        print(
            f"dev: {exc}; `numeraloop db reset` rebuilds a development database from the files (every row is lost)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    print(f"dev: {len(applied)} migration(s) applied" if applied else "dev: database up to date", flush=True)

    supervisor = Supervisor(env)

    def stop(*_):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    failed: ChildExited | DevError | None = None
    phase = "while starting"
    try:
        for name, argv in dev_processes(config, ports):
            supervisor.start(name, argv)
        sandbox_url = f"http://127.0.0.1:{ports.sandbox}"
        supervisor.wait_for(ports.health_urls()["twilio-sandbox"], "the Twilio sandbox")
        try:
            seeded = demo_seed.seed_twilio(config, sandbox_url)
        except Exception:
            supervisor.check()  # the sandbox went away: that, not the seeding, is the news
            raise
        supervisor.wait_for(f"http://127.0.0.1:{config.port}/readyz", "the service")
        _print_welcome(config, ports, seeded)
        phase = "while running"
        supervisor.watch()
    except Interrupted:
        pass
    except DevError as exc:
        failed = exc
        print(f"dev: {exc} {phase}; stopping the rest", flush=True)
    finally:
        supervisor.stop_all()
    if isinstance(failed, ChildExited):
        lines = failed.child.last_lines()
        print(
            f"dev: {failed.child.name} exited with {failed.child.proc.returncode} {phase}; its last output:",
            file=sys.stderr,
        )
        print("\n".join(f"    {line}" for line in lines) or "    (nothing)", file=sys.stderr, flush=True)
    elif failed is not None:
        print(f"dev: {failed}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def _print_welcome(config: Config, ports: DevPorts, seeded: dict) -> None:
    token = demo_seed.demo_access_token(config)
    lines = [
        "",
        f"NumeraLoop is up: open http://127.0.0.1:{config.port}",
        f"Sign in as the demo owner: {demo_seed.DEMO_EMAIL} / {demo_seed.DEMO_PASSWORD}",
        f"(Twilio sandbox: http://127.0.0.1:{ports.sandbox}, Stripe stand-in: http://127.0.0.1:{ports.stripe_standin}, "
        f"e-mails sent: http://127.0.0.1:{ports.mail_http})",
        f"Demo workspace {seeded['workspace_id']} owns {seeded['number']}.",
        "Text it from another terminal:",
        f"  .venv/bin/numeraloop sandbox sms --from {demo_seed.DEMO_CONTACT} --to {seeded['number']} --body 'Hi there'"
        + ("" if ports.sandbox == SANDBOX_PORT else f" --sandbox-url http://127.0.0.1:{ports.sandbox}"),
    ]
    if token:
        lines += [
            "Call the API as the demo owner:",
            f"  curl -H 'Authorization: Bearer {token}' http://127.0.0.1:{config.port}/api/v1/me",
        ]
    lines += ["Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)
