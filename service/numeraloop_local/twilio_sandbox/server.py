"""Running the sandbox: in a background thread (tests) or in the foreground (`numeraloop sandbox serve`)."""

from __future__ import annotations

import logging

from flask import Flask

from ..http_server import BackgroundServer
from .app import create_sandbox_app
from .core import Sandbox

log = logging.getLogger("numeraloop_local.twilio_sandbox")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8010


class SandboxServer(BackgroundServer):
    """The sandbox app in a threaded server; port 0 picks a free port.

    with SandboxServer(step_delay=0.01) as server:
        server.url            # http://127.0.0.1:54321
        server.sandbox.state  # the in-memory state, for white-box checks
    """

    def __init__(
        self, app: Flask | None = None, host: str = DEFAULT_HOST, port: int = 0, poll_interval: float = 0.05, **settings
    ):
        app = app or create_sandbox_app(**settings)
        self.sandbox: Sandbox = app.extensions["numeraloop_local.twilio_sandbox"]
        super().__init__(app, host, port, name="twilio-sandbox", poll_interval=poll_interval)

    def closed(self) -> None:
        self.sandbox.close()


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, seed_accounts: list[tuple[str, str]] = ()) -> int:
    """Foreground server until Ctrl-C/SIGTERM, with optional fixed accounts (the demo seed)."""
    server = SandboxServer(host=host, port=port)
    for sid, token in seed_accounts:
        server.sandbox.state.create_account(sid, token, "Demo")
        log.info("sandbox: seeded account %s", sid)
    log.info("sandbox: Twilio API at %s/2010-04-01, control API at %s/_sandbox", server.url, server.url)
    server.serve_forever()
    return 0
