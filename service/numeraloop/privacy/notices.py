"""Notices: users hear of material changes to the privacy policy and terms, and of breaches.

A material change (public.policy_versions, published with `numeraloop privacy publish-policy` at
least 14 days ahead) is shown in the product from 14 days before it takes effect until 30 days
after (GET /api/v1/me `notices`, from `for_caller`), and e-mailed once to every user before it
takes effect by the worker's `PolicyNoticeMailer`. `notify_breach` e-mails every member of the
workspaces the operator names (`numeraloop privacy notify --workspace ...`). `send_product_email`
sends a product e-mail (a newsletter) only to users whose latest recorded decision is consent
(private.product_email_recipients()). Every notice e-mailed is a row of public.notice_emails,
which the user reads and exports. E-mail goes through SMTP_URL (notifications.mail).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config import Config
from ..db import as_service
from ..notifications.mail import MailConfigError, Mailer, default_sender

log = logging.getLogger(__name__)

LEASE_SECONDS = 300
DOCUMENTS = {"privacy_policy": "privacy policy", "terms_of_service": "terms of service"}
BREACH_NOTICE_HOURS = 72  # GDPR Art. 33(1): within 72 hours of becoming aware of a breach


def for_caller(conn) -> list[dict]:
    """The material changes the caller is shown now (conn runs as the caller)."""
    return conn.execute(
        "select id, document, version, summary, url, effective_at, published_at from private.policy_notices()"
    ).fetchall()


def mailer_for(config: Config) -> Mailer | None:
    return Mailer(config.smtp_url, default_sender(config.public_base_url)) if config.smtp_url else None


def _greeting(name: str | None) -> str:
    name = " ".join((name or "").split())
    return f"Hello {name}," if name else "Hello,"


def policy_notice_text(row: dict, public_base_url: str) -> str:
    document = DOCUMENTS.get(row["document"], row["document"])
    when = row["effective_at"].astimezone(UTC).strftime("%d %B %Y").lstrip("0")
    lines = [
        _greeting(row.get("full_name")),
        "",
        f"We are changing our {document}. The new version ({row['version']}) takes effect on {when}.",
        "",
        "What changes:",
        row["summary"],
        "",
    ]
    if row.get("url"):
        lines += [f"Read it in full: {row['url']}", ""]
    lines += [
        "--",
        f"We tell every NumeraLoop user about a change like this 14 days before it takes effect; it is also "
        f"shown when you sign in. Your account: {public_base_url}/settings",
    ]
    return "\n".join(lines) + "\n"


class PolicyNoticeMailer:
    """A worker loop: e-mails each user once about each material change before it takes effect."""

    def __init__(
        self, pool, config: Config, batch: int = 50, lease_seconds: int = LEASE_SECONDS, mailer: Mailer | None = None
    ):
        self.pool = pool
        self.public_base_url = config.public_base_url.rstrip("/")
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.mailer = mailer or mailer_for(config)

    def close(self) -> None:
        pass

    def run_once(self, now: datetime | None = None) -> int:
        """Claims the notices due and sends them; returns how many were claimed. `now` stands in
        for the database's clock."""
        with as_service(self.pool) as conn:
            rows = conn.execute(
                "select * from private.claim_policy_notice_emails(%s, %s, coalesce(%s, now()))",
                (self.batch, self.lease_seconds, now),
            ).fetchall()
        if not rows:
            return 0
        messages = [
            self.mailer.message(r["email"], r["subject"], policy_notice_text(r, self.public_base_url)) for r in rows
        ]
        try:
            outcomes = self.mailer.send_all(messages)
        except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors; each row is retried after its lease
            log.warning("policy notices: %d not sent (%s: %s); retried later", len(rows), type(exc).__name__, exc)
            outcomes = [exc] * len(rows)
        with as_service(self.pool) as conn:
            for row, outcome in zip(rows, outcomes, strict=True):
                conn.execute(
                    "select private.complete_notice_email(%s, %s, %s)",
                    (row["notice_id"], outcome is None, None if outcome is None else type(outcome).__name__),
                )
        log.info(
            "policy notices: %d sent, %d not", sum(o is None for o in outcomes), sum(o is not None for o in outcomes)
        )
        return len(rows)

    def run_forever(self, stop: threading.Event, idle_seconds: float = 60.0) -> None:
        if self.mailer is None:
            log.info("SMTP_URL is not set: no policy notices are e-mailed")
            stop.wait()
            return
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database blinked: log, wait, carry on (leases bring rows back)
                log.exception("policy notices: claiming failed; retrying shortly")
                busy = 0
            if not busy:
                stop.wait(idle_seconds)


@dataclass
class Sent:
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    hours_since_detection: float | None = None


def _send_each(pool, mailer: Mailer, rows: list[dict], compose) -> Sent:
    messages = [mailer.message(r["email"], *compose(r)) for r in rows]
    outcomes = mailer.send_all(messages)
    result = Sent()
    with as_service(pool) as conn:
        for row, outcome in zip(rows, outcomes, strict=True):
            if "notice_id" in row:
                conn.execute(
                    "select private.complete_notice_email(%s, %s, %s)",
                    (row["notice_id"], outcome is None, None if outcome is None else str(outcome)[:500]),
                )
            if outcome is None:
                result.sent.append(row["email"])
            else:
                result.failed.append((row["email"], str(outcome)))
    return result


def notify_breach(
    pool, config: Config, workspace_ids: list[str], subject: str, body: str, detected_at: datetime | None = None
) -> Sent:
    """E-mails every member of the workspaces about a breach (whatever their consent to product
    e-mails: the law requires this one), recorded per user and audited per workspace."""
    mailer = mailer_for(config)
    if mailer is None:
        raise MailConfigError("SMTP_URL is not set: nothing can be e-mailed")
    with as_service(pool) as conn:
        rows = conn.execute(
            "select * from private.record_breach_notification(%s::uuid[], %s, %s)",
            (workspace_ids, subject, detected_at),
        ).fetchall()

    def compose(row):
        names = ", ".join(row["workspaces"])
        text = "\n".join(
            [
                _greeting(row["full_name"]),
                "",
                f"This is about your NumeraLoop workspace{'s' if len(row['workspaces']) > 1 else ''} {names}.",
                "",
                body.strip(),
                "",
                "--",
                "You get this because you are a member of the workspace. We send it to every member, "
                "as the law requires, whatever your e-mail settings.",
            ]
        )
        return subject, text + "\n"

    result = _send_each(pool, mailer, rows, compose) if rows else Sent()
    if detected_at is not None:
        result.hours_since_detection = (datetime.now(UTC) - detected_at).total_seconds() / 3600
    return result


def send_product_email(pool, config: Config, subject: str, body: str) -> Sent:
    """A product e-mail (a newsletter) to the users who consented to them, and nobody else."""
    mailer = mailer_for(config)
    if mailer is None:
        raise MailConfigError("SMTP_URL is not set: nothing can be e-mailed")
    with as_service(pool) as conn:
        rows = conn.execute("select user_id, email, full_name from private.product_email_recipients()").fetchall()
    settings = f"{config.public_base_url.rstrip('/')}/settings"

    def compose(row):
        text = "\n".join(
            [
                _greeting(row["full_name"]),
                "",
                body.strip(),
                "",
                "--",
                "You get NumeraLoop's product e-mails because you said yes to them. To stop them, say no "
                f"in your settings ({settings}), or PUT /api/v1/me/consent "
                '{"product_emails": false}: one step, recorded at once.',
            ]
        )
        return subject, text + "\n"

    return _send_each(pool, mailer, rows, compose) if rows else Sent()
