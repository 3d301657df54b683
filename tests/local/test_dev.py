"""`numeraloop dev`: the whole local product comes up and /readyz says so only then; a child
that dies stops the run at once, with that child's own last words printed last."""

from __future__ import annotations

import os
import signal
import socket

import pytest
import requests

from numeraloop_local import demo_seed
from numeraloop_local.dev import DevError, DevPorts, dev_environment

from .conftest import alive

CHILDREN = ("twilio-sandbox", "stripe-standin", "smtp-catcher", "supabase-auth", "service", "worker")


def test_the_dev_environment_points_everything_at_the_configured_local_ports():
    env, ports = dev_environment(
        {
            "PORT": "9000",
            "NUMERALOOP_SANDBOX_PORT": "9010",
            "NUMERALOOP_STRIPE_STANDIN_PORT": "9020",
            "NUMERALOOP_WORKER_HEALTH_PORT": "9030",
            "NUMERALOOP_AUTH_STANDIN_PORT": "9040",
            "NUMERALOOP_SMTP_PORT": "9025",
            "NUMERALOOP_MAIL_HTTP_PORT": "9026",
            "STRIPE_SECRET_KEY": "sk_test_mine",
        }
    )
    assert ports == DevPorts(9000, 9010, 9020, 9030, 9040, 9025, 9026)
    assert (
        env["PUBLIC_BASE_URL"],
        env["TWILIO_API_BASE_URL"],
        env["STRIPE_API_BASE_URL"],
        env["SUPABASE_URL"],
        env["SMTP_URL"],
    ) == (
        "http://127.0.0.1:9000",
        "http://127.0.0.1:9010",
        "http://127.0.0.1:9020",
        "http://127.0.0.1:9040",
        "smtp://127.0.0.1:9025",
    )
    assert env["NUMERALOOP_READY_DEPENDENCIES"] == (
        "twilio-sandbox=http://127.0.0.1:9010/_sandbox/health,stripe-standin=http://127.0.0.1:9020/_standin/health,"
        "worker=http://127.0.0.1:9030/healthz,supabase-auth=http://127.0.0.1:9040/_standin/health,"
        "smtp-catcher=http://127.0.0.1:9026/api/health"
    )
    assert env["NUMERALOOP_SESSION_SECRET"] and env["SUPABASE_ANON_KEY"]
    assert env["STRIPE_SECRET_KEY"] == "sk_test_mine", "what the developer set wins"
    assert dev_environment({})[1] == DevPorts(8000, 8010, 8020, 8030, 8040, 8025, 8026)
    with pytest.raises(DevError, match="NUMERALOOP_SANDBOX_PORT"):
        dev_environment({"NUMERALOOP_SANDBOX_PORT": "eighty"})


def assert_stopped_with_last_words(run, name: str, last_words: str, phase: str = "while starting") -> None:
    out = run.output()
    lines = out.splitlines()
    # It stopped because the child died, not because something gave up waiting.
    assert "did not come up" not in out, out
    stopping = lines.index(next(line for line in lines if line.startswith(f"dev: {name} exited with")))
    assert lines[stopping].endswith(f"{phase}; stopping the rest"), out
    header = max(
        i
        for i, line in enumerate(lines)
        if line.startswith(f"dev: {name} exited with") and line.endswith("its last output:")
    )
    assert all(f"dev: stopped {child}" in lines[stopping:header] for child in run.children), out
    assert last_words in lines[-1], out
    assert all(line.startswith("    ") for line in lines[header + 1 :]), "only the child's own lines come last"
    assert sorted(run.children) == sorted(CHILDREN)
    assert not [child for child, pid in run.children.items() if alive(pid)], "every child is gone"


def test_a_child_that_cannot_bind_its_port_stops_the_run_at_once(dev_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(dev_run.env["NUMERALOOP_SANDBOX_PORT"])))
        taken.listen()
        code = dev_run.start().wait()
    assert code == 1
    assert_stopped_with_last_words(dev_run, "twilio-sandbox", "is in use by another program")


def test_a_child_refusing_its_environment_stops_the_run_at_once(dev_run):
    code = dev_run.start(STRIPE_SECRET_KEY="sk_live_not_for_a_stand_in").wait()
    assert code == 1
    assert_stopped_with_last_words(dev_run, "stripe-standin", "only accepts a test-mode STRIPE_SECRET_KEY")


@pytest.fixture
def forget_the_demo_number(db):
    """The run gives the demo workspace the demo number; later tests may buy that number from their sandbox."""
    yield
    db.execute(
        "delete from public.phone_numbers where e164 = %s and workspace_id in "
        "(select id from public.workspaces where created_by = %s)",
        (demo_seed.DEMO_NUMBER, demo_seed.DEMO_USER_ID),
    )


def test_ready_once_every_local_process_is_up_and_a_dying_worker_ends_the_run(dev_run, forget_the_demo_number):
    dev_run.start().wait_for_line("NumeraLoop is up")
    r = requests.get(f"http://127.0.0.1:{dev_run.port}/readyz", timeout=15)
    assert r.status_code == 200, r.text
    assert r.json()["dependencies"] == {
        "twilio-sandbox": "ok",
        "stripe-standin": "ok",
        "worker": "ok",
        "supabase-auth": "ok",
        "smtp-catcher": "ok",
    }

    os.kill(dev_run.children["worker"], signal.SIGKILL)
    assert dev_run.wait() == 1
    assert_stopped_with_last_words(dev_run, "worker", "", phase="while running")


def test_ctrl_c_stops_everything_and_exits_cleanly(dev_run, forget_the_demo_number):
    dev_run.start().wait_for_line("NumeraLoop is up")
    os.kill(dev_run.proc.pid, signal.SIGINT)
    assert dev_run.wait() == 0
    assert all(f"dev: stopped {child}" in dev_run.lines for child in CHILDREN)
    assert not [child for child, pid in dev_run.children.items() if alive(pid)]
