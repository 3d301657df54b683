"""The deletions Twilio and Stripe still owe us, done by `numeraloop worker`.

Deleting data in the database (the nightly purge, a workspace or an account deletion) cannot call
out, so it queues what the providers hold in private.provider_cleanup, in the same transaction
(supabase/migrations/20261128009800_provider_cleanup.sql). This loop claims due tasks (skip locked,
a lease, so any number of workers share the queue) and does each:

  delete_recording        DELETE .../Recordings/<RE>.json with the account's auth token
  clear_number_webhooks   the number's SmsUrl, VoiceUrl and StatusCallback emptied; it stays in the
                          customer's account
  cancel_subscription     the Stripe subscription canceled (one already canceled is done)
  delete_customer         the Stripe customer deleted, once its subscriptions are canceled

Something already gone (a 404, Stripe's resource_missing) is done. Any other failure is retried
with backoff by the database; one that outlasts its due date is raised daily by pg_cron.
"""

from __future__ import annotations

import json
import logging
import threading

import psycopg
import requests
import stripe
from twilio.base.exceptions import TwilioRestException

from ..config import Config
from ..db import as_service
from ..errors import ApiError
from ..stripe.client import make_stripe_client
from ..twilio.client import make_twilio_client

log = logging.getLogger(__name__)

LEASE_SECONDS = 120


class CleanupFailed(Exception):
    """The task could not be done now; the message (a code, never a response body) is kept on it."""


class ProviderCleanup:
    def __init__(self, pool, config: Config, batch: int = 20, lease_seconds: int = LEASE_SECONDS):
        self.pool = pool
        self.config = config
        self.batch = batch
        self.lease_seconds = lease_seconds
        self._stripe = None

    def run_once(self) -> int:
        """Claims due tasks and does each; returns how many were claimed."""
        with as_service(self.pool) as conn:
            tasks = conn.execute(
                "select * from private.claim_provider_cleanup(%s, %s)", (self.batch, self.lease_seconds)
            ).fetchall()
        for task in tasks:
            try:
                self._perform(task)
                error = None
                log.info("provider cleanup %s: %s %s done", task["id"], task["action"], task["resource_id"])
            except CleanupFailed as exc:
                error = str(exc)
                log.warning(
                    "provider cleanup %s: %s %s failed (attempt %s): %s",
                    task["id"],
                    task["action"],
                    task["resource_id"],
                    task["attempts"],
                    error,
                )
            with as_service(self.pool) as conn:
                conn.execute("select private.finish_provider_cleanup(%s, %s)", (task["id"], error))
        return len(tasks)

    def run_forever(self, stop: threading.Event, idle_seconds: float = 5.0) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database blinked: log, wait, carry on
                log.exception("provider cleanup: claiming failed; retrying shortly")
                busy = 0
            if not busy:
                stop.wait(idle_seconds)

    def close(self) -> None:
        pass

    # -- the tasks --------------------------------------------------------------------------
    def _perform(self, task: dict) -> None:
        action = task["action"]
        if action in ("delete_recording", "clear_number_webhooks"):
            self._twilio(task)
        elif action == "cancel_subscription":
            self._cancel_subscription(task["resource_id"])
        elif action == "delete_customer":
            self._delete_customer(task["resource_id"])
        else:
            raise CleanupFailed(f"unknown action {action}")

    def _twilio(self, task: dict) -> None:
        account_sid = task["account_sid"]
        if account_sid is None:
            raise CleanupFailed("no Twilio account is known for this resource")
        token = self._twilio_token(account_sid)
        client = make_twilio_client(account_sid, account_sid, token, self.config.twilio_api_base_url)
        account = client.api.v2010.accounts(account_sid)
        try:
            if task["action"] == "delete_recording":
                account.recordings(task["resource_id"]).delete()
            else:
                account.incoming_phone_numbers(task["resource_id"]).update(sms_url="", voice_url="", status_callback="")
        except TwilioRestException as exc:
            if exc.status == 404:
                return  # deleted already, or the number was released: nothing of ours is left there
            raise CleanupFailed(f"twilio {exc.status} {exc.code or ''}".strip()) from None
        except requests.exceptions.RequestException as exc:
            raise CleanupFailed(f"twilio unreachable: {type(exc).__name__}") from None

    def _twilio_token(self, account_sid: str) -> str:
        keyring = self.config.keyring()
        if not keyring:
            raise CleanupFailed("NUMERALOOP_ENCRYPTION_KEY is not set")
        try:
            with as_service(self.pool) as conn:
                row = conn.execute(
                    "select auth_token from private.provider_cleanup_twilio_credentials(%s, %s::jsonb)",
                    (account_sid, json.dumps(keyring)),
                ).fetchone()
        except psycopg.errors.InvalidAuthorizationSpecification:
            raise CleanupFailed("the stored Twilio credentials cannot be decrypted with this key") from None
        if row is None:
            raise CleanupFailed("no Twilio credentials are kept for this account")
        return row["auth_token"]

    def _stripe_client(self) -> stripe.StripeClient:
        if self._stripe is None:
            try:
                self._stripe = make_stripe_client(self.config)
            except ApiError:
                raise CleanupFailed("STRIPE_SECRET_KEY is not set") from None
        return self._stripe

    def _cancel_subscription(self, subscription_id: str) -> None:
        client = self._stripe_client()
        with _stripe_errors():
            if client.v1.subscriptions.retrieve(subscription_id).status == "canceled":
                return
            client.v1.subscriptions.cancel(subscription_id)

    def _delete_customer(self, customer_id: str) -> None:
        client = self._stripe_client()
        with _stripe_errors():
            client.v1.customers.delete(customer_id)


class _stripe_errors:
    """Stripe's "no such ..." is done; anything else fails the attempt with Stripe's code."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, stripe.InvalidRequestError) and exc.code == "resource_missing":
            return True
        if isinstance(exc, stripe.StripeError):
            raise CleanupFailed(f"stripe {exc.http_status} {exc.code or type(exc).__name__}") from None
        return False
