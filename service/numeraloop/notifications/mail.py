"""Sending e-mail through SMTP_URL: `smtp://host:port` (STARTTLS whenever the server offers it),
`smtps://host:port` (TLS from the start), with `user:password@` when the server wants a login.
A password is never sent over a connection that is neither encrypted nor to this machine."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit

from ..config import ConfigError

TIMEOUT_SECONDS = 10.0


class MailConfigError(ConfigError, ValueError):
    """SMTP_URL is malformed, or the server it names cannot be used safely."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_sender(public_base_url: str) -> str:
    """NumeraLoop <no-reply@the service's own host>: the address the service is reached at."""
    host = urlsplit(public_base_url).hostname or "localhost"
    return formataddr(("NumeraLoop", f"no-reply@{host}"))


class Mailer:
    def __init__(self, smtp_url: str, sender: str, timeout: float = TIMEOUT_SECONDS):
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailConfigError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.implicit_tls = parts.scheme == "smtps"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")
        self.sender = sender
        self.timeout = timeout

    def message(self, to: str, subject: str, text: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[-1].rstrip(">"))
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to us
        msg.set_content(text)
        return msg

    def send_all(self, messages: list[EmailMessage]) -> list[Exception | None]:
        """Sends each message over one connection; per message, None when the server took it or
        the error that refused it. A connection that fails at all raises."""
        context = ssl.create_default_context()
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            encrypted = self.implicit_tls
            if not encrypted:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                    encrypted = True
            if self.username:
                if not (encrypted or _loopback(self.host)):
                    raise MailConfigError("the SMTP server offers no TLS: the password is not sent in the clear")
                smtp.login(self.username, self.password)
            outcomes: list[Exception | None] = []
            for msg in messages:
                try:
                    smtp.send_message(msg)
                    outcomes.append(None)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                    outcomes.append(exc)
            return outcomes
