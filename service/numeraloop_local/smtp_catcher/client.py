"""A small client of the catcher's JSON API, for tests and scripts."""

from __future__ import annotations

import time

import requests


class CatcherClient:
    def __init__(self, base_url: str, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def messages(self, to: str | None = None) -> list[dict]:
        r = self.http.get(f"{self.base_url}/api/messages", params={"to": to} if to else None, timeout=self.timeout)
        r.raise_for_status()
        return r.json()["messages"]

    def message(self, message_id: str) -> dict:
        r = self.http.get(f"{self.base_url}/api/messages/{message_id}", timeout=self.timeout)
        r.raise_for_status()
        return r.json()

    def clear(self) -> None:
        self.http.delete(f"{self.base_url}/api/messages", timeout=self.timeout).raise_for_status()

    def wait_for(self, to: str, subject: str | None = None, timeout: float = 10, count: int = 1) -> dict:
        """The newest message to `to` (whose subject contains `subject`), once `count` such have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages(to=to) if subject is None or subject in m["subject"]]
            if len(found) >= count:
                return self.message(found[0]["id"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"no message to {to} (subject {subject!r}) within {timeout}s")
            time.sleep(0.05)
