"""The signature on every outbound webhook, per the Standard Webhooks specification
(https://www.standardwebhooks.com), so a receiver verifies it with an off-the-shelf library in
any language instead of code of its own.

Three headers: `webhook-id` (the event's id: the same on every retry, so receivers de-duplicate
on it), `webhook-timestamp` (unix seconds of this attempt, signed too, so a receiver refuses
replays older than a few minutes) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<raw body>">`). The key is the endpoint's secret, `whsec_<base64 key>`,
made by the database (webhook_endpoints.secret).
"""

from __future__ import annotations

import binascii
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class SecretError(ValueError):
    """The endpoint's secret is not `whsec_<base64>` (the database never makes such a one)."""


def signed_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    try:
        webhook = Webhook(secret)
    except (binascii.Error, EmptyWebhookSecretError):
        raise SecretError("the endpoint's secret is not whsec_ followed by a base64 key") from None
    signature = webhook.sign(msg_id, datetime.fromtimestamp(t, tz=UTC), body.decode())
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(t), SIGNATURE_HEADER: signature}
