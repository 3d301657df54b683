"""A real HTTP server on 127.0.0.1 for a WSGI app, in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager

from werkzeug.serving import make_server

from . import api_contract


@contextmanager
def serve(app, host: str = "127.0.0.1"):
    with serve_factory(lambda base_url: app, host) as (base_url, _):
        yield base_url


@contextmanager
def serve_factory(factory: Callable[[str], object], host: str = "127.0.0.1"):
    """Bind first, then build the app knowing its own URL (PUBLIC_BASE_URL must match it)."""
    holder: dict = {}

    def wsgi(environ, start_response):
        return holder["app"](environ, start_response)

    # /api/v1 answers are checked against the OpenAPI description while the suite runs.
    server = make_server(host, 0, api_contract.checked(wsgi), threaded=True)
    base_url = f"http://{host}:{server.server_port}"
    holder["app"] = factory(base_url)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield base_url, holder["app"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
