"""A local HTTP endpoint that records what it is sent and answers with a chosen status.

With `secret` set it is a receiver as the README tells integrators to write one: every POST is
verified with the Standard Webhooks library (`standardwebhooks`, Webhook.verify) before it is
accepted, a delivery that fails verification is answered 401, and each hit records the outcome
(`verified`: True, or the library's error)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secret: str | None = None):
        self.received: list[dict] = []
        self.status = 200
        self.secret = secret
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                hit = {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
                status = outer.status
                if outer.secret is not None:
                    try:
                        Webhook(outer.secret).verify(hit["body"], hit["headers"])
                        hit["verified"] = True
                    except WebhookVerificationError as exc:
                        hit["verified"] = exc
                        status = 401
                outer.received.append(hit)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
