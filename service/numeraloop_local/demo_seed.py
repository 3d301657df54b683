"""The demo workspace `make dev` seeds: a user, a connected sandbox Twilio account and a number.

Fixed identifiers, so a newcomer can copy the commands printed at start-up, and every step
is idempotent, so `make dev` can be run again and again.
"""

from __future__ import annotations

import json
import time

import jwt
import psycopg
from psycopg.rows import dict_row

from numeraloop.auth import expected_issuer
from numeraloop.config import Config, default_project_root
from numeraloop.twilio import credentials

DEMO_USER_ID = "00000000-0000-4000-8000-00000000d3e0"
DEMO_EMAIL = "demo@numeraloop.local"
DEMO_PASSWORD = "numeraloop-demo"  # supabase/seed.sql stores its bcrypt hash
DEMO_ACCOUNT_SID = "AC" + "d3e0" * 8
DEMO_AUTH_TOKEN = "0d3e0" * 6 + "00"  # 32 hex characters; a sandbox-only secret
DEMO_NUMBER = "+14155550123"
DEMO_CONTACT = "+14155550199"


def apply_seed_sql(database_url: str) -> None:
    sql = (default_project_root() / "supabase" / "seed.sql").read_text()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql)


def demo_workspace_id(conn) -> str:
    row = conn.execute(
        "select id::text as id from public.workspaces where created_by = %s and is_personal", (DEMO_USER_ID,)
    ).fetchone()
    return row["id"]


def seed_twilio(config: Config, sandbox_url: str) -> dict:
    """Connect the demo workspace to the sandbox's demo account and give it DEMO_NUMBER."""
    from .twilio_sandbox.client import SandboxControl, SandboxError

    control = SandboxControl(sandbox_url)
    control.create_account(DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, "Demo Plumbing Co")
    hooks = {
        "sms_url": f"{config.public_base_url}/twilio/messaging/inbound",
        "sms_method": "POST",
        "voice_url": f"{config.public_base_url}/twilio/voice/inbound",
        "voice_method": "POST",
        "status_callback": f"{config.public_base_url}/twilio/voice/status",
    }
    try:
        number = control.add_number(DEMO_ACCOUNT_SID, DEMO_NUMBER, **hooks)
        number_sid = number["sid"]
    except SandboxError:
        # Already there from an earlier run of the same sandbox process.
        number_sid = None

    with psycopg.connect(config.database_url, autocommit=True, row_factory=dict_row) as conn:
        workspace_id = demo_workspace_id(conn)
        with conn.transaction():
            conn.execute("select set_config('role', 'service_role', true)")
            account = credentials.store(
                conn,
                config,
                workspace_id=workspace_id,
                account_sid=DEMO_ACCOUNT_SID,
                auth_token=DEMO_AUTH_TOKEN,
                api_key_sid=None,
                api_key_secret=None,
                twiml_app_sid=None,
                friendly_name="Demo Plumbing Co",
                account_status="active",
                actor=DEMO_USER_ID,
            )
            existing = conn.execute(
                "select id, twilio_sid from public.phone_numbers where workspace_id = %s and e164 = %s",
                (workspace_id, DEMO_NUMBER),
            ).fetchone()
            if existing is None and number_sid:
                conn.execute(
                    "insert into public.phone_numbers (workspace_id, twilio_account_id, twilio_sid, e164, friendly_name, "
                    "capabilities) values (%s, %s, %s, %s, 'Main line', %s)",
                    (
                        workspace_id,
                        account["id"],
                        number_sid,
                        DEMO_NUMBER,
                        json.dumps({"sms": True, "mms": True, "voice": True}),
                    ),
                )
            elif existing is not None and number_sid and existing["twilio_sid"] != number_sid:
                # A new sandbox process gave the number a new SID; follow it.
                conn.execute(
                    "update public.phone_numbers set twilio_sid = %s, status = 'active' where id = %s",
                    (number_sid, existing["id"]),
                )
    return {"workspace_id": workspace_id, "number": DEMO_NUMBER}


def demo_access_token(config: Config, hours: int = 12) -> str | None:
    """A Supabase-style access token for the demo user, when the dev server verifies HS256."""
    if not config.supabase_jwt_secret or "HS256" not in config.jwt_algorithms:
        return None
    now = int(time.time())
    claims = {
        "sub": DEMO_USER_ID,
        "aud": "authenticated",
        "role": "authenticated",
        "is_anonymous": False,
        "email": "demo@numeraloop.local",
        "iat": now,
        "exp": now + hours * 3600,
    }
    # With SUPABASE_URL set the service checks iss, as GoTrue sets it.
    if issuer := expected_issuer(config):
        claims["iss"] = issuer
    return jwt.encode(claims, config.supabase_jwt_secret, algorithm="HS256")
