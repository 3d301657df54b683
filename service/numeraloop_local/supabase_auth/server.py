"""Running the Auth stand-in: in a background thread (tests) or in the foreground (`numeraloop auth-standin serve`)."""

from __future__ import annotations

import logging

from ..http_server import BackgroundServer
from .app import AuthState, create_auth_app
from .settings import DEFAULT_HOST, DEFAULT_PORT, AuthSettings

log = logging.getLogger("numeraloop_local.supabase_auth")


class AuthStandinServer(BackgroundServer):
    """The stand-in in a threaded server; port 0 picks a free port.

    with AuthStandinServer(settings) as server:
        server.url          # http://127.0.0.1:54321   (SUPABASE_URL; the API is under /auth/v1)
        server.jwks_url     # SUPABASE_JWKS_URL, when signing ES256
        server.state        # settings, store, signer, for white-box checks
    """

    def __init__(self, settings: AuthSettings, host: str = DEFAULT_HOST, port: int = 0):
        app = create_auth_app(settings)
        self.state: AuthState = app.extensions["numeraloop_local.supabase_auth"]
        super().__init__(app, host, port, name="auth-standin")
        if not settings.public_url:
            settings.public_url = self.url

    @property
    def jwks_url(self) -> str:
        return f"{self.state.api_url}/.well-known/jwks.json"

    def closed(self) -> None:
        self.state.store.close()


def serve(settings: AuthSettings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    server = AuthStandinServer(settings, host=host, port=port)
    log.info(
        "auth stand-in: GoTrue API at %s (signing %s%s), e-mail via %s",
        server.state.api_url,
        settings.signing,
        f", JWKS {server.jwks_url}" if settings.signing == "ES256" else "",
        settings.smtp_url or "(log only)",
    )
    server.serve_forever()
    return 0
