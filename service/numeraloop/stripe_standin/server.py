"""Running the stand-in: in a background thread (tests) or in the foreground (`numeraloop stripe-standin serve`)."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import make_server

from .app import DEFAULT_API_KEY, create_standin_app
from .state import StandinState

log = logging.getLogger("numeraloop.stripe_standin")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8020


class StandinServer:
    """A threaded werkzeug server around a stand-in app; port 0 picks a free port.

        with StandinServer(api_key="sk_test_x", webhook_url=..., webhook_secret="whsec_x") as server:
            server.url      # http://127.0.0.1:54321  (STRIPE_API_BASE_URL)
            server.state    # the in-memory state, for white-box checks
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY, webhook_url: str | None = None,
                 webhook_secret: str | None = None, host: str = DEFAULT_HOST, port: int = 0):
        self.app = create_standin_app(api_key, webhook_url, webhook_secret)
        self.state: StandinState = self.app.extensions["numeraloop.stripe_standin"]
        self._server = make_server(host, port, self.app, threaded=True)
        self.host, self.port = host, self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.state.public_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> "StandinServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="stripe-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "StandinServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api_key: str = DEFAULT_API_KEY,
          webhook_url: str | None = None, webhook_secret: str | None = None) -> int:
    if host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("stripe stand-in: binding to %s exposes the unauthenticated control API beyond this machine", host)
    server = StandinServer(api_key, webhook_url, webhook_secret, host=host, port=port)
    log.info("stripe stand-in: API at %s/v1, control API at %s/_standin, webhooks to %s", server.url, server.url,
             webhook_url or "(none configured)")
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
    return 0
