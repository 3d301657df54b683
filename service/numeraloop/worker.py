"""`numeraloop worker`: the background loops, each in its own thread: outbound webhooks and
campaign sending.

Stateless: run as many as needed beside the service; they coordinate through the database.
SIGTERM/SIGINT finish the current batches and exit.
"""

from __future__ import annotations

import logging
import signal
import threading

from .campaigns.sender import CampaignSender
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
    loops = {
        "webhooks": WebhookWorker(pool, allow_private_targets=config.webhooks_allow_private_targets),
        "campaigns": CampaignSender(pool, config),
    }
    threads = [threading.Thread(target=loop.run_forever, args=(stop,), name=name) for name, loop in loops.items()]
    log.info("worker started (%s)", ", ".join(loops))
    try:
        for thread in threads:
            thread.start()
        while not stop.is_set():  # the main thread keeps the signal handlers
            stop.wait(1.0)
    finally:
        stop.set()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join()
        for loop in loops.values():
            loop.close()
        pool.close()
        log.info("worker stopped")
    return 0
