"""The stand-in's state, in the project database's `auth` schema, as GoTrue keeps it.

Users are rows of auth.users (inserting one fires the project's sign-up trigger, which
creates the profile and personal workspace), with bcrypt `$2a$` cost-10 password hashes and
one-time tokens stored as GoTrue stores them: sha224(e-mail + code) in hex, prefixed `pkce_`
when the request came with a PKCE challenge. A session is a row of auth.sessions, its sign-in
methods are auth.mfa_amr_claims and its refresh tokens a chain in auth.refresh_tokens (each
new one names the one it replaced as `parent`). sql/local/01_auth_sessions.sql defines these.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import string
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import bcrypt
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from numeraloop.config import default_project_root

from . import errors

log = logging.getLogger("numeraloop_local.supabase_auth")

INSTANCE_ID = "00000000-0000-0000-0000-000000000000"
BCRYPT_COST = 10
MAX_PASSWORD_BYTES = 72  # what bcrypt hashes; GoTrue refuses longer passwords
FLOW_STATE_EXPIRY = timedelta(minutes=5)
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits
SCHEMA_FILE = default_project_root() / "sql" / "local" / "01_auth_sessions.sql"

USER_COLUMNS = """u.id, u.aud, u.role, u.email, u.phone, u.encrypted_password, u.email_confirmed_at,
  u.phone_confirmed_at, u.confirmed_at, u.invited_at, u.confirmation_token, u.confirmation_sent_at, u.recovery_token,
  u.recovery_sent_at, u.email_change, u.email_change_token_new, u.email_change_token_current, u.email_change_sent_at,
  u.last_sign_in_at, u.raw_app_meta_data, u.raw_user_meta_data, u.created_at, u.updated_at, u.banned_until,
  u.deleted_at, u.is_anonymous"""


def now() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST, prefix=b"2a")).decode()


def password_matches(password: str, hashed: str | None) -> bool:
    if not hashed or len(password.encode()) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def new_otp(length: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(length))


def token_hash(email_or_phone: str, otp: str) -> str:
    return hashlib.sha224((email_or_phone + otp).encode()).hexdigest()


def new_refresh_token() -> str:
    # GoTrue's refresh tokens: 12 lower-case letters and digits, random.
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(12))


def pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    if method == "plain":
        return secrets.compare_digest(challenge, verifier)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return secrets.compare_digest(challenge, digest)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_json(row: dict) -> dict:
    """A user as GoTrue's API answers it (no password hash, no tokens)."""
    uid = str(row["id"])
    email = row["email"] or ""
    identities = []
    if email:
        # GoTrue keeps identities in their own table; the stand-in's one e-mail identity is derived.
        identities.append(
            {
                "identity_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"numeraloop-auth-standin:{uid}:email")),
                "id": uid,
                "user_id": uid,
                "identity_data": {
                    "email": email,
                    "email_verified": row["email_confirmed_at"] is not None,
                    "phone_verified": False,
                    "sub": uid,
                },
                "provider": "email",
                "last_sign_in_at": _iso(row["last_sign_in_at"] or row["created_at"]),
                "created_at": _iso(row["created_at"]),
                "updated_at": _iso(row["updated_at"]),
                "email": email,
            }
        )
    body = {
        "id": uid,
        "aud": row["aud"] or "",
        "role": row["role"] or "",
        "email": email,
        "email_confirmed_at": _iso(row["email_confirmed_at"]),
        "phone": row["phone"] or "",
        "confirmation_sent_at": _iso(row["confirmation_sent_at"]),
        "confirmed_at": _iso(row["confirmed_at"]),
        "recovery_sent_at": _iso(row["recovery_sent_at"]),
        "new_email": row["email_change"] or None,
        "email_change_sent_at": _iso(row["email_change_sent_at"]) if row["email_change"] else None,
        "last_sign_in_at": _iso(row["last_sign_in_at"]),
        "app_metadata": row["raw_app_meta_data"] or {},
        "user_metadata": row["raw_user_meta_data"] or {},
        "identities": identities,
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "is_anonymous": bool(row["is_anonymous"]),
    }
    # GoTrue leaves unset optional fields out of the JSON.
    return {k: v for k, v in body.items() if v is not None}


def is_banned(row: dict) -> bool:
    return row["banned_until"] is not None and row["banned_until"] > now()


class AuthStore:
    def __init__(self, database_url: str, max_connections: int = 4):
        self.pool = ConnectionPool(
            database_url,
            min_size=1,
            max_size=max_connections,
            open=True,
            kwargs={"row_factory": dict_row, "autocommit": True},
            name="auth-standin",
        )

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def tx(self):
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def ensure_schema(self) -> None:
        """Create what 01_auth_sessions.sql adds when the database's auth schema predates it."""
        with self.tx() as conn:
            have = conn.execute(
                "select to_regclass('auth.users') is not null as users, to_regclass('auth.flow_state') is not null "
                "as flow_state, exists (select 1 from information_schema.columns where table_schema = 'auth' "
                "and table_name = 'users' and column_name = 'email_change_confirm_status') as columns"
            ).fetchone()
            if not have["users"]:
                raise RuntimeError("the database has no auth.users: run `numeraloop db migrate` first")
            if not (have["flow_state"] and have["columns"]):
                log.info("auth stand-in: adding its tables to the auth schema (%s)", SCHEMA_FILE.name)
                conn.execute(SCHEMA_FILE.read_text())

    # -- users -------------------------------------------------------------------------
    def user_by_id(self, conn, user_id: str, lock: bool = False) -> dict | None:
        return conn.execute(
            f"select {USER_COLUMNS} from auth.users u where u.id = %s" + (" for update" if lock else ""), (user_id,)
        ).fetchone()

    def user_by_email(self, conn, email: str, aud: str = "authenticated", lock: bool = False) -> dict | None:
        return conn.execute(
            f"select {USER_COLUMNS} from auth.users u where lower(u.email) = lower(%s) and u.aud = %s "
            "and not u.is_sso_user" + (" for update" if lock else ""),
            (email, aud),
        ).fetchone()

    def create_user(self, conn, email: str, password_hash: str, data: dict) -> dict:
        uid = str(uuid.uuid4())
        app_metadata = {"provider": "email", "providers": ["email"]}
        conn.execute(
            "insert into auth.users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, "
            "raw_user_meta_data, created_at, updated_at, is_anonymous) "
            "values (%s, %s, 'authenticated', 'authenticated', %s, %s, %s, %s, now(), now(), false)",
            (INSTANCE_ID, uid, email.lower(), password_hash, json.dumps(app_metadata), json.dumps(data)),
        )
        return self.user_by_id(conn, uid)

    def confirm_email(self, conn, user_id: str) -> None:
        conn.execute(
            "update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()), "
            "confirmation_token = '', "
            "raw_user_meta_data = raw_user_meta_data || '{\"email_verified\": true}', "
            "updated_at = now() where id = %s",
            (user_id,),
        )

    def set_one_time_token(self, conn, user_id: str, kind: str, hashed: str, new_email: str | None = None) -> None:
        if kind == "confirmation":
            conn.execute(
                "update auth.users set confirmation_token = %s, confirmation_sent_at = now(), "
                "updated_at = now() where id = %s",
                (hashed, user_id),
            )
        elif kind == "recovery":
            conn.execute(
                "update auth.users set recovery_token = %s, recovery_sent_at = now(), updated_at = now() where id = %s",
                (hashed, user_id),
            )
        elif kind == "email_change":
            conn.execute(
                "update auth.users set email_change = %s, email_change_token_new = %s, "
                "email_change_token_current = '', email_change_confirm_status = 0, "
                "email_change_sent_at = now(), updated_at = now() where id = %s",
                (new_email, hashed, user_id),
            )
        else:
            raise ValueError(kind)

    def user_by_token_hash(self, conn, kind: str, hashed: str) -> dict | None:
        column = {
            "confirmation": "confirmation_token",
            "recovery": "recovery_token",
            "email_change": "email_change_token_new",
        }[kind]
        return conn.execute(
            f"select {USER_COLUMNS} from auth.users u where u.{column} = %s for update", (hashed,)
        ).fetchone()

    def clear_recovery(self, conn, user_id: str) -> None:
        conn.execute("update auth.users set recovery_token = '', updated_at = now() where id = %s", (user_id,))

    def confirm_email_change(self, conn, user_id: str) -> None:
        conn.execute(
            "update auth.users set email = email_change, email_change = '', email_change_token_new = '', "
            "email_change_token_current = '', email_change_confirm_status = 0, updated_at = now() "
            "where id = %s",
            (user_id,),
        )

    def email_taken(self, conn, email: str, other_than: str) -> bool:
        return conn.execute(
            "select exists (select 1 from auth.users where lower(email) = lower(%s) and id <> %s "
            "and not is_anonymous) as taken",
            (email, other_than),
        ).fetchone()["taken"]

    def set_password(self, conn, user_id: str, password_hash: str) -> None:
        # A new password voids every one-time token issued under the old one, as in GoTrue.
        conn.execute(
            "update auth.users set encrypted_password = %s, confirmation_token = '', "
            "confirmation_sent_at = null, recovery_token = '', recovery_sent_at = null, "
            "email_change_token_new = '', email_change_token_current = '', email_change_sent_at = null, "
            "updated_at = now() where id = %s",
            (password_hash, user_id),
        )

    def merge_user_metadata(self, conn, user_id: str, data: dict) -> None:
        # GoTrue's rule: keys set to null are removed, the others replace.
        drop = [k for k, v in data.items() if v is None]
        keep = {k: v for k, v in data.items() if v is not None}
        conn.execute(
            "update auth.users set raw_user_meta_data = (coalesce(raw_user_meta_data, '{}') || %s::jsonb) "
            "- %s::text[], updated_at = now() where id = %s",
            (json.dumps(keep), drop, user_id),
        )

    # -- sessions and refresh tokens -------------------------------------------------------
    def start_session(self, conn, user_id: str, method: str, user_agent: str | None, ip: str | None) -> tuple[str, str]:
        """A new session signed in by `method`: (session id, its first refresh token)."""
        session_id = str(uuid.uuid4())
        conn.execute(
            "insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip) "
            "values (%s, %s, now(), now(), 'aal1', %s, %s)",
            (session_id, user_id, user_agent, ip),
        )
        conn.execute(
            "insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method) "
            "values (%s, %s, now(), now(), %s)",
            (str(uuid.uuid4()), session_id, method),
        )
        token = self._insert_refresh_token(conn, user_id, session_id, parent=None)
        conn.execute("update auth.users set last_sign_in_at = now(), updated_at = now() where id = %s", (user_id,))
        return session_id, token

    def _insert_refresh_token(self, conn, user_id: str, session_id: str, parent: str | None) -> str:
        token = new_refresh_token()
        conn.execute(
            "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, "
            "parent, session_id) values (%s, %s, %s, false, now(), now(), %s, %s)",
            (INSTANCE_ID, token, user_id, parent, session_id),
        )
        return token

    def amr(self, conn, session_id: str) -> list[dict]:
        rows = conn.execute(
            "select authentication_method, created_at from auth.mfa_amr_claims where session_id = %s "
            "order by created_at desc",
            (session_id,),
        ).fetchall()
        return [{"method": r["authentication_method"], "timestamp": int(r["created_at"].timestamp())} for r in rows]

    def session_exists(self, conn, session_id: str) -> bool:
        return conn.execute(
            "select exists (select 1 from auth.sessions where id = %s) as found", (session_id,)
        ).fetchone()["found"]

    def refresh(self, token: str, reuse_interval: int) -> tuple[dict, str, str]:
        """Rotate `token`: (user row, session id, the refresh token to use from now on).

        As GoTrue: the current token is revoked and a child issued. The token just replaced
        may be presented again (a client that lost the answer) and gets the current one back.
        Any other revoked token is accepted only within `reuse_interval` seconds of its
        revocation; past that the session ends, since the token was most likely stolen.
        """
        with self.tx() as conn:
            row = conn.execute("select * from auth.refresh_tokens where token = %s for update", (token,)).fetchone()
            if row is None:
                raise errors.bad_request("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
            session = (
                conn.execute("select * from auth.sessions where id = %s for update", (row["session_id"],)).fetchone()
                if row["session_id"]
                else None
            )
            if session is None:
                raise errors.bad_request("session_not_found", "Invalid Refresh Token: No Valid Session Found")
            user = self.user_by_id(conn, str(session["user_id"]))
            if user is None:
                raise errors.bad_request("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
            if is_banned(user):
                raise errors.bad_request("user_banned", "Invalid Refresh Token: User Banned")
            issued = None
            reused = False
            if row["revoked"]:
                active = conn.execute(
                    "select token, parent from auth.refresh_tokens where session_id = %s and not "
                    "revoked order by id desc limit 1",
                    (session["id"],),
                ).fetchone()
                if active is not None and active["parent"] == row["token"]:
                    issued = active["token"]
                elif now() > row["updated_at"] + timedelta(seconds=reuse_interval):
                    # Committed before refusing: the session must stay ended.
                    conn.execute("delete from auth.sessions where id = %s", (session["id"],))
                    reused = True
            if not reused:
                if issued is None:
                    conn.execute(
                        "update auth.refresh_tokens set revoked = true, updated_at = now() where id = %s", (row["id"],)
                    )
                    issued = self._insert_refresh_token(conn, str(user["id"]), str(session["id"]), row["token"])
                conn.execute(
                    "update auth.sessions set refreshed_at = now() at time zone 'utc', updated_at = now() "
                    "where id = %s",
                    (session["id"],),
                )
        if reused:
            raise errors.bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used")
        return user, str(session["id"]), issued

    def end_sessions(self, conn, user_id: str, session_id: str | None, scope: str) -> None:
        if scope == "local" and session_id:
            conn.execute("delete from auth.sessions where id = %s", (session_id,))
        elif scope == "others" and session_id:
            conn.execute("delete from auth.sessions where user_id = %s and id <> %s", (user_id, session_id))
        else:
            conn.execute("delete from auth.sessions where user_id = %s", (user_id,))

    # -- PKCE flow states --------------------------------------------------------------------
    def start_flow(self, conn, user_id: str, method: str, challenge: str, challenge_method: str) -> None:
        conn.execute(
            "insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge, "
            "provider_type, authentication_method, created_at, updated_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, now(), now())",
            (str(uuid.uuid4()), user_id, str(uuid.uuid4()), challenge_method.lower(), challenge, method, method),
        )

    def issue_auth_code(self, conn, user_id: str, method: str) -> str | None:
        row = conn.execute(
            "update auth.flow_state set auth_code_issued_at = now(), updated_at = now() where id = "
            "(select id from auth.flow_state where user_id = %s and authentication_method = %s "
            "order by created_at desc limit 1) returning auth_code",
            (user_id, method),
        ).fetchone()
        return row["auth_code"] if row else None

    def take_flow(self, conn, auth_code: str) -> dict | None:
        return conn.execute("delete from auth.flow_state where auth_code = %s returning *", (auth_code,)).fetchone()
