"""`SandboxControl`: drive a running sandbox's control API from tests or scripts, over HTTP."""

from __future__ import annotations

import time
from urllib.parse import quote

import requests


class SandboxError(RuntimeError):
    def __init__(self, status: int, body):
        super().__init__(f"sandbox control API answered {status}: {body}")
        self.status, self.body = status, body


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 15.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.trust_env = False  # 127.0.0.1 must never go through an environment proxy

    # -- plumbing --------------------------------------------------------------------
    def _call(self, method: str, path: str, ok=(200, 201, 204), **kwargs):
        response = self.http.request(method, f"{self.base_url}/_sandbox{path}", timeout=self.timeout, **kwargs)
        body = response.json() if response.content else None
        if response.status_code not in ok:
            raise SandboxError(response.status_code, body)
        return body

    @property
    def api_base_url(self) -> str:
        """What TWILIO_API_BASE_URL should be for the service to talk to this sandbox."""
        return self.base_url

    def health(self) -> bool:
        return bool(self._call("GET", "/health")["ok"])

    def reset(self) -> None:
        self._call("POST", "/reset")

    def settings(self, **changes) -> dict:
        return self._call("PUT" if changes else "GET", "/settings", json=changes or None)

    # -- arranging ---------------------------------------------------------------------
    def create_account(
        self, sid: str | None = None, auth_token: str | None = None, friendly_name: str | None = None
    ) -> dict:
        """{"sid", "auth_token", "friendly_name"}; a fixed sid/token makes a reproducible seed."""
        return self._call(
            "POST", "/accounts", json={"sid": sid, "auth_token": auth_token, "friendly_name": friendly_name}
        )

    def add_number(self, account_sid: str, phone_number: str, **settings) -> dict:
        """Give an account a number without buying it; settings: sms_url, sms_method, voice_url,
        voice_method, status_callback, status_callback_method, friendly_name. Returns the resource."""
        return self._call("POST", f"/accounts/{account_sid}/numbers", json={"phone_number": phone_number, **settings})

    def unsubscribe(self, account_sid: str, number: str) -> None:
        self._call("POST", f"/accounts/{account_sid}/unsubscribed", json={"number": number})

    def resubscribe(self, account_sid: str, number: str) -> None:
        self._call("DELETE", f"/accounts/{account_sid}/unsubscribed/{quote(number)}")

    def unsubscribed(self, account_sid: str) -> list[str]:
        return self._call("GET", f"/accounts/{account_sid}/unsubscribed")

    def set_scenario(self, number: str, scenario: str, error_code: int | None = None) -> None:
        """Every message to `number` plays out `scenario`: delivered, undelivered, failed,
        duplicate, out_of_order or none."""
        self._call("PUT", f"/scenarios/{quote(number)}", json={"scenario": scenario, "error_code": error_code})

    def clear_scenario(self, number: str) -> None:
        self._call("DELETE", f"/scenarios/{quote(number)}")

    def queue_scenario(self, account_sid: str, scenario: str, error_code: int | None = None, count: int = 1) -> None:
        """The next `count` messages the account creates play out `scenario` (per-message choice)."""
        self._call(
            "POST",
            f"/accounts/{account_sid}/next_scenarios",
            json={"scenario": scenario, "error_code": error_code, "count": count},
        )

    def set_rate_limit(self, account_sid: str, per_second: float | None, burst: int | None = None) -> None:
        """Requests beyond the rate get 429/20429; `per_second=None` lifts the limit."""
        self._call("PUT", f"/accounts/{account_sid}/rate_limit", json={"per_second": per_second, "burst": burst})

    def add_fault(
        self,
        account_sid: str,
        status: int = 429,
        code: int = 20429,
        message: str = "Too Many Requests",
        times: int | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        delay: float = 0.0,
    ) -> dict:
        """Matching REST requests get this error (`times` of them, or until cleared), after `delay` seconds."""
        return self._call(
            "POST",
            f"/accounts/{account_sid}/faults",
            json={
                "status": status,
                "code": code,
                "message": message,
                "times": times,
                "method": method,
                "path_contains": path_contains,
                "delay": delay,
            },
        )

    def clear_faults(self, account_sid: str) -> None:
        self._call("DELETE", f"/accounts/{account_sid}/faults")

    # -- inbound traffic ---------------------------------------------------------------
    def inject_sms(
        self, from_: str, to: str, body: str = "", media: list | None = None, messaging_service_sid: str | None = None
    ) -> dict:
        """An SMS/MMS arrives at `to`; returns the webhook's status, headers and body (TwiML).

        `media` items are URLs or {"url", "content_type"} dicts.
        """
        items = [m if isinstance(m, dict) else {"url": m} for m in media or []]
        return self._call(
            "POST",
            "/inbound/sms",
            ok=(200, 502),
            json={
                "from": from_,
                "to": to,
                "body": body,
                "media": items,
                "messaging_service_sid": messaging_service_sid,
            },
        )

    def inject_call(self, from_: str, to: str, duration: int | None = None) -> dict:
        """A call rings `to`; returns the VoiceUrl's answer. With `duration` the call then completes."""
        return self._call("POST", "/inbound/call", ok=(200, 502), json={"from": from_, "to": to, "duration": duration})

    def record(self, call_sid: str, action: str | None = None, duration: int = 5) -> dict:
        """The caller leaves a message on `call_sid`; with `action` (the <Record action> URL) the
        application gets Twilio's signed callback. {"recording", "webhook"?}."""
        return self._call("POST", f"/calls/{call_sid}/recordings", json={"action": action, "duration": duration})

    def recordings(self, account_sid: str | None = None) -> list[dict]:
        """Every recording, deleted ones included (status "deleted")."""
        return self._call("GET", "/recordings", params={"account_sid": account_sid} if account_sid else None)

    # -- observing ---------------------------------------------------------------------
    def messages(self, **filters) -> list[dict]:
        """Filters: account_sid, to, from, direction, status."""
        return self._call("GET", "/messages", params=filters)

    def sent(self, account_sid: str, from_: str | None = None) -> dict:
        """{"messages", "recipients", "segments", "segments_per_second": [[epoch second, segments], ...]}."""
        return self._call("GET", f"/accounts/{account_sid}/sent", params={"from": from_} if from_ else None)

    def callbacks(self, sid: str | None = None) -> list[dict]:
        return self._call("GET", "/callbacks", params={"sid": sid} if sid else None)

    def webhooks(self, kind: str | None = None) -> list[dict]:
        return self._call("GET", "/webhooks", params={"kind": kind} if kind else None)

    def requests(self, account_sid: str | None = None) -> list[dict]:
        return self._call("GET", "/requests", params={"account_sid": account_sid} if account_sid else None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every scheduled status callback has been delivered (or given up on)."""
        return self._call("POST", "/wait_idle", json={"timeout": timeout})["idle"]

    def wait_for_callbacks(self, sid: str, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.callbacks(sid)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)
