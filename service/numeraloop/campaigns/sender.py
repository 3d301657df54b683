"""Sends campaign messages. Any number of senders can run, in any number of worker processes:
each claims due recipients through private.claim_campaign_recipients() (skip locked, with a
short lease this sender renews every few seconds while it lives, and a send_at slot per
recipient that keeps every pace: the campaign's, the sender number's, the account's MMS), then
per recipient, presenting the claim's owner token at every step (a sender whose lease ran out
is refused, "claim_lost", once another holds the recipient, so two never both text it)

1. waits for its slot, and sends nothing once its lease could run out before Twilio answers;
2. for a recipient whose earlier send is uncertain (reconcile), looks the message up at Twilio
   (Messages list by To, From and DateSent) and records it as sent if Twilio has it, else
   re-checks it (private.prepare_campaign_message: a status callback may have settled it);
3. hands its message (recorded by the claim: an ordinary outbound message, source 'campaign',
   in the contact's conversation, so a status callback always finds it) to Twilio with the
   message's own id in the StatusCallback, so the first callback links the SID even if this
   process dies before recording it;
4. records the outcome: sent, for the whole batch in one transaction
   (private.record_campaign_sends); uncertain when Twilio did not answer
   (private.mark_campaign_uncertain: settled by the callback or the next claim's lookup, never
   by guessing); back in the queue after a rate limit (429/20429, with backoff); or failed with
   Twilio's code (21610 also opts the number out) (private.record_campaign_failure).

A campaign that cannot be sent at all (Twilio not connected or refusing the credentials, the
sender number released) is paused with the reason in campaigns.last_error
(private.halt_campaign) instead of failing every recipient.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg.types.json import Jsonb

from ..config import Config
from ..db import as_service
from ..errors import ApiError
from ..messaging.segments import count
from ..twilio import credentials, webhook_urls
from ..twilio.access import twilio_call
from ..twilio.client import make_twilio_client
from . import time_zones

log = logging.getLogger(__name__)

LOG_EVERY = 100  # one INFO progress line per campaign every this many recipients handled (per process)
MAX_BACKOFF_SECONDS = 60
HALTING_TWILIO_CODES = {20003: "Twilio rejected the workspace's credentials (20003); reconnect Twilio, then resume"}
# Twilio may have taken the message: the outcome is settled by looking, never by sending again.
UNCERTAIN_ERRORS = {"twilio_timeout", "twilio_unavailable", "twilio_unreachable"}
CONNECT_TIMEOUT = 2.0
SEND_TIMEOUT = 3.0  # read timeout of a send; a send starts only while the lease outlasts it
LEASE_MARGIN = 0.5
RECONCILE_LOOKBACK = dt.timedelta(seconds=60)  # clocks differ: Twilio's DateSent against our created_at
CREDENTIALS_SECONDS = 30.0


def backoff_seconds(attempts: int) -> int:
    """Wait before a rate-limited recipient is tried again: 1, 2, 4 ... 60 seconds."""
    return min(MAX_BACKOFF_SECONDS, 2 ** max(attempts - 1, 0))


class _Leases:
    """The claims this sender holds and, on this machine's monotonic clock, until when they are surely valid.

    A claim's lease is counted from the moment the claim (or its last renewal) was *asked for*, so
    the local view never outlasts the database's, whatever the round trip took.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def hold(self, tokens: list[str], until: float) -> None:
        with self._lock:
            for token in tokens:
                self._until[token] = until

    def release(self, token: str) -> None:
        with self._lock:
            self._until.pop(token, None)

    def tokens(self) -> list[str]:
        with self._lock:
            return list(self._until)

    def renewed(self, tokens: list[str], until: float) -> None:
        with self._lock:
            for token in tokens:
                if token in self._until:
                    self._until[token] = max(self._until[token], until)

    def remaining(self, token: str) -> float:
        with self._lock:
            until = self._until.get(token)
        return -1.0 if until is None else until - time.monotonic()


class CampaignSender:
    def __init__(
        self,
        pool,
        config: Config,
        batch: int = 50,
        lease_seconds: int = 6,
        concurrency: int = 8,
        log_every: int = LOG_EVERY,
        send_timeout: float = SEND_TIMEOUT,
    ):
        self.renew_every = min(1.0, lease_seconds / 3)
        if send_timeout + LEASE_MARGIN + self.renew_every >= lease_seconds:
            raise ValueError("the lease must outlast a send and a renewal period")
        self.pool = pool
        self.config = config
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.send_timeout = send_timeout
        self.log_every = log_every
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="campaign")
        self._local = threading.local()
        self._handled: collections.Counter[str] = collections.Counter()
        self._handled_lock = threading.Lock()
        self._leases = _Leases()
        self._creds: dict[str, tuple[float, object]] = {}
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._renew_forever, name="campaign-leases", daemon=True)
        self._heartbeat.start()
        time_zones.ensure_loaded(pool)

    def close(self) -> None:
        self._stop.set()
        self.executor.shutdown(wait=True)
        self._heartbeat.join(timeout=5)

    # -- claiming ------------------------------------------------------------------------
    def claim(self) -> list[dict]:
        """Claim a batch and record its messages: the recipients this sender now holds, each with its message."""
        with as_service(self.pool) as conn:
            rows = conn.execute(
                "select c.*, now() as db_now from private.claim_campaign_recipients(%s, %s) c",
                (self.batch, self.lease_seconds),
            ).fetchall()
        return self._make_messages(rows) if rows else rows

    def run_once(self) -> int:
        """Claim one batch and send it; returns how many recipients were claimed."""
        asked = time.monotonic()
        rows = self.claim()
        if not rows:
            return 0
        self._leases.hold([str(r["claim_token"]) for r in rows], asked + self.lease_seconds)
        by_workspace: dict[str, list[dict]] = collections.defaultdict(list)
        for row in rows:
            row["_local_send_at"] = asked + max(0.0, (row["send_at"] - row["db_now"]).total_seconds())
            by_workspace[str(row["workspace_id"])].append(row)
        jobs = []
        try:
            for workspace_id, batch in by_workspace.items():
                creds = self._credentials(workspace_id, batch)
                if creds is not None:
                    jobs.extend((row, creds) for row in batch)
            if jobs:
                done = list(self.executor.map(lambda job: self._attempt(*job), jobs))
                sent = [(row, record) for (row, _), (_, record) in zip(jobs, done, strict=True) if record]
                if sent:
                    self._record_sends(sent)
                for (row, _), (outcome, record) in zip(jobs, done, strict=True):
                    if not record:
                        self._progress(str(row["campaign_id"]), outcome)
        finally:
            for row in rows:
                self._leases.release(str(row["claim_token"]))
        return len(rows)

    def _make_messages(self, rows: list[dict]) -> list[dict]:
        """Record the claimed recipients' messages before any is sent (one transaction); the rows that have one.

        A recipient whose message could not be made is left out: its lease lapses and, having no
        message, it goes back to pending."""
        fresh = [r for r in rows if r["message_id"] is None]
        if not fresh:
            return rows
        payload = []
        for r in fresh:
            info = count(r["body"] or "")
            payload.append(
                {
                    "recipient_id": r["recipient_id"],
                    "claim_token": str(r["claim_token"]),
                    "body": r["body"] or "",
                    "segments": r["segments"],
                    "encoding": info.encoding,
                }
            )
        try:
            with as_service(self.pool) as conn:
                made = {
                    m["recipient_id"]: m
                    for m in conn.execute(
                        "select * from private.make_campaign_messages(%s)", (Jsonb(payload),)
                    ).fetchall()
                }
        except psycopg.Error:
            log.exception("campaign sender: recording %d messages failed; their leases will lapse", len(fresh))
            made = {}
        for r in fresh:
            if r["recipient_id"] in made:
                r["message_id"] = made[r["recipient_id"]]["message_id"]
                r["message_created_at"] = made[r["recipient_id"]]["created_at"]
        return [r for r in rows if r["message_id"] is not None]

    def run_forever(self, stop: threading.Event, idle_seconds: float = 0.2) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database blinked: log, wait, carry on (leases bring rows back)
                log.exception("campaign sender: claiming failed; retrying shortly")
                busy = 0
            if not busy:
                stop.wait(idle_seconds)

    def _renew_forever(self) -> None:
        """Every second (a third of a lease at most), extend the leases of the claims in hand."""
        while not self._stop.wait(self.renew_every):
            tokens = self._leases.tokens()
            if not tokens:
                continue
            asked = time.monotonic()
            try:
                with as_service(self.pool) as conn:
                    conn.execute("select private.renew_campaign_claims(%s::uuid[], %s)", (tokens, self.lease_seconds))
            except Exception:  # no renewal: sends stop as their leases near their end
                log.exception("campaign sender: renewing %d leases failed", len(tokens))
                continue
            self._leases.renewed(tokens, asked + self.lease_seconds)

    def _credentials(self, workspace_id: str, batch: list[dict]):
        cached = self._creds.get(workspace_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            with as_service(self.pool) as conn:
                creds = credentials.load_for_workspace(conn, self.config, workspace_id)
        except ApiError as exc:  # the key is missing or does not decrypt these credentials
            creds, reason = None, exc.message
        else:
            reason = "Twilio is not connected to this workspace; connect it, then resume"
        if creds is None:
            for campaign_id in {str(row["campaign_id"]) for row in batch}:
                self.halt(
                    campaign_id, reason, [row["claim_token"] for row in batch if str(row["campaign_id"]) == campaign_id]
                )
            return None
        self._creds[workspace_id] = (time.monotonic() + CREDENTIALS_SECONDS, creds)
        return creds

    # -- one recipient -------------------------------------------------------------------
    def send(self, row: dict, creds) -> str:
        """Send one claimed recipient's message and record it; returns what became of it."""
        outcome, record = self._attempt(row, creds)
        if record:
            return self._record_sends([(row, record)])[0]
        self._progress(str(row["campaign_id"]), outcome)
        return outcome

    def _attempt(self, row: dict, creds) -> tuple[str, dict | None]:
        """Send one recipient's message; (outcome, the send to record when Twilio took it)."""
        try:
            return self._send(row, creds)
        except Exception:  # unexpected: its lease expires and the claim settles it
            log.exception("campaign %s: recipient %s could not be processed", row["campaign_id"], row["recipient_id"])
            return "error", None

    def _record_sends(self, sent: list[tuple[dict, dict]]) -> list[str]:
        """Record what Twilio took, the batch in one transaction; the outcome of each."""
        payload = [
            {
                "recipient_id": row["recipient_id"],
                "claim_token": str(row["claim_token"]),
                "twilio_sid": record["twilio_sid"],
                "status": record["status"],
                "from": record.get("from"),
            }
            for row, record in sent
        ]
        with as_service(self.pool) as conn:
            result = conn.execute("select private.record_campaign_sends(%s) as r", (Jsonb(payload),)).fetchone()["r"]
            lost = set()
            if result["claim_lost"]:
                lost = {
                    r["id"]
                    for r in conn.execute(
                        "select id from public.campaign_recipients where id = any(%s) and status <> 'sent'",
                        ([row["recipient_id"] for row, _ in sent],),
                    ).fetchall()
                }
        outcomes = []
        for row, record in sent:
            outcome = "reconciled" if record.get("reconciled") else "sent"
            if row["recipient_id"] in lost:
                # The lease ran out while Twilio took the message, and a claim settled the recipient meanwhile.
                log.error(
                    "campaign %s: recipient %s was sent (%s) after its claim ended; the send is not recorded",
                    row["campaign_id"],
                    row["recipient_id"],
                    record["twilio_sid"],
                )
                outcome = "claim_lost"
            outcomes.append(outcome)
            self._progress(str(row["campaign_id"]), outcome)
        if result["campaign_completed"]:
            log.info("a campaign of this batch completed")
        return outcomes

    def _lease_allows_a_send(self, row: dict) -> bool:
        return self._leases.remaining(str(row["claim_token"])) > self.send_timeout + LEASE_MARGIN

    def _send(self, row: dict, creds) -> tuple[str, dict | None]:
        wait = row.get("_local_send_at", 0.0) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if not self._lease_allows_a_send(row):
            log.warning(
                "campaign %s: recipient %s not sent, its lease could run out first",
                row["campaign_id"],
                row["recipient_id"],
            )
            return "claim_expired", None
        body = row["body"] or ""
        if row.get("reconcile"):
            found = self._find_at_twilio(row, creds)
            if found is None:
                return "reconcile_failed", None  # Twilio could not be asked: the lease lapses, the next claim asks
            if found:
                return "reconciled", {"twilio_sid": found[0], "status": found[1], "reconciled": True}
            info = count(body)
            try:
                with as_service(self.pool) as conn:  # Twilio has none; a status callback may have settled it since
                    prepared = conn.execute(
                        "select private.prepare_campaign_message(%s, %s, %s, %s, %s) as r",
                        (row["recipient_id"], row["claim_token"], body, info.segments, info.encoding),
                    ).fetchone()["r"]
            except psycopg.errors.InvalidParameterValue:  # 22023: the sender number is no longer active
                self.halt(
                    str(row["campaign_id"]), "the campaign's sender number is no longer active", [row["claim_token"]]
                )
                return "halted", None
            if not prepared["send"]:
                return prepared["reason"], None

        options = {
            "to": row["to_e164"],
            "status_callback": webhook_urls.message_status(
                self.config.public_base_url, message_id=str(row["message_id"])
            ),
        }
        service = row.get("messaging_service_sid")
        if service:  # Twilio chooses the sender from the service's pool (sticky per recipient)
            options["messaging_service_sid"] = service
        else:
            options["from_"] = row["from_e164"]
        if body:
            options["body"] = body
        if row["media_urls"]:
            options["media_url"] = list(row["media_urls"])
        if not self._lease_allows_a_send(row):
            return "claim_expired", None  # the message row waits; the lease lapses into a reconciliation
        try:
            with twilio_call("send a campaign message"):
                sent = self._messages(creds).create(**options)
        except ApiError as exc:
            if exc.code in UNCERTAIN_ERRORS:
                return self._uncertain(row, exc), None
            return self._failed(row, exc), None
        record = {"twilio_sid": sent.sid, "status": str(sent.status or "queued")}
        if service and sent.from_:
            record["from"] = sent.from_
        return "sent", record

    def _find_at_twilio(self, row: dict, creds) -> tuple[str, str] | bool | None:
        """The recipient's message at Twilio: (sid, status); False when Twilio has none; None when it cannot be asked.

        Twilio's Messages list by To, From and DateSent, matched on the body and not already one of
        this workspace's recorded messages (an earlier campaign may have sent the same text)."""
        created = row.get("message_created_at")
        if created is None:
            return False
        service = row.get("messaging_service_sid")
        sender = {} if service else {"from_": row["from_e164"]}  # a service's sender is Twilio's choice
        try:
            with twilio_call("look the campaign message up"):
                candidates = self._messages(creds).list(
                    to=row["to_e164"], date_sent_after=created - RECONCILE_LOOKBACK, limit=50, **sender
                )
        except ApiError as exc:
            log.warning(
                "campaign %s: recipient %s not reconciled: %s", row["campaign_id"], row["recipient_id"], exc.message
            )
            return None
        body = row["body"] or ""
        matches = [
            m
            for m in candidates
            if (m.body or "") == body
            and str(m.direction or "").startswith("outbound")
            and (not service or m.messaging_service_sid == service)
            and (m.date_created is None or m.date_created >= created - RECONCILE_LOOKBACK)
        ]
        if not matches:
            return False
        with as_service(self.pool) as conn:
            known = {
                r["twilio_sid"]
                for r in conn.execute(
                    "select twilio_sid from public.messages where twilio_sid = any(%s) and id <> %s",
                    ([m.sid for m in matches], row["message_id"]),
                ).fetchall()
            }
        fresh = [m for m in matches if m.sid not in known]
        if not fresh:
            return False
        found = min(fresh, key=lambda m: m.date_created or created)
        log.info(
            "campaign %s: recipient %s reconciled: Twilio has %s", row["campaign_id"], row["recipient_id"], found.sid
        )
        return found.sid, str(found.status or "sent")

    def _uncertain(self, row: dict, exc: ApiError) -> str:
        with as_service(self.pool) as conn:
            conn.execute(
                "select private.mark_campaign_uncertain(%s, %s, %s)",
                (row["recipient_id"], row["claim_token"], exc.message[:1000]),
            )
        log.warning(
            "campaign %s: recipient %s uncertain (%s); it is looked up before any resend",
            row["campaign_id"],
            row["recipient_id"],
            exc.code,
        )
        return "uncertain"

    def _failed(self, row: dict, exc: ApiError) -> str:
        code = exc.extra.get("twilio_code")
        retry = None
        if exc.status == 429 or code == 20429 or code in HALTING_TWILIO_CODES:
            retry = backoff_seconds(row["attempts"])
        with as_service(self.pool) as conn:
            result = conn.execute(
                "select private.record_campaign_failure(%s, %s, %s, %s, %s) as r",
                (row["recipient_id"], row["claim_token"], code, exc.message[:1000], retry),
            ).fetchone()["r"]
        if code in HALTING_TWILIO_CODES:
            self.halt(str(row["campaign_id"]), HALTING_TWILIO_CODES[code])
            return "halted"
        if result["status"] == "pending":
            log.warning(
                "campaign %s: rate limited by Twilio; recipient %s retries in %ss",
                row["campaign_id"],
                row["recipient_id"],
                retry,
            )
            return "retry"
        return result["status"]

    def halt(self, campaign_id: str, reason: str, release: list | None = None) -> None:
        """Pause the campaign; `release`: the owner tokens of this sender's claims that go back to pending."""
        with as_service(self.pool) as conn:
            conn.execute("select private.halt_campaign(%s, %s, %s)", (campaign_id, reason, release or []))
        log.error("campaign %s paused: %s", campaign_id, reason)

    def _messages(self, creds):
        """The account's Messages resource, one client per thread and credentials (connections are reused).

        No retries inside the client: a send is tried once per claim (a rate limit goes back to the
        queue with backoff), and its read timeout is short enough to end within the lease."""
        clients = getattr(self._local, "clients", None)
        if clients is None or len(clients) > 100:
            clients = self._local.clients = {}
        if creds not in clients:
            user, secret = (
                (creds.api_key_sid, creds.api_key_secret)
                if creds.api_key_sid and creds.api_key_secret
                else (creds.account_sid, creds.auth_token)
            )
            client = make_twilio_client(
                creds.account_sid,
                user,
                secret,
                self.config.twilio_api_base_url,
                timeout=(CONNECT_TIMEOUT, self.send_timeout),
                max_retries=0,
            )
            clients[creds] = client.api.v2010.accounts(creds.account_sid).messages
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
                "where k.id = %s group by k.id",
                (campaign_id,),
            ).fetchone()
        if row:
            log.info(
                "campaign %s: %d/%d sent, %d failed, %d skipped (%s)",
                campaign_id,
                row["sent"],
                row["recipients_total"],
                row["failed"],
                row["skipped"],
                row["status"],
            )
