"""Running the catcher, SMTP and HTTP together: in threads (tests) or in the foreground
(`numeraloop smtp-catcher serve`)."""

from __future__ import annotations

import logging

from ..http_server import BackgroundServer
from .app import create_catcher_app
from .smtp import SmtpListener
from .store import MessageStore

log = logging.getLogger("numeraloop_local.smtp_catcher")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_SMTP_PORT = 8025
DEFAULT_HTTP_PORT = 8026


class CatcherServer(BackgroundServer):
    """Both sides of the catcher; port 0 picks free ports.

    with CatcherServer() as catcher:
        catcher.smtp_url   # smtp://127.0.0.1:40123   (SMTP_URL)
        catcher.url        # http://127.0.0.1:40124   (the JSON API under /api)
        catcher.messages   # the MessageStore, for white-box checks
    """

    def __init__(self, host: str = DEFAULT_HOST, smtp_port: int = 0, http_port: int = 0):
        self.messages = MessageStore()
        self.smtp = SmtpListener(self.messages, host, smtp_port).start()
        try:
            super().__init__(create_catcher_app(self.messages), host, http_port, name="smtp-catcher-http")
        except BaseException:
            self.smtp.stop()
            raise

    @property
    def smtp_url(self) -> str:
        return f"smtp://{self.smtp.host}:{self.smtp.port}"

    def closed(self) -> None:
        self.smtp.stop()


def serve(host: str = DEFAULT_HOST, smtp_port: int = DEFAULT_SMTP_PORT, http_port: int = DEFAULT_HTTP_PORT) -> int:
    server = CatcherServer(host, smtp_port, http_port)
    log.info("smtp catcher: SMTP at %s, messages at %s (JSON under /api)", server.smtp_url, server.url)
    server.serve_forever()
    return 0
