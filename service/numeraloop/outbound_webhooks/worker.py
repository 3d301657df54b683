"""Delivers queued webhook events. Any number of workers can run: each claims due rows with
`for update skip locked` and a lease (private.claim_webhook_deliveries), so none delivers a
row another holds, and a worker that dies lets its rows come due again when the lease ends.

Receivers are the workspaces' own servers, so none of them may hold the worker up:

- each delivery has one deadline for everything (resolving the host, connecting, TLS, sending,
  the response), enforced by cutting its connection, since a receiver trickling a byte at a
  time never trips a per-operation socket timeout;
- of the response only the status line, the headers and the first RESPONSE_EXCERPT_BYTES of
  the body are read;
- deliveries run concurrently, claimed as slots free up, with at most `per_endpoint` of one
  endpoint and `per_workspace` of one workspace in flight, so a slow receiver holds only its
  own slots while every other workspace's deliveries keep going.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from requests import certs

from ..db import as_service
from . import signing

log = logging.getLogger(__name__)

DEADLINE_SECONDS = 10.0  # resolve + connect + send + response, together
CONNECT_TIMEOUT = 3.05
RESPONSE_EXCERPT_BYTES = 1024

# Not caught by ipaddress's is_global, yet they reach IPv4 space that is: NAT64 and 6to4 hand
# the packet to whatever IPv4 address is embedded (127.0.0.1 or 10.x included), and mapped or
# compatible forms of IPv4 address are never a public IPv6 endpoint.
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "64:ff9b::/96",  # NAT64, well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # NAT64, local-use prefix (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056)
        "::ffff:0:0/96",  # IPv4-mapped
        "::/96",  # IPv4-compatible (deprecated)
    )
)


class BlockedTarget(Exception):
    pass


class DeadlineExceeded(Exception):
    pass


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not address.is_global:
        return True
    return address.version == 6 and any(address in network for network in REFUSED_NETWORKS)


def resolve(host: str, port: int, allow_private: bool = False) -> list[tuple]:
    """The host's addresses (getaddrinfo entries), refusing the lot if any is loopback, private,
    link-local, reserved, NAT64, 6to4 or an IPv4-in-IPv6 form (SSRF guard). The connection is
    made to these very addresses, so a DNS answer cannot change between the check and the use."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise BlockedTarget(f"cannot resolve {host}") from None
    if not infos:
        raise BlockedTarget(f"cannot resolve {host}")
    if not allow_private:
        for info in infos:
            if refused_address(ipaddress.ip_address(info[4][0].split("%", 1)[0])):
                raise BlockedTarget(f"{host} resolves to a non-public address")
    return infos


def check_public_target(url: str) -> None:
    """Raise BlockedTarget unless every address the URL's host resolves to is public."""
    parts = urllib.parse.urlsplit(url)
    resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


class _Deadline:
    """One delivery's total time. Once it is up, the connection is shut down from a timer thread,
    which wakes the delivering thread from whatever read or write it is blocked in."""

    def __init__(self, seconds: float):
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        left = self.expires - time.monotonic()
        if left <= 0:
            self.expired = True
            raise DeadlineExceeded()
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._fd = sock.fileno()
            self._timer = threading.Timer(max(self.expires - time.monotonic(), 0), self._cut)
            self._timer.daemon = True
            self._timer.start()

    def _cut(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            self.expired = True
            # By descriptor, on a duplicate: the socket object may be mid-wrap in TLS, and the
            # descriptor stays open until release() (called before the connection is closed).
            dup = socket.socket(fileno=os.dup(self._fd))
            try:
                dup.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                dup.close()

    def release(self) -> None:
        with self._lock:
            self._fd = None
            if self._timer is not None:
                self._timer.cancel()


def _resolve_within(host: str, port: int, allow_private: bool, deadline: _Deadline) -> list[tuple]:
    """resolve(), given up on when the deadline passes: getaddrinfo cannot be interrupted, and the
    host's own DNS servers may answer as slowly as they like. The lookup's thread is left to end
    by itself."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # a literal address: nothing to wait for
        return resolve(host, port, allow_private)
    outcome: dict = {}
    done = threading.Event()

    def lookup():
        try:
            outcome["infos"] = resolve(host, port, allow_private)
        except BaseException as exc:  # handed to the delivering thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="webhook-dns", daemon=True).start()
    if not done.wait(deadline.remaining()):
        deadline.expired = True
        raise DeadlineExceeded()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["infos"]


def _connect(addresses: list[tuple], deadline: _Deadline) -> socket.socket:
    error: OSError | None = None
    for family, type_, proto, _, address in addresses:
        sock = socket.socket(family, type_, proto)
        try:
            sock.settimeout(min(CONNECT_TIMEOUT, deadline.remaining()))
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except DeadlineExceeded:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error or OSError("no address to connect to")


def post(
    url: str,
    body: bytes,
    headers: dict,
    deadline_seconds: float = DEADLINE_SECONDS,
    allow_private: bool = False,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """POST `body` to `url` within `deadline_seconds` in all; returns the status and the start of
    the response body. Redirects are not followed: one could send the signed payload somewhere
    the admin never chose."""
    deadline = _Deadline(deadline_seconds)
    parts = urllib.parse.urlsplit(url)
    https = parts.scheme == "https"
    host, port = parts.hostname or "", parts.port or (443 if https else 80)
    addresses = _resolve_within(host, port, allow_private, deadline)

    def create_connection(*_args, **_kwargs):  # http.client's hook: connect to the checked addresses only
        sock = _connect(addresses, deadline)
        deadline.watch(sock)
        sock.settimeout(deadline.remaining())
        return sock

    if https:
        conn = http.client.HTTPSConnection(host, port, context=tls or _default_tls())
    else:
        conn = http.client.HTTPConnection(host, port)
    conn._create_connection = create_connection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        status = response.status
        try:
            excerpt = response.read(RESPONSE_EXCERPT_BYTES)
        except (OSError, http.client.HTTPException):  # the status decides; the body is only kept for show
            excerpt = b""
        return status, excerpt
    except (OSError, http.client.HTTPException):
        if deadline.expired:
            raise DeadlineExceeded() from None
        raise
    finally:
        deadline.release()
        conn.close()


_tls_context: ssl.SSLContext | None = None


def _default_tls() -> ssl.SSLContext:
    global _tls_context
    if _tls_context is None:
        _tls_context = ssl.create_default_context(cafile=certs.where())  # the CA bundle requests uses
    return _tls_context


def excerpt_text(excerpt: bytes) -> str:
    return excerpt.decode("utf-8", "replace").replace("\x00", "\ufffd")


class WebhookWorker:
    def __init__(
        self,
        pool,
        batch: int = 50,
        lease_seconds: int = 60,
        concurrency: int = 8,
        per_endpoint: int = 2,
        per_workspace: int = 4,
        deadline_seconds: float = DEADLINE_SECONDS,
        user_agent: str = "NumeraLoop-Webhooks/1",
        allow_private_targets: bool = False,
    ):
        if lease_seconds <= deadline_seconds:
            raise ValueError("the lease must outlast a delivery's deadline")
        self.pool = pool
        self.allow_private_targets = allow_private_targets
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.per_endpoint = per_endpoint
        self.per_workspace = per_workspace
        self.deadline_seconds = deadline_seconds
        self.user_agent = user_agent
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self._lock = threading.Lock()
        self._in_flight: dict[int, object] = {}  # delivery id -> endpoint id
        self._finished = threading.Condition(self._lock)
        self._slot_freed = threading.Event()

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    def claim(self, limit: int | None = None, in_flight: list | None = None) -> list[dict]:
        with as_service(self.pool) as conn:
            return conn.execute(
                "select * from private.claim_webhook_deliveries(%s, %s, %s, %s, %s::uuid[])",
                (
                    self.batch if limit is None else limit,
                    self.lease_seconds,
                    self.per_endpoint,
                    self.per_workspace,
                    in_flight or [],
                ),
            ).fetchall()

    def deliver(self, row: dict) -> dict:
        body = json.dumps(row["payload"], separators=(",", ":"), sort_keys=True).encode()
        status, error, excerpt = None, None, None
        try:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": self.user_agent,
                # Signed per attempt (a fresh timestamp), with the event's id: the same on every retry.
                **signing.signed_headers(row["secret"], str(row["payload"]["id"]), body),
                "NumeraLoop-Event": row["event"],
                "NumeraLoop-Delivery": str(row["delivery_id"]),
            }
            status, raw = post(row["url"], body, headers, self.deadline_seconds, self.allow_private_targets)
            excerpt = excerpt_text(raw)
            ok = 200 <= status < 300
            if not ok:
                error = f"HTTP {status}"
        except signing.SecretError as exc:
            ok, error = False, f"cannot sign: {exc}"
        except BlockedTarget as exc:
            ok, error = False, f"blocked: {exc}"
        except DeadlineExceeded:
            ok, error = False, f"deadline exceeded: no complete answer within {self.deadline_seconds:g}s"
        except (OSError, http.client.HTTPException, ValueError) as exc:
            ok, error = False, f"{type(exc).__name__}"
        with as_service(self.pool) as conn:
            outcome = conn.execute(
                "select private.complete_webhook_delivery(%s, %s, %s, %s, %s) as r",
                (row["delivery_id"], ok, status, error, excerpt),
            ).fetchone()["r"]
        if ok:
            log.info("webhook %s %s delivered (attempt %s)", row["delivery_id"], row["event"], row["attempts"])
        elif outcome.get("dead"):
            log.error(
                "webhook %s %s gave up after %s attempts: %s", row["delivery_id"], row["event"], row["attempts"], error
            )
        else:
            log.warning(
                "webhook %s %s failed (attempt %s: %s); next try at %s",
                row["delivery_id"],
                row["event"],
                row["attempts"],
                error,
                outcome.get("next_attempt_at"),
            )
        return outcome

    def run_once(self) -> int:
        """Claim as many due deliveries as there are free slots and start them; returns how many.
        Does not wait for them (wait_idle does)."""
        with self._lock:
            free = self.concurrency - len(self._in_flight)
            busy = list(self._in_flight.values())
        if free <= 0:
            return 0
        rows = self.claim(min(self.batch, free), busy)
        with self._lock:
            for row in rows:
                self._in_flight[row["delivery_id"]] = row["endpoint_id"]
        for row in rows:
            self.executor.submit(self._deliver_in_slot, row)
        return len(rows)

    def _deliver_in_slot(self, row: dict) -> None:
        try:
            self.deliver(row)
        except Exception:  # the database blinked: the lease brings the row back
            log.exception("webhook %s could not be recorded; it is retried when its lease ends", row["delivery_id"])
        finally:
            with self._lock:
                self._in_flight.pop(row["delivery_id"], None)
                self._finished.notify_all()
            self._slot_freed.set()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no delivery is in flight; False if `timeout` ran out first."""
        with self._lock:
            return self._finished.wait_for(lambda: not self._in_flight, timeout)

    def run_forever(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            self._slot_freed.clear()
            try:
                busy = self.run_once()
            except Exception:  # the database blinked: log, wait, carry on
                log.exception("webhook worker: claiming failed; retrying shortly")
                busy = 0
            if not busy:  # nothing due, or every slot taken: wait for one to free up
                self._slot_freed.wait(idle_seconds)
