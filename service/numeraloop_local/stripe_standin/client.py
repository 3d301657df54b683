"""A small client for the control API, for tests and the CLI."""

from __future__ import annotations

import requests


class StandinError(Exception):
    def __init__(self, status: int, body):
        super().__init__(f"stripe stand-in answered {status}: {body}")
        self.status, self.body = status, body


class StandinControl:
    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.trust_env = False

    def _call(self, method: str, path: str, json=None, params=None):
        response = self.http.request(
            method, f"{self.url}/_standin{path}", json=json, params=params, timeout=self.timeout
        )
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise StandinError(response.status_code, body)
        return response.json() if response.content else None

    def set_webhook(self, url: str | None, secret: str | None) -> dict:
        return self._call("PUT", "/webhook", {"url": url, "secret": secret})

    def complete_checkout(self, session_id: str, **options) -> dict:
        return self._call("POST", f"/checkout_sessions/{session_id}/complete", options)

    def update_subscription(self, sub_id: str, **changes) -> dict:
        return self._call("POST", f"/subscriptions/{sub_id}/update", changes)

    def cancel_subscription(self, sub_id: str, **options) -> dict:
        return self._call("POST", f"/subscriptions/{sub_id}/cancel", options)

    def renew_subscription(self, sub_id: str, paid: bool = True, **options) -> dict:
        return self._call("POST", f"/subscriptions/{sub_id}/renew", {"paid": paid, **options})

    def events(self, type_: str | None = None) -> list[dict]:
        return self._call("GET", "/events", params={"type": type_} if type_ else None)

    def deliver(self, event_id: str, **options) -> dict:
        return self._call("POST", f"/events/{event_id}/deliver", options)

    def deliveries(self) -> list[dict]:
        return self._call("GET", "/deliveries")

    def reset(self) -> None:
        self._call("POST", "/reset")
