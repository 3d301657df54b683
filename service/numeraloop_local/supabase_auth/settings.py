"""What the Auth stand-in is configured with, and where each setting comes from.

The project's Supabase settings live in supabase/config.toml (`[auth]`, `[auth.email]`,
`[auth.email.template.<kind>]`), which the Supabase CLI hands to a local GoTrue; the stand-in
reads the same keys so both behave alike. The environment adds what the service also reads
(SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_JWT_SECRET, SUPABASE_JWKS_URL, SMTP_URL,
PUBLIC_BASE_URL) and two settings of its own:

    NUMERALOOP_AUTH_SIGNING           ES256 (a key served at /auth/v1/.well-known/jwks.json)
                                      or HS256 (SUPABASE_JWT_SECRET, as legacy projects sign);
                                      unset: ES256 when SUPABASE_JWKS_URL is set or there is no
                                      secret, else HS256, so tokens verify however the service
                                      is configured
    NUMERALOOP_AUTH_SIGNING_KEY_FILE  a PEM P-256 private key; unset, a new key per start (tokens
                                      signed before a restart then fail and the client refreshes)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("numeraloop_local.supabase_auth")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8030
# Clearly not secret: only ever a local default. Shaped like Supabase's publishable keys.
DEFAULT_ANON_KEY = "sb_publishable_numeraloop_local_not_a_secret"
DEFAULT_SITE_URL = "http://127.0.0.1:8000"
DEFAULT_SENDER = "NumeraLoop <noreply@numeraloop.localhost>"
SIGNING_ALGORITHMS = ("ES256", "HS256")
TEMPLATE_KINDS = ("confirmation", "recovery", "email_change")


@dataclass
class AuthSettings:
    database_url: str
    # Where clients reach the stand-in (SUPABASE_URL); the API is under /auth/v1 and the tokens'
    # `iss` is this + "/auth/v1". Empty: the server's own address once it is bound.
    public_url: str = ""
    anon_key: str = DEFAULT_ANON_KEY
    signing: str = "ES256"
    jwt_secret: str = ""
    signing_key_pem: str | None = None
    jwt_expiry: int = 3600
    # Where e-mail links lead by default, and the base of the redirect_to values allowed.
    site_url: str = DEFAULT_SITE_URL
    additional_redirect_urls: tuple[str, ...] = ()
    enable_signup: bool = True
    # Sign-up confirms the address at once (Supabase's local default), so sign-up signs in.
    autoconfirm: bool = True
    minimum_password_length: int = 8
    # Seconds during which an already used refresh token may be used again (GoTrue's
    # refresh_token_reuse_interval); past it, reuse ends the session.
    refresh_token_reuse_interval: int = 10
    otp_expiry: int = 3600
    otp_length: int = 6
    # Seconds before another e-mail of the same kind may go to the same user.
    max_frequency: float = 1.0
    smtp_url: str = ""
    sender: str = DEFAULT_SENDER
    # kind -> (subject, HTML body) replacing the built-in e-mails; see mailer.py.
    templates: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self):
        self.signing = self.signing.upper()
        if self.signing not in SIGNING_ALGORITHMS:
            raise ValueError(f"signing must be one of {', '.join(SIGNING_ALGORITHMS)}, not {self.signing!r}")
        if self.signing == "HS256" and len(self.jwt_secret) < 32:
            raise ValueError("HS256 signing needs SUPABASE_JWT_SECRET of at least 32 characters")
        if not self.anon_key:
            raise ValueError("the stand-in needs an anon key (SUPABASE_ANON_KEY)")
        self.public_url = self.public_url.rstrip("/")
        self.site_url = self.site_url.rstrip("/")

    def replace(self, **changes) -> AuthSettings:
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:  # never print secrets
        return (
            f"AuthSettings(public_url={self.public_url!r}, signing={self.signing!r}, "
            f"site_url={self.site_url!r}, autoconfirm={self.autoconfirm})"
        )


def default_signing(env: dict[str, str]) -> str:
    chosen = env.get("NUMERALOOP_AUTH_SIGNING", "").strip().upper()
    if chosen:
        return chosen
    if env.get("SUPABASE_JWT_SECRET") and not env.get("SUPABASE_JWKS_URL"):
        return "HS256"
    return "ES256"


def settings_from_environment(
    database_url: str, env: dict[str, str] | None = None, config_toml: Path | None = None, **overrides
) -> AuthSettings:
    """Settings for `numeraloop auth-standin serve`: config.toml, then the environment, then `overrides`."""
    env = dict(os.environ) if env is None else env
    values: dict = {"database_url": database_url}
    if config_toml is not None and config_toml.is_file():
        values.update(read_config_toml(config_toml))
    if env.get("PUBLIC_BASE_URL"):
        # The web application is the service; its pages are where e-mail links lead.
        values["site_url"] = env["PUBLIC_BASE_URL"]
    for name, key in (
        ("SUPABASE_URL", "public_url"),
        ("SUPABASE_ANON_KEY", "anon_key"),
        ("SUPABASE_JWT_SECRET", "jwt_secret"),
        ("SMTP_URL", "smtp_url"),
    ):
        if env.get(name):
            values[key] = env[name]
    values["signing"] = default_signing(env)
    key_file = env.get("NUMERALOOP_AUTH_SIGNING_KEY_FILE")
    if key_file:
        values["signing_key_pem"] = Path(key_file).read_text()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return AuthSettings(**values)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def _seconds(value) -> float:
    """A config.toml duration ("1s", "60s", "5m") or a plain number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    return float(m[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m[2]]


def read_config_toml(path: Path) -> dict:
    """The [auth] settings of a Supabase CLI config.toml that the stand-in honours."""
    with path.open("rb") as fh:
        auth = tomllib.load(fh).get("auth", {})
    email = auth.get("email", {})
    values: dict = {}
    simple = {
        "site_url": "site_url",
        "jwt_expiry": "jwt_expiry",
        "enable_signup": "enable_signup",
        "minimum_password_length": "minimum_password_length",
        "refresh_token_reuse_interval": "refresh_token_reuse_interval",
    }
    for key, attr in simple.items():
        if key in auth:
            values[attr] = auth[key]
    if "additional_redirect_urls" in auth:
        values["additional_redirect_urls"] = tuple(auth["additional_redirect_urls"])
    if "enable_confirmations" in email:
        values["autoconfirm"] = not email["enable_confirmations"]
    if "enable_signup" in email and not email["enable_signup"]:
        values["enable_signup"] = False
    for key in ("otp_expiry", "otp_length"):
        if key in email:
            values[key] = int(email[key])
    if "max_frequency" in email:
        values["max_frequency"] = _seconds(email["max_frequency"])
    smtp = email.get("smtp", {})
    if smtp.get("admin_email"):
        name = smtp.get("sender_name")
        values["sender"] = f"{name} <{smtp['admin_email']}>" if name else smtp["admin_email"]
    templates = {}
    for kind, spec in email.get("template", {}).items():
        if kind not in TEMPLATE_KINDS or not spec.get("content_path"):
            continue
        # The CLI resolves content_path against the directory holding supabase/.
        body_path = (path.parent.parent / spec["content_path"]).resolve()
        templates[kind] = (spec.get("subject") or "", body_path.read_text())
    if templates:
        values["templates"] = templates
    return values
