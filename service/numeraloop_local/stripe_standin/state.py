"""Everything the stand-in remembers, in memory, behind one lock, as Stripe-shaped dicts.

Objects are stored as the JSON Stripe would return (the API answers copies of them), and
every event is a snapshot taken when it happened, as Stripe's are. Logs are bounded so a
stand-in left running under `numeraloop dev` does not grow without limit.
"""

from __future__ import annotations

import collections
import copy
import secrets
import string
import threading
import time

API_VERSION = "2026-10-28.endive"
LOG_LIMIT = 5_000
_ALNUM = string.ascii_letters + string.digits

# The prices the seeded plans sell (supabase/migrations/..._billing.sql), so a fresh
# stand-in and a fresh database agree out of the box.
DEFAULT_PRICES = (
    ("price_numeraloop_starter_monthly", "prod_numeraloopstarter", "NumeraLoop Starter", 2900),
    ("price_numeraloop_pro_monthly", "prod_numeralooppro", "NumeraLoop Pro", 9900),
)
PERIOD_SECONDS = 30 * 24 * 3600


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def now() -> int:
    return int(time.time())


class StandinState:
    def __init__(
        self, api_key: str, webhook_url: str | None = None, webhook_secret: str | None = None, public_url: str = ""
    ):
        self.lock = threading.RLock()
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.public_url = public_url  # where hosted pages live (the server's own URL)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.prices: dict[str, dict] = {}
            self.customers: dict[str, dict] = {}
            self.checkout_sessions: dict[str, dict] = {}
            self.portal_sessions: dict[str, dict] = {}
            self.subscriptions: dict[str, dict] = {}
            self.invoices: dict[str, dict] = {}
            self.payment_methods: dict[str, dict] = {}
            self.events: collections.OrderedDict[str, dict] = collections.OrderedDict()
            self.undelivered: list[str] = []  # events raised by API calls, sent with the next batch
            self.deliveries: collections.deque[dict] = collections.deque(maxlen=LOG_LIMIT)
            self.idempotency: collections.OrderedDict[tuple, dict] = collections.OrderedDict()
            self.invoice_counter = 0
            for price_id, product, name, amount in DEFAULT_PRICES:
                self.add_price(price_id, product, name, amount)

    # -- objects ---------------------------------------------------------------------------
    def add_price(self, price_id: str, product: str, name: str, unit_amount: int, currency: str = "usd") -> dict:
        price = {
            "id": price_id,
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": now(),
            "currency": currency,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": name,
            "product": product,
            "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
            "tax_behavior": "unspecified",
            "type": "recurring",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        with self.lock:
            self.prices[price_id] = price
        return price

    def create_customer(self, params: dict) -> dict:
        customer = {
            "id": new_id("cus_", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "email": params.get("email"),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "name": params.get("name"),
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
        }
        with self.lock:
            self.customers[customer["id"]] = customer
            self.record_event("customer.created", customer, deliver_later=True)
        return customer

    def next_invoice_number(self, customer_id: str) -> str:
        with self.lock:
            self.invoice_counter += 1
            return f"{customer_id[4:12].upper()}-{self.invoice_counter:04d}"

    # -- events ----------------------------------------------------------------------------
    def record_event(
        self,
        type_: str,
        obj: dict,
        previous: dict | None = None,
        deliver_later: bool = False,
        created: int | None = None,
    ) -> dict:
        """A Stripe event carrying a snapshot of `obj` as it is now."""
        data = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": created if created is not None else now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
        with self.lock:
            self.events[event["id"]] = event
            while len(self.events) > LOG_LIMIT:
                self.events.popitem(last=False)
            if deliver_later:
                self.undelivered.append(event["id"])
        return event

    def take_undelivered(self) -> list[dict]:
        with self.lock:
            pending = [self.events[e] for e in self.undelivered if e in self.events]
            self.undelivered.clear()
        return pending
