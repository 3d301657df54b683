"""`numeraloop worker`: the background loops, each in its own thread: outbound webhooks,
campaign sending, new-message e-mails and policy-change notices (both idle without SMTP_URL),
and the deletions Twilio and Stripe still owe (recordings, numbers' webhooks, subscriptions,
customers).

Stateless: run as many as needed beside the service; they coordinate through the database.
SIGTERM/SIGINT finish the current batches and exit. With a health port it answers
GET /healthz on 127.0.0.1: 200 while every loop runs, 503 once one has stopped.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .campaigns.sender import CampaignSender
from .config import Config
from .db import make_pool
from .notifications.new_messages import NewMessageNotifier
from .outbound_webhooks.worker import WebhookWorker
from .privacy.notices import PolicyNoticeMailer
from .privacy.provider_cleanup import ProviderCleanup

log = logging.getLogger(__name__)


def run_worker(config: Config, health_port: int = 0) -> int:
    # Checked on checkout: after a restart, a dropped connection would otherwise fail the step
    # that records a message Twilio already accepted, and that recipient would end up failed.
    pool = make_pool(config.database_url, config.db_pool_min, config.db_pool_max, check=True)
    pool.open(wait=True, timeout=30)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    loops = {
        "webhooks": WebhookWorker(pool, allow_private_targets=config.webhooks_allow_private_targets),
        "campaigns": CampaignSender(pool, config),
        "emails": NewMessageNotifier(pool, config),
        "notices": PolicyNoticeMailer(pool, config),
        "deletions": ProviderCleanup(pool, config),
    }
    threads = [threading.Thread(target=loop.run_forever, args=(stop,), name=name) for name, loop in loops.items()]
    liveness = None
    try:
        for thread in threads:
            thread.start()
        if health_port:
            # Bound only once the loops run, so "answers" means "working", not "starting".
            liveness = _serve_liveness(health_port, threads)
        log.info("worker started (%s)", ", ".join(loops))
        while not stop.is_set():  # the main thread keeps the signal handlers
            stop.wait(1.0)
    finally:
        if liveness is not None:
            liveness.shutdown()
            liveness.server_close()
        stop.set()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join()
        for loop in loops.values():
            loop.close()
        pool.close()
        log.info("worker stopped")
    return 0


def _serve_liveness(port: int, threads: list[threading.Thread]) -> ThreadingHTTPServer:
    class Liveness(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/healthz":
                self._answer(404, {"error": {"code": "not_found", "message": "only GET /healthz is served here"}})
                return
            stopped = [t.name for t in threads if not t.is_alive()]
            if stopped:
                self._answer(503, {"status": "unavailable", "stopped": stopped})
            else:
                self._answer(200, {"status": "ok", "loops": [t.name for t in threads]})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # probes every few seconds would drown the worker's own log
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Liveness)
    threading.Thread(target=server.serve_forever, name="liveness", daemon=True).start()
    return server
