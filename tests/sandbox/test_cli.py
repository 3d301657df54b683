"""`numeraloop sandbox ...` against a running sandbox."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from numeraloop.cli import main

from .conftest import CUSTOMER, OWNED


def test_sandbox_sms_command_delivers_to_the_webhook(sandbox_server, receiver, number, account):
    receiver.answer("/sms", (200, "<Response><Message>Got it</Message></Response>"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "numeraloop.cli",
            "sandbox",
            "sms",
            "--from",
            CUSTOMER,
            "--to",
            OWNED,
            "--body",
            "Hi from the terminal",
            "--media",
            "https://cdn.example.test/a.jpg",
            "--sandbox-url",
            sandbox_server.url,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NUMERALOOP_DOTENV": os.devnull},
    )
    assert done.returncode == 0, done.stderr
    assert "HTTP 200" in done.stdout and "<Message>Got it</Message>" in done.stdout
    form = receiver.wait_for("/sms", 1)[0].form
    assert (form["Body"], form["NumMedia"], form["MediaUrl0"]) == (
        "Hi from the terminal",
        "1",
        "https://cdn.example.test/a.jpg",
    )


@pytest.fixture
def root_logging():
    """`main()` configures root logging onto the captured stderr; undo it so later tests don't log to a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_sandbox_call_command_and_failures(root_logging, sandbox_server, receiver, number, capsys):
    assert main(["sandbox", "call", "--from", CUSTOMER, "--to", OWNED, "--sandbox-url", sandbox_server.url]) == 0
    assert receiver.wait_for("/voice", 1)[0].form["CallStatus"] == "ringing"
    assert (
        main(
            [
                "sandbox",
                "sms",
                "--from",
                CUSTOMER,
                "--to",
                "+19995550100",
                "--body",
                "x",
                "--sandbox-url",
                sandbox_server.url,
            ]
        )
        == 1
    )
    assert "unknown_number" in capsys.readouterr().err


def test_sandbox_serve_command_runs_with_a_seeded_account():
    """From a clone with nothing beside it: Twilio's OpenAPI files are nowhere to be found."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sid, token = "AC" + "1" * 32, "2" * 32
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "numeraloop.cli",
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--seed-account",
            f"{sid}:{token}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NUMERALOOP_DOTENV": os.devnull, "NUMERALOOP_TWILIO_OAI_DIR": "/nonexistent"},
    )
    try:
        url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{sid}.json"
        deadline = time.monotonic() + 15
        while True:
            try:
                response = requests.get(url, auth=(sid, token), timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "sandbox did not start"
                time.sleep(0.05)
        assert response.status_code == 200 and response.json()["sid"] == sid
        typo = requests.post(
            f"http://127.0.0.1:{port}/2010-04-01/Accounts/{sid}/Messages.json",
            auth=(sid, token),
            data={"To": CUSTOMER, "Body": "x", "Bodyy": "typo"},
            timeout=5,
        )
        assert (typo.status_code, typo.json()["code"]) == (400, 20001)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
