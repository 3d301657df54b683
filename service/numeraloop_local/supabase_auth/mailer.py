"""The e-mails GoTrue sends (confirm sign-up, reset password, confirm a new address), sent over SMTP.

Templates use GoTrue's variables in Go's `{{ .Name }}` form, so a template written for the
Supabase project (config.toml `[auth.email.template.<kind>]`) works here unchanged as long as
it only substitutes values: ConfirmationURL, Token, TokenHash, SiteURL, RedirectTo, Email,
NewEmail. Values are HTML-escaped as Go's html/template does. ConfirmationURL is GoTrue's own
link, `<SUPABASE_URL>/auth/v1/verify?token=<TokenHash>&type=<kind>&redirect_to=<RedirectTo>`.

With no SMTP_URL, the message is logged instead of sent, so a developer can still follow it.
"""

from __future__ import annotations

import html
import logging
import re
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import quote, unquote, urlsplit

log = logging.getLogger("numeraloop_local.supabase_auth")

# Written for NumeraLoop; they carry the link and the one-time code, so either works.
DEFAULT_TEMPLATES = {
    "confirmation": (
        "Confirm your e-mail address",
        "<h2>Confirm your e-mail address</h2>\n"
        "<p>Follow this link to confirm {{ .Email }} and finish signing up to NumeraLoop:</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Confirm e-mail address</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n",
    ),
    "recovery": (
        "Reset your password",
        "<h2>Reset your password</h2>\n"
        "<p>Someone asked to reset the NumeraLoop password of {{ .Email }}. "
        "Follow this link to choose a new one:</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Reset password</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n"
        "<p>If it was not you, ignore this e-mail; your password stays as it is.</p>\n",
    ),
    "email_change": (
        "Confirm your new e-mail address",
        "<h2>Confirm your new e-mail address</h2>\n"
        "<p>Follow this link to make {{ .NewEmail }} the e-mail address of your NumeraLoop account "
        "(now {{ .Email }}):</p>\n"
        '<p><a href="{{ .ConfirmationURL }}">Confirm new e-mail address</a></p>\n'
        "<p>Or enter this code: {{ .Token }}</p>\n",
    ),
}

_VARIABLE = re.compile(r"\{\{\s*\.([A-Za-z]+)\s*\}\}")


def render(template: str, values: dict[str, str]) -> str:
    def substitute(m: re.Match) -> str:
        if m[1] not in values:
            raise ValueError(f"e-mail template uses {{{{ .{m[1]} }}}}, which the stand-in does not provide")
        return html.escape(values[m[1]], quote=True)

    return _VARIABLE.sub(substitute, template)


def html_to_text(body: str) -> str:
    """A plain-text part: links written out, tags dropped."""
    text = re.sub(
        r'<a\s[^>]*href="([^"]*)"[^>]*>(.*?)</a>', lambda m: f"{m[2]}: {html.unescape(m[1])}", body, flags=re.S | re.I
    )
    text = re.sub(r"<[^>]+>", "", text)
    return "\n".join(line.strip() for line in html.unescape(text).splitlines() if line.strip()) + "\n"


class Mailer:
    def __init__(self, smtp_url: str, sender: str, templates: dict[str, tuple[str, str]] | None = None):
        self.smtp_url = smtp_url
        self.sender = sender
        self.templates = {**DEFAULT_TEMPLATES, **(templates or {})}
        for kind, (subject, body) in self.templates.items():
            if not subject:
                self.templates[kind] = (DEFAULT_TEMPLATES[kind][0], body)

    def send(self, kind: str, to: str, values: dict[str, str]) -> None:
        subject, body = self.templates[kind]
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = render(subject, values)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="numeraloop.localhost")
        rendered = render(body, values)
        msg.set_content(html_to_text(rendered))
        msg.add_alternative(rendered, subtype="html")
        if not self.smtp_url:
            log.warning(
                "auth stand-in: SMTP_URL is not set; %s e-mail to %s not sent. Its link: %s",
                kind,
                to,
                values.get("ConfirmationURL"),
            )
            return
        self._deliver(msg)

    def _deliver(self, msg: EmailMessage) -> None:
        parts = urlsplit(self.smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"SMTP_URL must look like smtp://host:port, not {self.smtp_url!r}")
        cls = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        with cls(
            parts.hostname,
            parts.port or (465 if parts.scheme == "smtps" else 25),
            timeout=10,
            local_hostname="numeraloop-auth-standin",
        ) as smtp:
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(msg)


def confirmation_url(api_url: str, token_hash: str, kind: str, redirect_to: str) -> str:
    """GoTrue's link: its /verify endpoint, which then redirects to `redirect_to`."""
    return (
        f"{api_url}/verify?token={quote(token_hash, safe='')}&type={kind}&redirect_to={quote(redirect_to, safe=':/')}"
    )
