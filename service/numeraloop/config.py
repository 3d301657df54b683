"""Configuration, read once from the environment (and `.env`, which never overrides it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

TWILIO_DEFAULT_API_BASE_URL = "https://api.twilio.com"
STRIPE_DEFAULT_API_BASE_URL = "https://api.stripe.com"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/numeraloop"
# NUMERALOOP_ENV: production unless a deployment says otherwise, so a server set up without it
# gets every production check; `make dev` says development, the tests say test.
ENVIRONMENTS = ("production", "development", "test")


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


def _dependencies(raw: str) -> tuple[tuple[str, str], ...]:
    """`name=url,name=url` -> ((name, url), ...); readiness waits for each url to answer 2xx."""
    found = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise ConfigError(f"NUMERALOOP_READY_DEPENDENCIES: {item!r} is not name=http(s)://...")
        found.append((name.strip(), url.strip()))
    return tuple(found)


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    environment: str = "production"
    database_url: str = DEFAULT_DATABASE_URL
    supabase_url: str = ""
    supabase_jwt_secret: str = ""
    supabase_jwks_url: str = ""
    # Fixed by configuration, never read from a token's header.
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str = "authenticated"
    encryption_key: str = ""
    encryption_key_version: int = 1
    # During a key rotation the service still reads rows stored under the previous key.
    previous_encryption_key: str = ""
    previous_encryption_key_version: int = 0
    public_base_url: str = "http://127.0.0.1:8000"
    # The project's public (anon) key: GoTrue wants it as `apikey` on every call.
    supabase_anon_key: str = ""
    # Signs the web application's session and CSRF cookies.
    session_secret: str = ""
    smtp_url: str = ""
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    twilio_api_base_url: str = TWILIO_DEFAULT_API_BASE_URL
    stripe_api_base_url: str = STRIPE_DEFAULT_API_BASE_URL
    port: int = 8000
    # Number of proxies in front of the service whose X-Forwarded-* headers are trusted.
    proxy_fix_hops: int = 0
    db_pool_min: int = 1
    db_pool_max: int = 10
    log_level: str = "INFO"
    # Outbound webhooks to loopback/private addresses: only for local development.
    webhooks_allow_private_targets: bool = False
    # Production over plain http (PUBLIC_BASE_URL http://...): refused unless this says it is meant.
    allow_http: bool = False
    # (name, url) that must answer 2xx before /readyz says ready; none unless configured (`numeraloop dev` does).
    ready_dependencies: tuple[tuple[str, str], ...] = ()
    migrations_dir: Path = field(default_factory=lambda: default_project_root() / "supabase" / "migrations")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, dotenv_path: str | None = None) -> Config:
        if env is None:
            load_dotenv(dotenv_path or os.environ.get("NUMERALOOP_DOTENV") or None, override=False)
            env = dict(os.environ)
        jwks = env.get("SUPABASE_JWKS_URL", "").strip()
        algorithms_raw = env.get("SUPABASE_JWT_ALGORITHMS", "").strip()
        if algorithms_raw:
            algorithms = tuple(a.strip() for a in algorithms_raw.split(",") if a.strip())
        else:
            algorithms = ("ES256", "RS256") if jwks else ("HS256",)
        bad = [a for a in algorithms if a.lower() == "none" or a not in {"HS256", "ES256", "RS256"}]
        if bad:
            raise ConfigError(f"SUPABASE_JWT_ALGORITHMS: unsupported algorithm(s) {', '.join(bad)}")
        try:
            port = int(env.get("PORT", "8000"))
            hops = int(env.get("NUMERALOOP_PROXY_FIX", "0") or 0)
            pool_min = int(env.get("NUMERALOOP_DB_POOL_MIN", "1"))
            pool_max = int(env.get("NUMERALOOP_DB_POOL_MAX", "10"))
            key_version = int(env.get("NUMERALOOP_ENCRYPTION_KEY_VERSION", "1") or 1)
            previous_version = int(env.get("NUMERALOOP_PREVIOUS_ENCRYPTION_KEY_VERSION", "0") or 0)
        except ValueError as exc:
            raise ConfigError(f"a numeric setting is not a number: {exc}") from None
        environment = (env.get("NUMERALOOP_ENV") or "production").strip().lower()
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"NUMERALOOP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
        migrations = env.get("NUMERALOOP_MIGRATIONS_DIR")
        return cls(
            environment=environment,
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            supabase_url=env.get("SUPABASE_URL", "").rstrip("/"),
            supabase_anon_key=env.get("SUPABASE_ANON_KEY", ""),
            session_secret=env.get("NUMERALOOP_SESSION_SECRET", ""),
            smtp_url=env.get("SMTP_URL", ""),
            supabase_jwt_secret=env.get("SUPABASE_JWT_SECRET", ""),
            supabase_jwks_url=jwks,
            jwt_algorithms=algorithms,
            encryption_key=env.get("NUMERALOOP_ENCRYPTION_KEY", ""),
            encryption_key_version=key_version,
            previous_encryption_key=env.get("NUMERALOOP_PREVIOUS_ENCRYPTION_KEY", ""),
            previous_encryption_key_version=previous_version,
            public_base_url=(env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            stripe_secret_key=env.get("STRIPE_SECRET_KEY", ""),
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", ""),
            twilio_api_base_url=(env.get("TWILIO_API_BASE_URL") or TWILIO_DEFAULT_API_BASE_URL).rstrip("/"),
            stripe_api_base_url=(env.get("STRIPE_API_BASE_URL") or STRIPE_DEFAULT_API_BASE_URL).rstrip("/"),
            port=port,
            proxy_fix_hops=hops,
            db_pool_min=pool_min,
            db_pool_max=pool_max,
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            webhooks_allow_private_targets=_bool(env.get("NUMERALOOP_WEBHOOKS_ALLOW_PRIVATE")),
            allow_http=_bool(env.get("NUMERALOOP_ALLOW_HTTP")),
            ready_dependencies=_dependencies(env.get("NUMERALOOP_READY_DEPENDENCIES", "")),
            migrations_dir=Path(migrations) if migrations else default_project_root() / "supabase" / "migrations",
        )

    def require_servable(self) -> None:
        """ConfigError unless the service may start with this configuration (checked by create_app)."""
        if self.environment == "production" and not self.stripe_webhook_secret.strip():
            raise ConfigError(
                "STRIPE_WEBHOOK_SECRET is not set: without it no Stripe event can be verified, and in "
                "production (NUMERALOOP_ENV unset or 'production') the service does not start without it"
            )
        if (
            self.environment == "production"
            and not self.public_base_url.lower().startswith("https://")
            and not self.allow_http
        ):
            raise ConfigError(
                f"PUBLIC_BASE_URL is {self.public_base_url!r}: in production the service is reached over "
                "https only (sessions, tokens and Twilio's and Stripe's requests would otherwise cross "
                "the network in the clear). Set it to the https URL clients use (behind a TLS-terminating "
                "proxy, the proxy's), or NUMERALOOP_ALLOW_HTTP=1 if plain http is intended"
            )

    @property
    def hsts(self) -> bool:
        """Strict-Transport-Security on every response: the service is public over https."""
        return self.public_base_url.lower().startswith("https://")

    def keyring(self) -> dict[str, str]:
        """Encryption keys by version, as the SQL decryption functions take them."""
        ring = {}
        if self.previous_encryption_key and self.previous_encryption_key_version:
            ring[str(self.previous_encryption_key_version)] = self.previous_encryption_key
        if self.encryption_key:
            ring[str(self.encryption_key_version)] = self.encryption_key
        return ring

    def __repr__(self) -> str:  # never print keys or secrets
        return (
            f"Config(environment={self.environment!r}, database_url=<set>, "
            f"public_base_url={self.public_base_url!r}, twilio_api_base_url={self.twilio_api_base_url!r})"
        )


def default_project_root() -> Path:
    """The checkout this package lives in (service/numeraloop/ → repo root)."""
    return Path(__file__).resolve().parents[2]
