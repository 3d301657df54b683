"""Delivers queued webhook events. Any number of workers can run: each claims due rows with
`for update skip locked` and a lease (private.claim_webhook_deliveries), so none delivers a
row another holds, and a worker that dies lets its rows come due again when the lease ends.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from ..db import as_service
from . import signing

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0


class BlockedTarget(Exception):
    pass


def check_public_target(url: str) -> None:
    """Refuse to POST to loopback, private, link-local or reserved addresses (SSRF guard).

    Every address the host resolves to is checked. (A DNS answer that changes between this
    check and the connection could still slip through; a production deployment should also
    egress through a proxy that enforces the same rule.)
    """
    host = requests.utils.urlparse(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise BlockedTarget(f"cannot resolve {host}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            raise BlockedTarget(f"{host} resolves to a non-public address")


class WebhookWorker:
    def __init__(self, pool, batch: int = 50, lease_seconds: int = 60, concurrency: int = 8,
                 user_agent: str = "NumeraLoop-Webhooks/1", allow_private_targets: bool = False):
        self.pool = pool
        self.allow_private_targets = allow_private_targets
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.http = requests.Session()
        self.http.headers["User-Agent"] = user_agent
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.http.close()

    def claim(self) -> list[dict]:
        with as_service(self.pool) as conn:
            return conn.execute("select * from private.claim_webhook_deliveries(%s, %s)",
                                (self.batch, self.lease_seconds)).fetchall()

    def deliver(self, row: dict) -> dict:
        body = json.dumps(row["payload"], separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(row["secret"], body),
            "NumeraLoop-Event": row["event"],
            "NumeraLoop-Delivery": str(row["delivery_id"]),
        }
        status, error = None, None
        try:
            if not self.allow_private_targets:
                check_public_target(row["url"])
            # No redirects: a redirect could send the signed payload somewhere the admin never chose.
            response = self.http.post(row["url"], data=body, headers=headers,
                                      timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)
            status = response.status_code
            ok = 200 <= status < 300
            if not ok:
                error = f"HTTP {status}"
        except BlockedTarget as exc:
            ok, error = False, f"blocked: {exc}"
        except requests.RequestException as exc:
            ok, error = False, f"{type(exc).__name__}"
        with as_service(self.pool) as conn:
            outcome = conn.execute("select private.complete_webhook_delivery(%s, %s, %s, %s) as r",
                                   (row["delivery_id"], ok, status, error)).fetchone()["r"]
        if ok:
            log.info("webhook %s %s delivered (attempt %s)", row["delivery_id"], row["event"], row["attempts"])
        elif outcome.get("dead"):
            log.error("webhook %s %s gave up after %s attempts: %s", row["delivery_id"], row["event"],
                      row["attempts"], error)
        else:
            log.warning("webhook %s %s failed (attempt %s: %s); next try at %s", row["delivery_id"], row["event"],
                        row["attempts"], error, outcome.get("next_attempt_at"))
        return outcome

    def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many were attempted."""
        rows = self.claim()
        if rows:
            list(self.executor.map(self.deliver, rows))
        return len(rows)

    def run_forever(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database blinked: log, wait, carry on
                log.exception("webhook worker: claiming failed; retrying shortly")
                busy = 0
            if not busy:
                stop.wait(idle_seconds)
