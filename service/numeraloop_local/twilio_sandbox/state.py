"""Everything the sandbox remembers, in memory, behind one lock.

One `SandboxState` per sandbox app. Requests run on werkzeug's threads and status
callbacks on the dispatcher's, so every read-modify-write happens under `state.lock`
(re-entrant, so helpers can nest). Logs are bounded deques: a sandbox left running
under `numeraloop dev` for a day must not grow without limit.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import ids

LOG_LIMIT = 10_000

# Twilio's opt-out keywords (Advanced Opt-Out defaults); Twilio itself keeps the list of
# numbers that replied STOP and refuses to send to them with 21610.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}

SCENARIOS = {"delivered", "undelivered", "failed", "duplicate", "out_of_order", "none"}


@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str
    date_created: dt.datetime
    status: str = "active"


@dataclass
class ApiKey:
    sid: str
    account_sid: str
    friendly_name: str | None
    secret: str
    date_created: dt.datetime


@dataclass
class PhoneNumber:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    type: str  # "local" | "toll-free"
    date_created: dt.datetime
    date_updated: dt.datetime
    # snake_case resource fields set through the API (sms_url, voice_method, ...).
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    media_urls: list[str]
    direction: str
    status: str
    date_created: dt.datetime
    date_updated: dt.datetime
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    date_sent: dt.datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    scenario: str | None = None
    # The request exactly as received (name -> list of values), for tests to inspect.
    params: dict[str, list[str]] = field(default_factory=dict)
    # When the sandbox took it (epoch seconds, sub-second): what a pacing check counts by.
    received_at: float = field(default_factory=time.time)


@dataclass
class Call:
    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str
    status: str
    date_created: dt.datetime
    date_updated: dt.datetime
    phone_number_sid: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration: str | None = None


@dataclass
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    duration: int
    date_created: dt.datetime
    date_updated: dt.datetime
    # completed, or deleted: Twilio keeps a deleted recording's metadata (no audio) for 40 days,
    # fetched only with IncludeSoftDeleted=true.
    status: str = "completed"


@dataclass
class Application:
    sid: str
    account_sid: str
    friendly_name: str | None
    date_created: dt.datetime
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """How the sandbox plays out one outbound message's delivery."""

    name: str = "delivered"
    error_code: int | None = None

    def __post_init__(self):
        if self.name not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.name!r}; one of {', '.join(sorted(SCENARIOS))}")


@dataclass
class Fault:
    """A failure a test switched on for an account: every matching REST request gets it."""

    status: int = 429
    code: int = 20429
    message: str = "Too Many Requests"
    remaining: int | None = None  # None: until cleared
    method: str | None = None
    path_contains: str | None = None
    delay: float = 0.0  # seconds to stall before answering (client timeout tests)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_contains is None or self.path_contains in path
        )


class TokenBucket:
    """Twilio-style request rate limit: `per_second` sustained, bursts up to `burst`."""

    def __init__(self, per_second: float, burst: int | None = None):
        self.per_second = per_second
        self.capacity = float(burst if burst is not None else max(1, int(per_second)))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class SandboxState:
    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, Account] = {}
            self.keys: dict[str, ApiKey] = {}
            self.numbers: dict[str, PhoneNumber] = {}
            self.messages: dict[str, Message] = {}
            self.calls: dict[str, Call] = {}
            self.recordings: dict[str, Recording] = {}
            self.applications: dict[str, Application] = {}
            self.services: dict = {}  # MG sid -> services.MessagingService
            self.sticky_senders: dict[tuple[str, str], str] = {}  # (service, recipient) -> the number it uses
            self.pool_added: dict[str, dt.datetime] = {}  # number sid -> when it joined a service's pool
            self.unsubscribed: dict[str, set[str]] = collections.defaultdict(set)
            self.number_scenarios: dict[str, Scenario] = {}
            self.next_scenarios: dict[str, collections.deque[Scenario]] = collections.defaultdict(collections.deque)
            self.rate_limits: dict[str, TokenBucket] = {}
            self.faults: dict[str, list[Fault]] = collections.defaultdict(list)
            self.requests_log: collections.deque[dict] = collections.deque(maxlen=LOG_LIMIT)
            self.callbacks_log: collections.deque[dict] = collections.deque(maxlen=LOG_LIMIT)
            self.webhooks_log: collections.deque[dict] = collections.deque(maxlen=LOG_LIMIT)

    # -- accounts and credentials ------------------------------------------------------
    def create_account(
        self, sid: str | None = None, auth_token: str | None = None, friendly_name: str | None = None
    ) -> Account:
        sid = sid or ids.new_sid("AC")
        if not ids.SID_PATTERN["AC"].match(sid):
            raise ValueError("account sid must be AC followed by 32 hex digits")
        with self.lock:
            if sid in self.accounts:
                existing = self.accounts[sid]
                if auth_token and auth_token != existing.auth_token:
                    raise ValueError(f"account {sid} already exists with another auth token")
                return existing
            account = Account(sid, auth_token or ids.new_secret(), friendly_name or f"Sandbox {sid[-6:]}", ids.now())
            self.accounts[sid] = account
            return account

    def authenticate(self, username: str | None, password: str | None) -> Account | None:
        """The account these Basic credentials act for: its auth token or one of its API keys."""
        if not username or not password:
            return None
        with self.lock:
            account = self.accounts.get(username)
            if account is not None:
                return account if _same(password, account.auth_token) else None
            key = self.keys.get(username)
            if key is not None and _same(password, key.secret):
                return self.accounts.get(key.account_sid)
        return None

    # -- numbers ---------------------------------------------------------------------
    def number_by_e164(self, phone_number: str) -> PhoneNumber | None:
        with self.lock:
            return next((n for n in self.numbers.values() if n.phone_number == phone_number), None)

    def add_number(self, account_sid: str, phone_number: str, kind: str = "local", **settings) -> PhoneNumber:
        with self.lock:
            if self.number_by_e164(phone_number) is not None:
                raise ValueError(f"{phone_number} is already owned")
            stamp = ids.now()
            number = PhoneNumber(
                ids.new_sid("PN"),
                account_sid,
                phone_number,
                settings.pop("friendly_name", None) or ids.national_format(phone_number),
                kind,
                stamp,
                stamp,
            )
            number.settings.update(settings)
            self.numbers[number.sid] = number
            return number

    def numbers_of(self, account_sid: str) -> list[PhoneNumber]:
        with self.lock:
            return [n for n in self.numbers.values() if n.account_sid == account_sid]

    # -- delivery scenarios ------------------------------------------------------------
    def scenario_for(self, account_sid: str, to: str, default: str = "delivered") -> Scenario:
        """A queued per-message scenario wins over the destination's, which wins over the default."""
        with self.lock:
            queued = self.next_scenarios.get(account_sid)
            if queued:
                return queued.popleft()
            return self.number_scenarios.get(to) or Scenario(default)

    # -- rate limits and faults ---------------------------------------------------------
    def fault_for(self, account_sid: str, method: str, path: str) -> Fault | None:
        with self.lock:
            bucket = self.rate_limits.get(account_sid)
            if bucket is not None and not bucket.take():
                return Fault()
            for fault in self.faults.get(account_sid, []):
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self.faults[account_sid].remove(fault)
                    return dataclasses.replace(fault)
        return None

    # -- logs ------------------------------------------------------------------------
    def log(self, which: str, entry: dict) -> None:
        with self.lock:
            getattr(self, which).append(entry)

    def snapshot(self, which: str) -> list[dict]:
        with self.lock:
            return [dict(e) for e in getattr(self, which)]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
