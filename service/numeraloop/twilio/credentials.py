"""Twilio credentials: stored encrypted by SQL functions, decrypted only for the call that needs them.

The key never reaches the database at rest: it is a bound parameter of the encrypt/decrypt
functions (server-side binding keeps it out of pg_stat_activity's query text).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import psycopg

from ..config import Config
from ..errors import ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwilioCredentials:
    twilio_account_id: str
    account_sid: str
    auth_token: str = field(repr=False)
    api_key_sid: str | None = None
    api_key_secret: str | None = field(default=None, repr=False)
    twiml_app_sid: str | None = None


class CredentialsUnavailable(ApiError):
    def __init__(self, message: str):
        super().__init__(503, "credentials_unavailable", message)


def require_key(config: Config) -> None:
    if not config.encryption_key:
        raise ApiError(503, "encryption_not_configured", "NUMERALOOP_ENCRYPTION_KEY is not set on this server.")


def load_for_workspace(conn: psycopg.Connection, config: Config, workspace_id: str) -> TwilioCredentials | None:
    """Decrypted credentials of the workspace's connected account, or None when none is connected.

    `conn` must be a service_role transaction.
    """
    require_key(config)
    try:
        row = conn.execute(
            "select * from private.twilio_credentials_for_workspace(%s, %s::jsonb)",
            (workspace_id, json.dumps(config.keyring())),
        ).fetchone()
    except psycopg.errors.InvalidAuthorizationSpecification as exc:
        # The SQL function's message says which key version failed and nothing about the data.
        log.error("cannot decrypt Twilio credentials of workspace %s: %s", workspace_id, exc.diag.message_primary)
        raise CredentialsUnavailable(
            "The stored Twilio credentials cannot be decrypted with this server's key."
        ) from None
    if row is None:
        return None
    return TwilioCredentials(
        twilio_account_id=str(row["twilio_account_id"]),
        account_sid=row["account_sid"],
        auth_token=row["auth_token"],
        api_key_sid=row["api_key_sid"],
        api_key_secret=row["api_key_secret"],
        twiml_app_sid=row["twiml_app_sid"],
    )


def require_for_workspace(pool, config: Config, workspace_id: str) -> TwilioCredentials:
    """The workspace's decrypted credentials, or 409 twilio_not_connected (a service_role read)."""
    from ..db import as_service

    with as_service(pool) as conn:
        creds = load_for_workspace(conn, config, workspace_id)
    if creds is None:
        raise ApiError(409, "twilio_not_connected", "Connect a Twilio account to this workspace first.")
    return creds


def store(
    conn: psycopg.Connection,
    config: Config,
    *,
    workspace_id: str,
    account_sid: str,
    auth_token: str,
    api_key_sid: str | None,
    api_key_secret: str | None,
    twiml_app_sid: str | None,
    friendly_name: str | None,
    account_status: str | None,
    actor: str | None,
) -> dict:
    require_key(config)
    return conn.execute(
        "select * from private.store_twilio_account(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            workspace_id,
            account_sid,
            auth_token,
            api_key_sid,
            api_key_secret,
            twiml_app_sid,
            friendly_name,
            account_status,
            actor,
            config.encryption_key,
            config.encryption_key_version,
        ),
    ).fetchone()


def rotate(
    database_url: str, old_keyring: dict[str, str], new_key: str, new_version: int, batch: int = 100, progress=None
) -> int:
    """Re-encrypt every secret under `new_key`, a batch per transaction.

    Each batch commits on its own, and rows already under `new_version` are skipped, so a
    run that is interrupted can simply be started again with the same arguments.
    """
    if len(new_key) < 16:
        raise ValueError("the new key must be at least 16 characters")
    total = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            with conn.transaction():
                conn.execute("select set_config('role', 'service_role', true)")
                done = conn.execute(
                    "select private.reencrypt_twilio_credentials(%s::jsonb, %s, %s, %s)",
                    (json.dumps(old_keyring), new_key, new_version, batch),
                ).fetchone()[0]
            total += done
            if progress:
                progress(total)
            if done == 0:
                return total


def key_versions(database_url: str) -> dict[int, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("select set_config('role', 'service_role', true)")
            return {v: n for v, n in conn.execute("select * from private.twilio_credentials_key_versions()")}
