"""A local SMTP catcher: receives the e-mails the product and the stand-ins send, so nothing is
mailed from a laptop or a test, and shows them to people (HTML pages) and tests (a JSON API).

`numeraloop smtp-catcher serve` listens for SMTP on 127.0.0.1:8025 (SMTP_URL=smtp://127.0.0.1:8025)
and serves the messages on http://127.0.0.1:8026; `CatcherServer` runs both in threads for tests,
and `CatcherClient` reads them. Messages are kept in memory only, the newest thousand.
"""

from .client import CatcherClient
from .server import DEFAULT_HTTP_PORT, DEFAULT_SMTP_PORT, CatcherServer, serve

__all__ = ["CatcherClient", "CatcherServer", "DEFAULT_HTTP_PORT", "DEFAULT_SMTP_PORT", "serve"]
