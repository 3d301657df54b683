"""`numeraloop worker`: the background processes' loop (outbound webhooks today).

Stateless: run as many as needed beside the service; they coordinate through the database.
SIGTERM/SIGINT finish the current batch and exit.
"""

from __future__ import annotations

import logging
import signal
import threading

from .config import Config
from .db import make_pool
from .outbound_webhooks.worker import WebhookWorker

log = logging.getLogger(__name__)


def run_worker(config: Config) -> int:
    pool = make_pool(config.database_url, config.db_pool_min, config.db_pool_max)
    pool.open(wait=True, timeout=30)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    webhooks = WebhookWorker(pool, allow_private_targets=config.webhooks_allow_private_targets)
    log.info("worker started")
    try:
        webhooks.run_forever(stop)
    finally:
        webhooks.close()
        pool.close()
        log.info("worker stopped")
    return 0
