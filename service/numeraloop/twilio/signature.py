"""X-Twilio-Signature checking, as Twilio documents it: HMAC-SHA1 over the public URL
(PUBLIC_BASE_URL + path + query) and the sorted POST parameters, keyed by the auth token
of the account the request is about.

Decrypting a token costs a pgcrypto call, so tokens are cached in-process for a short
time; a signature that fails against a cached token is retried once with a fresh one, so a
token changed by reconnecting takes effect at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from flask import current_app, request
from twilio.request_validator import RequestValidator

from ..db import as_service, current_pool
from ..errors import ApiError

log = logging.getLogger(__name__)
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class WebhookContext:
    workspace_id: str
    account_sid: str
    phone_number_id: str | None = None


class _TokenCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, list]] = {}

    def get(self, key):
        with self._lock:
            hit = self._entries.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            return None

    def put(self, key, rows):
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + CACHE_SECONDS, rows)


def _cache() -> _TokenCache:
    return current_app.extensions.setdefault("numeraloop.twilio_tokens", _TokenCache())


def public_url() -> str:
    """The URL Twilio signed: the configured public base plus the path and query we received."""
    base = current_app.config["NUMERALOOP"].public_base_url
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def _lookup(kind: str, value: str) -> list[dict]:
    config = current_app.config["NUMERALOOP"]
    keyring = json.dumps(config.keyring())
    with as_service(current_pool()) as conn:
        if kind == "number":
            rows = conn.execute("select * from private.webhook_credentials_for_number(%s, %s::jsonb)",
                                (value, keyring)).fetchall()
        else:
            rows = conn.execute("select * from private.webhook_credentials_for_account(%s, %s::jsonb)",
                                (value, keyring)).fetchall()
    return rows


def verify(kind: str, value: str, account_sid: str | None) -> WebhookContext:
    """403 unless the request is signed by the account that owns `value` (a number or an account SID)."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not value:
        raise ApiError(403, "invalid_signature", "Missing or invalid X-Twilio-Signature.")
    url = public_url()
    params = request.form.to_dict(flat=False)
    flat = {k: v if len(v) > 1 else v[0] for k, v in params.items()}
    cache = _cache()
    for fresh in (False, True):
        rows = None if fresh else cache.get((kind, value))
        if rows is None:
            rows = _lookup(kind, value)
            cache.put((kind, value), rows)
        for row in rows:
            if account_sid and row["account_sid"] != account_sid:
                continue
            if RequestValidator(row["auth_token"]).validate(url, flat, signature):
                return WebhookContext(workspace_id=str(row["workspace_id"]), account_sid=row["account_sid"],
                                      phone_number_id=str(row["phone_number_id"]) if row.get("phone_number_id") else None)
    log.warning("rejected Twilio request to %s: bad signature for %s", request.path, kind)
    raise ApiError(403, "invalid_signature", "Missing or invalid X-Twilio-Signature.")
