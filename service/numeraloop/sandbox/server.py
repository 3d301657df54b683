"""Running the sandbox: in a background thread (tests) or in the foreground (`numeraloop sandbox serve`)."""

from __future__ import annotations

import logging
import threading

from flask import Flask
from werkzeug.serving import make_server

from .app import Sandbox, create_sandbox_app

log = logging.getLogger("numeraloop.sandbox")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8010


class SandboxServer:
    """A threaded werkzeug server around a sandbox app; port 0 picks a free port.

        with SandboxServer(step_delay=0.01) as server:
            server.url            # http://127.0.0.1:54321
            server.sandbox.state  # the in-memory state, for white-box checks
    """

    def __init__(self, app: Flask | None = None, host: str = DEFAULT_HOST, port: int = 0,
                 poll_interval: float = 0.05, **settings):
        self.app = app or create_sandbox_app(**settings)
        self.sandbox: Sandbox = self.app.extensions["numeraloop.sandbox"]
        self._server = make_server(host, port, self.app, threaded=True)
        self.host, self.port = host, self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        # How often serve_forever checks for stop(): short, because tests start and stop many.
        self.poll_interval = poll_interval

    def start(self) -> "SandboxServer":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": self.poll_interval},
                                        name="twilio-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self.sandbox.close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, seed_accounts: list[tuple[str, str]] = ()) -> int:
    """Foreground server until Ctrl-C/SIGTERM, with optional fixed accounts (the demo seed)."""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        # /_sandbox has no authentication: anyone who can reach it can read every message.
        log.warning("sandbox: binding to %s exposes the unauthenticated control API beyond this machine", host)
    server = SandboxServer(host=host, port=port)
    for sid, token in seed_accounts:
        server.sandbox.state.create_account(sid, token, "Demo")
        log.info("sandbox: seeded account %s", sid)
    log.info("sandbox: Twilio API at %s/2010-04-01, control API at %s/_sandbox", server.url, server.url)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
        server.sandbox.close()
    return 0
