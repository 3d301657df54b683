"""Fixtures for the Twilio sandbox tests: a sandbox and a webhook receiver, both on 127.0.0.1.

None of these need PostgreSQL. Each test gets a fresh sandbox (a new server on a free
port is a few milliseconds) with short delivery steps, so the suite stays fast.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from numeraloop.twilio.client import make_twilio_client
from numeraloop_local.twilio_sandbox import SandboxControl, SandboxServer

OWNED = "+14155550100"  # the number the `number` fixture gives the account
CUSTOMER = "+14155550142"  # someone texting and calling it


@pytest.fixture
def sandbox_server():
    with SandboxServer(poll_interval=0.01, step_delay=0.01, retry_backoff=0.01, callback_timeout=2.0) as server:
        yield server


@pytest.fixture
def control(sandbox_server) -> SandboxControl:
    return SandboxControl(sandbox_server.url)


@pytest.fixture
def account(control) -> dict:
    return control.create_account()


@pytest.fixture
def twilio(account, sandbox_server):
    """twilio-python as the service builds it, pointed at the sandbox; no retries unless a test asks."""
    return make_twilio_client(
        account["sid"], account["sid"], account["auth_token"], sandbox_server.url, timeout=5, max_retries=0
    )


@dataclass
class Received:
    method: str
    path: str
    url: str
    form: dict
    args: dict
    headers: dict


@dataclass
class Receiver:
    """An application stand-in: records every request and answers what the test configured."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, path: str, *responses: tuple[int, str]) -> None:
        """Queue responses for `path`; after they run out it answers 200 with empty TwiML."""
        self.answers[path] = list(responses)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 5.0) -> list[Received]:
        """The requests to `path` once at least `count` have arrived; fails the test if they do not in time."""
        deadline = time.monotonic() + timeout
        while len(self.at(path)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        got = self.at(path)
        assert len(got) >= count, f"{len(got)} of {count} requests to {path} arrived within {timeout} s"
        return got


@pytest.fixture
def receiver():
    rec = Receiver()
    app = Flask("receiver")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def catch(path):
        with rec.lock:
            rec.received.append(
                Received(
                    request.method,
                    "/" + path,
                    request.url,
                    request.form.to_dict(),
                    request.args.to_dict(),
                    dict(request.headers),
                )
            )
            queued = rec.answers.get("/" + path)
            status, body = queued.pop(0) if queued else (200, "<Response/>")
        return body, status, {"Content-Type": "text/xml"}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    rec.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def number(control, account, receiver) -> dict:
    """An owned number whose SMS, voice and call-status webhooks point at the receiver."""
    return control.add_number(
        account["sid"],
        OWNED,
        sms_url=receiver.url("/sms"),
        voice_url=receiver.url("/voice"),
        status_callback=receiver.url("/call-status"),
    )
