"""New-message e-mails: a text that arrives in a conversation nobody has open is e-mailed to its
assignee, or to every member when it is unassigned, at most once per conversation every 10
minutes, never to a user whose profile says `"email_on_new_message": false`.

The database decides who hears of what (supabase/migrations/*_new_message_emails.sql): the inbox
page notes who has which conversation open (note_viewed, on every load and poll), each inbound
message marks its conversation pending, and workers claim pending conversations with `for update
skip locked` and a lease, so two workers never e-mail about one, and one that dies lets another
take over once the lease ends.

For privacy the e-mail says who texted (the contact's name, or number) and which of the
workspace's numbers, and links to the conversation; the text itself never leaves the product
through e-mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import uuid

from ..config import Config
from ..db import as_service
from .mail import Mailer, default_sender

log = logging.getLogger(__name__)

LEASE_SECONDS = 300  # one SMTP session per conversation, 10 s per step at most


def note_viewed(conn, conversation_id: str | None) -> None:
    """Records that the signed-in user (conn is theirs) has the conversation open now; a foreign,
    unknown or malformed id notes nothing."""
    if conversation_id is None:
        return
    try:
        conversation_id = str(uuid.UUID(str(conversation_id)))
    except ValueError:
        return
    conn.execute("select public.note_conversation_viewed(%s)", (conversation_id,))


def _one_line(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def compose(row: dict, recipient: dict, public_base_url: str) -> tuple[str, str]:
    """(subject, text) of the e-mail to one recipient about one claimed conversation."""
    contact = _one_line(row["contact_name"])
    who = f"{contact} ({row['contact_e164']})" if contact else row["contact_e164"]
    workspace = _one_line(row["workspace_name"])
    link = f"{public_base_url}/inbox/{row['conversation_id']}"
    unread = row["unread_count"] or 1
    name = _one_line(recipient.get("name"))
    why = (
        "you are assigned to this conversation"
        if row["assigned"]
        else f"this conversation is unassigned and you are a member of {workspace}"
    )
    lines = [
        f"Hello {name}," if name else "Hello,",
        "",
        f"{who} texted {row['number_e164']} ({workspace}), and nobody has the conversation open"
        + (f": {unread} unread messages." if unread > 1 else "."),
        "",
        f"Open it: {link}",
        "",
        "The text itself is not in this e-mail: sign in to read it.",
        "",
        "--",
        f"You get this because {why}. NumeraLoop sends at most one such e-mail per conversation every "
        "10 minutes, and none while someone has the conversation open.",
        f"To stop them, turn off e-mails about new texts in your settings: {public_base_url}/settings",
    ]
    return f"New text from {contact or row['contact_e164']}", "\n".join(lines) + "\n"


class NewMessageNotifier:
    def __init__(
        self, pool, config: Config, batch: int = 20, lease_seconds: int = LEASE_SECONDS, mailer: Mailer | None = None
    ):
        self.pool = pool
        self.public_base_url = config.public_base_url.rstrip("/")
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.mailer = mailer or (
            Mailer(config.smtp_url, default_sender(config.public_base_url)) if config.smtp_url else None
        )

    def close(self) -> None:
        pass

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Claims due conversations and e-mails about each; returns how many were claimed. `now`
        stands in for the database's clock (tests move it past the 10 minutes)."""
        with as_service(self.pool) as conn:
            rows = conn.execute(
                "select * from private.claim_new_message_emails(%s, %s, coalesce(%s, now()))",
                (self.batch, self.lease_seconds, now),
            ).fetchall()
        for row in rows:
            sent = self._send(row)
            with as_service(self.pool) as conn:
                outcome = conn.execute(
                    "select private.complete_new_message_email(%s, %s, %s, coalesce(%s, now())) as r",
                    (row["conversation_id"], row["claim_token"], sent, now),
                ).fetchone()["r"]
            if outcome.get("gave_up"):
                log.error(
                    "new-message e-mail about conversation %s: gave up after repeated failures", row["conversation_id"]
                )
        return len(rows)

    def _send(self, row: dict) -> bool:
        """True when at least one recipient's server took the e-mail (a retry would repeat it to them)."""
        recipients = row["recipients"]
        messages = [self.mailer.message(r["email"], *compose(row, r, self.public_base_url)) for r in recipients]
        try:
            outcomes = self.mailer.send_all(messages)
        except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
            log.warning(
                "new-message e-mail about conversation %s not sent (%s: %s); retried shortly",
                row["conversation_id"],
                type(exc).__name__,
                exc,
            )
            return False
        refused = [r["user_id"] for r, outcome in zip(recipients, outcomes, strict=True) if outcome is not None]
        if refused:
            log.warning(
                "new-message e-mail about conversation %s refused for %d of %d recipients",
                row["conversation_id"],
                len(refused),
                len(recipients),
            )
        log.info(
            "new-message e-mail about conversation %s to %d member(s)",
            row["conversation_id"],
            len(recipients) - len(refused),
        )
        return len(refused) < len(recipients)

    def run_forever(self, stop: threading.Event, idle_seconds: float = 2.0) -> None:
        if self.mailer is None:
            log.info("SMTP_URL is not set: no new-message e-mails are sent")
            stop.wait()
            return
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database blinked: log, wait, carry on
                log.exception("new-message e-mails: claiming failed; retrying shortly")
                busy = 0
            if not busy:
                stop.wait(idle_seconds)
