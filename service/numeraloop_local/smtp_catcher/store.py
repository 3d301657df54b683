"""The messages the catcher received, parsed once, newest last, bounded in number."""

from __future__ import annotations

import collections
import itertools
import threading
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses

MESSAGE_LIMIT = 1_000


class MessageStore:
    def __init__(self, limit: int = MESSAGE_LIMIT):
        self.lock = threading.Lock()
        self.messages: collections.OrderedDict[str, dict] = collections.OrderedDict()
        self.limit = limit
        self._ids = itertools.count(1)

    def add(self, mail_from: str, rcpt_tos: list[str], raw: bytes, peer: str = "") -> dict:
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        text = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        with self.lock:
            message_id = str(next(self._ids))
            message = {
                "id": message_id,
                "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "envelope": {"from": mail_from, "to": list(rcpt_tos), "peer": peer},
                "from": str(parsed.get("From", "")),
                "to": [addr for _, addr in getaddresses(parsed.get_all("To", []))],
                "subject": str(parsed.get("Subject", "")),
                "size": len(raw),
                "text": text.get_content() if text is not None else "",
                "html": html.get_content() if html is not None else "",
                "headers": [[name, str(value)] for name, value in parsed.items()],
                "raw": raw,
            }
            self.messages[message_id] = message
            while len(self.messages) > self.limit:
                self.messages.popitem(last=False)
        return message

    def list(self, to: str | None = None, limit: int | None = None) -> list[dict]:
        """Newest first; `to` matches any envelope or header recipient, ignoring case."""
        with self.lock:
            found = list(reversed(self.messages.values()))
        if to:
            wanted = to.lower()
            found = [m for m in found if wanted in {a.lower() for a in m["envelope"]["to"] + m["to"]}]
        return found[:limit] if limit else found

    def get(self, message_id: str) -> dict | None:
        with self.lock:
            return self.messages.get(message_id)

    def delete(self, message_id: str | None = None) -> int:
        with self.lock:
            if message_id is None:
                count = len(self.messages)
                self.messages.clear()
                return count
            return 1 if self.messages.pop(message_id, None) is not None else 0


def summary(message: dict) -> dict:
    return {k: message[k] for k in ("id", "received_at", "from", "to", "subject", "size")}


def detail(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "raw"}
