"""Running the stand-in: in a background thread (tests) or in the foreground (`numeraloop stripe-standin serve`)."""

from __future__ import annotations

import logging

from ..http_server import BackgroundServer
from .app import DEFAULT_API_KEY, create_standin_app
from .state import StandinState

log = logging.getLogger("numeraloop_local.stripe_standin")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8020


class StandinServer(BackgroundServer):
    """The stand-in app in a threaded server; port 0 picks a free port.

    with StandinServer(api_key="sk_test_x", webhook_url=..., webhook_secret="whsec_x") as server:
        server.url      # http://127.0.0.1:54321  (STRIPE_API_BASE_URL)
        server.state    # the in-memory state, for white-box checks
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
    ):
        app = create_standin_app(api_key, webhook_url, webhook_secret)
        self.state: StandinState = app.extensions["numeraloop_local.stripe_standin"]
        super().__init__(app, host, port, name="stripe-standin")
        self.state.public_url = self.url


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str = DEFAULT_API_KEY,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> int:
    server = StandinServer(api_key, webhook_url, webhook_secret, host=host, port=port)
    log.info(
        "stripe stand-in: API at %s/v1, control API at %s/_standin, webhooks to %s",
        server.url,
        server.url,
        webhook_url or "(none configured)",
    )
    server.serve_forever()
    return 0
