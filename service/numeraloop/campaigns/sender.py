"""Sends campaign messages. Any number of senders can run, in any number of worker processes:
each claims due recipients through private.claim_campaign_recipients() (skip locked, with a
lease, at each campaign's send_rate shared by all of them), then per recipient, presenting the
claim's owner token at every step (a sender whose lease ran out is refused, "claim_lost", once
another holds the recipient, so two never both text it)

1. records the message row (private.prepare_campaign_message: an ordinary outbound message,
   source 'campaign', in the contact's conversation), so a status callback always finds it;
2. hands it to Twilio with the StatusCallback set, as a single send does;
3. records the outcome: sent (private.record_campaign_send), back in the queue after a rate
   limit (429/20429, with backoff), or failed with Twilio's code (21610 also opts the number
   out) (private.record_campaign_failure).

A campaign that cannot be sent at all (Twilio not connected or refusing the credentials, the
sender number released) is paused with the reason in campaigns.last_error
(private.halt_campaign) instead of failing every recipient.
"""

from __future__ import annotations

import collections
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg

from ..config import Config
from ..db import as_service
from ..errors import ApiError
from ..messaging.segments import count
from ..twilio import credentials, webhook_urls
from ..twilio.access import client_for, twilio_call

log = logging.getLogger(__name__)

LOG_EVERY = 100  # one INFO progress line per campaign every this many recipients handled (per process)
MAX_BACKOFF_SECONDS = 60
HALTING_TWILIO_CODES = {20003: "Twilio rejected the workspace's credentials (20003); reconnect Twilio, then resume"}


def backoff_seconds(attempts: int) -> int:
    """Wait before a rate-limited recipient is tried again: 1, 2, 4 ... 60 seconds."""
    return min(MAX_BACKOFF_SECONDS, 2 ** max(attempts - 1, 0))


class CampaignSender:
    def __init__(self, pool, config: Config, batch: int = 50, lease_seconds: int = 120, concurrency: int = 8,
                 log_every: int = LOG_EVERY):
        self.pool = pool
        self.config = config
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.log_every = log_every
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="campaign")
        self._local = threading.local()
        self._handled: collections.Counter[str] = collections.Counter()
        self._handled_lock = threading.Lock()

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    # -- claiming ------------------------------------------------------------------------
    def claim(self) -> list[dict]:
        with as_service(self.pool) as conn:
            return conn.execute("select * from private.claim_campaign_recipients(%s, %s)",
                                (self.batch, self.lease_seconds)).fetchall()

    def run_once(self) -> int:
        """Claim one batch and send it; returns how many recipients were claimed."""
        rows = self.claim()
        by_workspace: dict[str, list[dict]] = collections.defaultdict(list)
        for row in rows:
            by_workspace[str(row["workspace_id"])].append(row)
        jobs = []
        for workspace_id, batch in by_workspace.items():
            creds = self._credentials(workspace_id, batch)
            if creds is not None:
                jobs.extend((row, creds) for row in batch)
        if jobs:
            list(self.executor.map(lambda job: self.send(*job), jobs))
        return len(rows)

    def run_forever(self, stop: threading.Event, idle_seconds: float = 0.5) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database blinked: log, wait, carry on (leases bring rows back)
                log.exception("campaign sender: claiming failed; retrying shortly")
                busy = 0
            if not busy:
                stop.wait(idle_seconds)

    def _credentials(self, workspace_id: str, batch: list[dict]):
        try:
            with as_service(self.pool) as conn:
                creds = credentials.load_for_workspace(conn, self.config, workspace_id)
        except ApiError as exc:  # the key is missing or does not decrypt these credentials
            creds, reason = None, exc.message
        else:
            reason = "Twilio is not connected to this workspace; connect it, then resume"
        if creds is None:
            for campaign_id in {str(row["campaign_id"]) for row in batch}:
                self.halt(campaign_id, reason, [row["claim_token"] for row in batch
                                                if str(row["campaign_id"]) == campaign_id])
        return creds

    # -- one recipient -------------------------------------------------------------------
    def send(self, row: dict, creds) -> str:
        """Send one claimed recipient's message; returns what became of it."""
        try:
            outcome = self._send(row, creds)
        except Exception:  # unexpected: its lease expires and the claim settles it
            log.exception("campaign %s: recipient %s could not be processed", row["campaign_id"], row["recipient_id"])
            outcome = "error"
        self._progress(str(row["campaign_id"]), outcome)
        return outcome

    def _send(self, row: dict, creds) -> str:
        body = row["body"] or ""
        info = count(body)
        try:
            with as_service(self.pool) as conn:
                prepared = conn.execute("select private.prepare_campaign_message(%s, %s, %s, %s, %s) as r",
                                        (row["recipient_id"], row["claim_token"], body, info.segments,
                                         info.encoding)).fetchone()["r"]
        except psycopg.errors.InvalidParameterValue:  # 22023: the sender number is no longer active
            self.halt(str(row["campaign_id"]), "the campaign's sender number is no longer active",
                      [row["claim_token"]])
            return "halted"
        if not prepared["send"]:
            if prepared["reason"] in ("claim_lost", "claim_expired"):
                log.warning("campaign %s: recipient %s not sent, its claim ran out before the send (%s)",
                            row["campaign_id"], row["recipient_id"], prepared["reason"])
            return prepared["reason"]

        options = {"to": row["to_e164"], "from_": row["from_e164"],
                   "status_callback": webhook_urls.message_status(self.config.public_base_url)}
        if body:
            options["body"] = body
        if row["media_urls"]:
            options["media_url"] = list(row["media_urls"])
        try:
            with twilio_call("send a campaign message"):
                sent = self._client(creds).api.v2010.accounts(creds.account_sid).messages.create(**options)
        except ApiError as exc:
            return self._failed(row, exc)
        with as_service(self.pool) as conn:
            result = conn.execute("select private.record_campaign_send(%s, %s, %s, %s) as r",
                                  (row["recipient_id"], row["claim_token"], sent.sid,
                                   str(sent.status or "queued"))).fetchone()["r"]
        if result["status"] == "claim_lost":
            # The lease ran out while Twilio took the message, and a claim settled the recipient meanwhile.
            log.error("campaign %s: recipient %s was sent (%s) after its claim ended; the send is not recorded",
                      row["campaign_id"], row["recipient_id"], sent.sid)
            return "claim_lost"
        if result["campaign_completed"]:
            log.info("campaign %s completed", row["campaign_id"])
        return "sent"

    def _failed(self, row: dict, exc: ApiError) -> str:
        code = exc.extra.get("twilio_code")
        retry = None
        if exc.status == 429 or code == 20429 or code in HALTING_TWILIO_CODES:
            retry = backoff_seconds(row["attempts"])
        with as_service(self.pool) as conn:
            result = conn.execute("select private.record_campaign_failure(%s, %s, %s, %s, %s) as r",
                                  (row["recipient_id"], row["claim_token"], code, exc.message[:1000],
                                   retry)).fetchone()["r"]
        if code in HALTING_TWILIO_CODES:
            self.halt(str(row["campaign_id"]), HALTING_TWILIO_CODES[code])
            return "halted"
        if result["status"] == "pending":
            log.warning("campaign %s: rate limited by Twilio; recipient %s retries in %ss", row["campaign_id"],
                        row["recipient_id"], retry)
            return "retry"
        return result["status"]

    def halt(self, campaign_id: str, reason: str, release: list | None = None) -> None:
        """Pause the campaign; `release`: the owner tokens of this sender's claims that go back to pending."""
        with as_service(self.pool) as conn:
            conn.execute("select private.halt_campaign(%s, %s, %s)", (campaign_id, reason, release or []))
        log.error("campaign %s paused: %s", campaign_id, reason)

    def _client(self, creds):
        """One Twilio client per thread and credentials, so connections are reused across sends."""
        clients = getattr(self._local, "clients", None)
        if clients is None or len(clients) > 100:
            clients = self._local.clients = {}
        if creds not in clients:
            clients[creds] = client_for(creds, self.config)
        return clients[creds]

    # -- progress --------------------------------------------------------------------------
    def _progress(self, campaign_id: str, outcome: str) -> None:
        if outcome == "retry":
            return
        with self._handled_lock:
            self._handled[campaign_id] += 1
            due = self._handled[campaign_id] % self.log_every == 0
        if not due:
            return
        with as_service(self.pool) as conn:
            row = conn.execute(
                "select k.status, k.recipients_total, count(*) filter (where r.status = 'sent') as sent, "
                "count(*) filter (where r.status = 'failed') as failed, "
                "count(*) filter (where r.status like 'skipped%%') as skipped "
                "from public.campaigns k join public.campaign_recipients r on r.campaign_id = k.id "
                "where k.id = %s group by k.id", (campaign_id,)).fetchone()
        if row:
            log.info("campaign %s: %d/%d sent, %d failed, %d skipped (%s)", campaign_id, row["sent"],
                     row["recipients_total"], row["failed"], row["skipped"], row["status"])
