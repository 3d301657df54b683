"""X-Twilio-Signature checking, as Twilio documents it: HMAC-SHA1 over the public URL
(PUBLIC_BASE_URL + path + query) and the sorted POST parameters, keyed by the auth token
of the account the request is about.

What no Twilio request can be is refused with 403 before anything reaches the database: a
repeated parameter, a NUL byte (PostgreSQL text cannot hold one), an AccountSid that is not
AC + 32 hex digits, a number that is not E.164.

Decrypting a token costs a pgcrypto call, so tokens are cached in-process for a short
time. A signature that fails against a cached token is retried with a fresh lookup, so a
token changed by reconnecting takes effect, but at most once per key every
REFRESH_SECONDS: forged requests for a real number cannot make every request a lookup and
a decrypt.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass

import psycopg
from flask import current_app, request
from twilio.request_validator import RequestValidator

from ..db import as_service, current_pool
from ..errors import ApiError
from .credentials import CredentialsUnavailable

log = logging.getLogger(__name__)
CACHE_SECONDS = 60.0
REFRESH_SECONDS = 5.0
MAX_CACHE_ENTRIES = 10_000
# Matched with fullmatch: `$` would also let a trailing newline through.
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
LOOKUP_FORMATS = {"account": ACCOUNT_SID, "number": E164}


@dataclass(frozen=True)
class WebhookContext:
    workspace_id: str
    account_sid: str
    phone_number_id: str | None = None


@dataclass
class _Entry:
    expires_at: float
    fetched_at: float
    rows: list


class _TokenCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[tuple, _Entry] = {}

    def get(self, key):
        with self._lock:
            hit = self._entries.get(key)
            if hit and hit.expires_at > time.monotonic():
                return hit.rows
            return None

    def put(self, key, rows):
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= MAX_CACHE_ENTRIES:
                self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}
                if len(self._entries) >= MAX_CACHE_ENTRIES:
                    self._entries.clear()
            self._entries[key] = _Entry(expires_at=now + CACHE_SECONDS, fetched_at=now, rows=rows)

    def claim_refresh(self, key) -> bool:
        """True when this caller may look `key` up again: at most one caller per key per REFRESH_SECONDS,
        even when many requests fail at the same moment."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return True
            if now - entry.fetched_at < REFRESH_SECONDS:
                return False
            entry.fetched_at = now
            return True


def _cache() -> _TokenCache:
    return current_app.extensions.setdefault("numeraloop.twilio_tokens", _TokenCache())


def _refuse(reason: str) -> ApiError:
    log.warning("rejected Twilio request to %s: %s", request.path, reason)
    return ApiError(403, "invalid_signature", "Missing or invalid X-Twilio-Signature.")


def screen_request() -> None:
    """403 for a request no Twilio webhook can be, before any lookup: a repeated parameter, a NUL byte
    (in a name or a value, of the query or the form), or an uploaded file.

    Twilio sends each parameter once; a repeated one would also be signed and read differently
    (the signature covers every value, the routes read the first).
    """
    if request.files:
        raise _refuse("a file upload")
    for source in (request.args, request.form):
        for name, values in source.lists():
            if len(values) > 1:
                raise _refuse(f"parameter {name[:40]!r} repeated")
            if "\x00" in name or "\x00" in values[0]:
                raise _refuse("a NUL byte in a parameter")


def public_url() -> str:
    """The URL Twilio signed: the configured public base plus the path and query we received."""
    base = current_app.config["NUMERALOOP"].public_base_url
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def _lookup(kind: str, value: str) -> list[dict]:
    config = current_app.config["NUMERALOOP"]
    keyring = json.dumps(config.keyring())
    function = "webhook_credentials_for_number" if kind == "number" else "webhook_credentials_for_account"
    try:
        with as_service(current_pool()) as conn:
            return conn.execute(f"select * from private.{function}(%s, %s::jsonb)", (value, keyring)).fetchall()
    except psycopg.errors.InvalidAuthorizationSpecification as exc:
        # The SQL function's message names the key version that failed and nothing about the data.
        log.error("cannot decrypt the Twilio auth token for a webhook: %s", exc.diag.message_primary)
        raise CredentialsUnavailable(
            "The stored Twilio credentials cannot be decrypted with this server's key."
        ) from None


def _match(rows: list[dict], account_sid: str | None, url: str, params: dict, signature: str) -> WebhookContext | None:
    for row in rows:
        if account_sid and row["account_sid"] != account_sid:
            continue
        if RequestValidator(row["auth_token"]).validate(url, params, signature):
            return WebhookContext(
                workspace_id=str(row["workspace_id"]),
                account_sid=row["account_sid"],
                phone_number_id=str(row["phone_number_id"]) if row.get("phone_number_id") else None,
            )
    return None


def verify(kind: str, value: str, account_sid: str | None) -> WebhookContext:
    """403 unless the request is signed by the account that owns `value` (a number or an account SID)."""
    screen_request()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not value:
        raise _refuse("no signature" if not signature else f"no {kind}")
    if not LOOKUP_FORMATS[kind].fullmatch(value):
        raise _refuse(f"not a valid {kind}")
    if account_sid and not ACCOUNT_SID.fullmatch(account_sid):
        raise _refuse("not a valid AccountSid")
    url = public_url()
    params = request.form.to_dict()
    cache = _cache()
    key = (kind, value)
    rows = cache.get(key)
    if rows is None:
        rows = _lookup(kind, value)
        cache.put(key, rows)
    elif (ctx := _match(rows, account_sid, url, params, signature)) is not None:
        return ctx
    elif cache.claim_refresh(key):
        rows = _lookup(kind, value)
        cache.put(key, rows)
    else:
        raise _refuse(f"bad signature for {kind} (cached token)")
    ctx = _match(rows, account_sid, url, params, signature)
    if ctx is None:
        raise _refuse(f"bad signature for {kind}")
    return ctx
