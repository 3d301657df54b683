"""The SMTP side: aiosmtpd on its own event loop in a thread, storing every message it accepts.

It accepts any sender, any recipient and any credentials (AUTH PLAIN/LOGIN without TLS), so
whatever SMTP_URL the product is given locally, its mail lands here and nowhere else.
"""

from __future__ import annotations

import asyncio
import threading

from aiosmtpd.smtp import SMTP, AuthResult

from .store import MessageStore

GREETING_HOST = "numeraloop-smtp-catcher"  # given, so aiosmtpd does not look up the machine's FQDN


class _Handler:
    def __init__(self, store: MessageStore):
        self.store = store

    async def handle_DATA(self, server, session, envelope):
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        self.store.add(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or b"", peer)
        return "250 Message accepted for delivery"


def _accept_any_credentials(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True)


class SmtpListener:
    """`start()` binds (port 0 picks a free one) and returns once connections are accepted."""

    def __init__(self, store: MessageStore, host: str = "127.0.0.1", port: int = 0):
        self.store, self.host, self.port = store, host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> SmtpListener:
        self._thread = threading.Thread(target=self._run, name="smtp-catcher", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("the SMTP catcher did not start")
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        handler = _Handler(self.store)

        def protocol():
            return SMTP(
                handler,
                hostname=GREETING_HOST,
                loop=loop,
                auth_require_tls=False,
                authenticator=_accept_any_credentials,
            )

        try:
            self._server = loop.run_until_complete(loop.create_server(protocol, host=self.host, port=self.port))
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            try:
                loop.run_until_complete(asyncio.wait_for(self._server.wait_closed(), 2))
            except TimeoutError:
                pass  # a client still connected; the process is going anyway
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
