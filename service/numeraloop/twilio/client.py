"""The service's only way to Twilio: twilio-python, pointed at TWILIO_API_BASE_URL.

`make_twilio_client(...)` returns a plain `twilio.rest.Client`; what is ours is its
HTTP client, which

* rewrites `https://api.twilio.com` (and any other `*.twilio.com` host twilio-python
  builds) to the configured base URL, so tests and local runs hit the sandbox and
  production hits Twilio with the same code;
* sets explicit connect and read timeouts (twilio-python's default is none at all);
* retries a bounded number of times, with exponential backoff and jitter, only when a
  retry cannot do harm:

    - the connection could not be established (nothing was sent): any method;
    - 429 Too Many Requests: any method, because Twilio rejected the request before
      acting on it; a Retry-After header is honoured (capped);
    - 503 Service Unavailable, or a read timeout / dropped connection after sending:
      GET and DELETE only.

  A POST that may have reached Twilio is never re-sent. Twilio's Messages create has
  no idempotency key, so re-sending after a read timeout or a 503 (which a proxy can
  return after the backend already accepted the request) could text a person twice.
  Such failures surface to the caller, which records the send as unknown and lets the
  status callback (or a later fetch) settle it. Other 4xx are never retried: the same
  request would fail the same way.

`twilio_error(exc)` turns what the client raises into a `TwilioError(code, message,
http_status)` the service can answer with (see its docstring for the mapping).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

log = logging.getLogger("numeraloop.twilio")
# twilio-python logs every request's URL and headers at INFO: message recipients in URLs and a
# line per send. Keep it for debugging (set this logger to INFO), off by default.
wire_log = logging.getLogger("numeraloop.twilio.wire")
wire_log.setLevel(logging.WARNING)

DEFAULT_CONNECT_TIMEOUT = 3.05  # just over a TCP retransmit window
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_MAX_RETRIES = 2
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
MAX_RETRY_AFTER = 10.0


class RewritingHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client with a base-URL rewrite, two timeouts and safe retries."""

    def __init__(
        self,
        api_base_url: str,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
    ):
        # The parent keeps a single float timeout; ours is a (connect, read) pair passed per request.
        super().__init__(pool_connections=True, timeout=None, logger=wire_log)
        base = urlsplit(api_base_url.rstrip("/"))
        if base.scheme not in {"http", "https"} or not base.netloc:
            raise ValueError(f"api_base_url must be an http(s) URL, got {api_base_url!r}")
        self.base = base
        self.timeouts = (connect_timeout, read_timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        # Retries are decided here, not by urllib3, which would re-send POSTs on some errors.
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, HTTPAdapter(max_retries=0, pool_maxsize=16))

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        path = self.base.path.rstrip("/") + parts.path
        return urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, parts.fragment))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        method = method.upper()
        kwargs = {
            "method": method,
            "url": self.rewrite(url),
            "params": params,
            "headers": headers,
            "auth": auth,
            "hooks": self.request_hooks,
        }
        if headers and headers.get("Content-Type") in {"application/json", "application/scim+json"}:
            kwargs["json"] = data
        else:
            kwargs["data"] = data
        timeouts = (self.timeouts[0], timeout) if timeout else self.timeouts
        self.log_request(kwargs)
        prepared = self.session.prepare_request(requests.Request(**kwargs))
        settings = self.session.merge_environment_settings(prepared.url, self.proxy, None, None, None)

        attempt = 0
        while True:
            try:
                response = self.session.send(prepared, allow_redirects=allow_redirects, timeout=timeouts, **settings)
            except requests.exceptions.ConnectionError as exc:
                if attempt < self.max_retries and self._may_resend_after(exc, method):
                    attempt += 1
                    self._sleep(attempt, None, f"{type(exc).__name__}", method, prepared.url)
                    continue
                raise
            except requests.exceptions.Timeout:  # a read timeout: the request was sent
                if attempt < self.max_retries and method in IDEMPOTENT_METHODS:
                    attempt += 1
                    self._sleep(attempt, None, "read timeout", method, prepared.url)
                    continue
                raise
            status = response.status_code
            retryable = status == 429 or (status == 503 and method in IDEMPOTENT_METHODS)
            if retryable and attempt < self.max_retries:
                attempt += 1
                self._sleep(attempt, response.headers.get("Retry-After"), f"HTTP {status}", method, prepared.url)
                continue
            self.log_response(status, response)
            self._test_only_last_response = Response(int(status), response.text, response.headers)
            return self._test_only_last_response

    @staticmethod
    def _may_resend_after(exc: requests.exceptions.ConnectionError, method: str) -> bool:
        """Connection never established (refused, DNS, connect timeout): nothing reached Twilio.

        Any other ConnectionError (reset or closed mid-request) may have been received.
        """
        if method in IDEMPOTENT_METHODS or isinstance(exc, requests.exceptions.ConnectTimeout):
            return True
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))

    def _sleep(self, attempt: int, retry_after: str | None, why: str, method: str, url: str) -> None:
        delay = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: many workers must not retry in step
        if retry_after:
            try:
                delay = min(MAX_RETRY_AFTER, max(delay, float(retry_after)))
            except ValueError:
                pass
        log.warning("twilio: %s on %s %s; retry %d/%d in %.2fs", why, method, url, attempt, self.max_retries, delay)
        _pause(delay)


def _pause(seconds: float) -> None:
    """The backoff wait; a seam so tests can count waits without patching `time` globally."""
    time.sleep(seconds)


def make_twilio_client(
    account_sid: str,
    username: str,
    password: str,
    api_base_url: str,
    timeout: float | tuple[float, float] = (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT),
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> Client:
    """A twilio-python Client for one workspace's account.

    `username`/`password` are the account SID and auth token, or an API key SID (SK...)
    and its secret; `account_sid` is the account the requests act on. `api_base_url` is
    `Config.twilio_api_base_url`. `timeout` is one number for both connect and read, or a
    (connect, read) pair.
    """
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    http = RewritingHttpClient(api_base_url, connect_timeout=connect, read_timeout=read, max_retries=max_retries)
    return Client(username=username, password=password, account_sid=account_sid, http_client=http)


@dataclass(frozen=True)
class TwilioError:
    """A Twilio failure as the service reports it: `{"error": {"code", "message"}}` with `http_status`.

    `code` is `twilio_<number>` for a Twilio error code (e.g. `twilio_21211`), so the web
    client can branch on Twilio's documented codes; `twilio_code` keeps the number.
    """

    code: str
    message: str
    http_status: int
    twilio_code: int | None = None


# Twilio codes whose meaning for our caller differs from the HTTP status Twilio used.
_STATUS_BY_CODE = {
    20003: 400,  # Twilio rejected the workspace's stored credentials: the user must reconnect
    20404: 404,
    20429: 429,
    21610: 422,  # recipient opted out: a valid request the business may not make
}


def twilio_error(exc: Exception) -> TwilioError:
    """Map what a twilio-python call raised to an error the service can return.

    * Twilio 4xx -> 4xx: 400 for invalid input (21211 invalid To, 21606 not your number,
      unknown parameter ...), 400 `twilio_auth_failed` for 401/20003 (the user's
      credentials, not ours), 404 for unknown resources, 422 for 21610 (opted out),
      429 when Twilio is rate limiting us (after our own retries).
    * Twilio 5xx, timeouts, connection failures -> 502/504: not the caller's fault, and
      not something a 4xx could describe honestly.
    """
    if not isinstance(exc, TwilioRestException) and isinstance(exc, TwilioException):
        # Listing (`.list()`, `.stream()`) raises a bare TwilioException("Unable to fetch page",
        # response) instead; rebuild the REST error from the response it carries.
        response = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(response, Response):
            try:
                body = json.loads(response.text)
            except ValueError:
                body = {}
            exc = TwilioRestException(
                response.status_code, "", body.get("message", ""), body.get("code", response.status_code)
            )
    if isinstance(exc, TwilioRestException):
        number = exc.code if isinstance(exc.code, int) and exc.code != exc.status else None
        # twilio-python prefixes Twilio's message with "Unable to create record: " and the like.
        message = re.sub(r"^Unable to \w+ record: ", "", str(exc.msg or "").strip()) or "Twilio rejected the request"
        if exc.status >= 500:
            return TwilioError("twilio_unavailable", "Twilio is unavailable; try again shortly", 502, number)
        if exc.status == 401 or number == 20003:
            return TwilioError(
                "twilio_auth_failed",
                "Twilio rejected this workspace's credentials; reconnect the Twilio account",
                400,
                20003,
            )
        if exc.status == 429 or number == 20429:
            return TwilioError(
                "twilio_rate_limited", "Twilio is rate limiting this account; try again shortly", 429, number or 20429
            )
        status = _STATUS_BY_CODE.get(number, 404 if exc.status == 404 else 400)
        return TwilioError(f"twilio_{number}" if number else "twilio_error", message, status, number)
    if isinstance(exc, requests.exceptions.Timeout):
        return TwilioError("twilio_timeout", "Twilio did not answer in time", 504)
    if isinstance(exc, requests.exceptions.RequestException):
        return TwilioError("twilio_unreachable", "Twilio could not be reached", 502)
    raise TypeError(f"not a Twilio call failure: {exc!r}") from exc
