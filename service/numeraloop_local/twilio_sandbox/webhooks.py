"""Calling the application the way Twilio does: signed requests, scheduled off the request thread.

`call_webhook` makes one signed request and reports what came back; it never raises,
because a misbehaving receiver must not take the sandbox down. `Dispatcher` runs
status callbacks later (a heap of due times drained into a small thread pool), so a
REST call returns at once and callbacks arrive the way Twilio's do: asynchronously.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

log = logging.getLogger("numeraloop_local.twilio_sandbox.webhooks")

USER_AGENT = "TwilioProxy/1.1"


def call_webhook(
    url: str,
    params: dict[str, str],
    auth_token: str,
    method: str = "POST",
    timeout: float = 10.0,
    idempotency_token: str | None = None,
) -> dict:
    """One signed request to the application; the result as a JSON-ready dict.

    Signing is twilio-python's own `RequestValidator.compute_signature`, i.e. exactly what
    the service's validator checks: for POST, the URL plus the sorted form parameters; for
    GET, the full URL with the parameters in its query string and nothing else.
    """
    method = (method or "POST").upper()
    validator = RequestValidator(auth_token)
    if method == "GET":
        target = url + ("&" if "?" in url else "?") + urlencode(params)
        signature = validator.compute_signature(target, {})
    else:
        target = url
        signature = validator.compute_signature(url, params)
    headers = {
        "X-Twilio-Signature": signature,
        "User-Agent": USER_AGENT,
        # Twilio repeats this token when it re-sends the same event; receivers may dedupe on it.
        "I-Twilio-Idempotency-Token": idempotency_token or str(uuid.uuid4()),
    }
    result = {
        "url": target,
        "method": method,
        "params": dict(params),
        "signature": signature,
        "status": None,
        "headers": {},
        "body": None,
        "error": None,
    }
    session = requests.Session()
    # Local tool: never route a webhook for 127.0.0.1 through an environment proxy.
    session.trust_env = False
    try:
        if method == "GET":
            response = session.get(target, headers=headers, timeout=timeout, allow_redirects=False)
        else:
            response = session.post(target, data=params, headers=headers, timeout=timeout, allow_redirects=False)
        result.update(status=response.status_code, headers=dict(response.headers), body=response.text)
    except requests.RequestException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        session.close()
    return result


class Dispatcher:
    """Runs callables at a given delay, on a few worker threads, and never lets one crash it."""

    def __init__(self, workers: int = 8):
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._active = 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-callback")
        self._thread = threading.Thread(target=self._run, name="sandbox-dispatcher", daemon=True)
        self._thread.start()

    def schedule(self, delay: float, job: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), job))
            self._cond.notify()

    def pending(self) -> int:
        """Jobs waiting or running; zero means every scheduled callback has played out."""
        with self._cond:
            return len(self._heap) + self._active

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        self._thread.join(timeout=2)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._closed:
                    return
                _, _, job = heapq.heappop(self._heap)
                self._active += 1
            self._pool.submit(self._guarded, job)

    def _guarded(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # a bug in one callback must not stop the others
            log.exception("sandbox: scheduled job failed")
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()
