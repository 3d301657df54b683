"""Supabase Auth (GoTrue), called server-side with the official client, and its refusals as
sentences a person understands.

A client per call: it holds no session of its own (persist_session and auto-refresh off);
the web session cookie is the only place a user's tokens live.
"""

from __future__ import annotations

import logging

from flask import current_app
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthError, AuthWeakPasswordError

log = logging.getLogger(__name__)

# GoTrue's error codes, as a person should read them.
MESSAGES = {
    "invalid_credentials": "That e-mail and password do not match an account.",
    "user_already_exists": "An account with that e-mail already exists. Sign in instead, or reset the password.",
    "email_exists": "An account with that e-mail already exists. Sign in instead, or reset the password.",
    "weak_password": "Choose a longer password: at least 8 characters.",
    "email_not_confirmed": "Confirm your e-mail address first: follow the link we sent you.",
    "over_request_rate_limit": "Too many attempts. Wait a minute, then try again.",
    "over_email_send_rate_limit": "We just sent you an e-mail. Wait a minute before asking for another.",
    "refresh_token_not_found": "Your session has ended. Sign in again.",
    "refresh_token_already_used": "Your session has ended. Sign in again.",
    "session_not_found": "Your session has ended. Sign in again.",
    "otp_expired": "That link has expired or was already used. Ask for a new one.",
    "validation_failed": "Check the e-mail address: it does not look right.",
    "email_address_invalid": "Check the e-mail address: it does not look right.",
    "same_password": "Choose a password different from the one you have.",
    "user_banned": "This account cannot sign in.",
}
UNAVAILABLE = "Signing in is unavailable right now. Try again in a moment."


class AuthFailure(Exception):
    """GoTrue refused (code is GoTrue's error code) or could not be reached (code 'unavailable')."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _client() -> SyncGoTrueClient:
    config = current_app.config["NUMERALOOP"]
    key = config.supabase_anon_key
    return SyncGoTrueClient(
        url=f"{config.supabase_url}/auth/v1",
        headers={"apikey": key, "Authorization": f"Bearer {key}"},
        auto_refresh_token=False,
        persist_session=False,
    )


def _call(what: str, action):
    try:
        return action(_client())
    except AuthWeakPasswordError:
        # Not an AuthApiError in the client, though GoTrue answers it as one (422 weak_password).
        raise AuthFailure("weak_password", MESSAGES["weak_password"]) from None
    except AuthApiError as exc:
        code = getattr(exc, "code", None) or "auth_error"
        log.info("Supabase Auth refused %s: %s (%s)", what, code, getattr(exc, "status", "?"))
        raise AuthFailure(code, MESSAGES.get(code, exc.message or UNAVAILABLE)) from None
    except AuthError as exc:
        log.warning("Supabase Auth %s failed: %s", what, exc)
        raise AuthFailure(getattr(exc, "code", None) or "unavailable", UNAVAILABLE) from None
    except Exception as exc:  # connection refused, timeouts: the person learns only that it is unavailable
        log.warning("Supabase Auth unreachable for %s: %s", what, type(exc).__name__)
        raise AuthFailure("unavailable", UNAVAILABLE) from None


def sign_up(email: str, password: str, full_name: str):
    return _call(
        "sign-up",
        lambda c: c.sign_up({"email": email, "password": password, "options": {"data": {"full_name": full_name}}}),
    )


def sign_in(email: str, password: str):
    return _call("sign-in", lambda c: c.sign_in_with_password({"email": email, "password": password}).session)


def refresh(refresh_token: str):
    return _call("refresh", lambda c: c.refresh_session(refresh_token).session)


def sign_out(access_token: str) -> None:
    _call("sign-out", lambda c: c.admin.sign_out(access_token, "local"))


def send_recovery(email: str, redirect_to: str) -> None:
    _call("password recovery", lambda c: c.reset_password_for_email(email, {"redirect_to": redirect_to}))


def verify_recovery(email: str, code: str):
    return _call("recovery code", lambda c: c.verify_otp({"email": email, "token": code, "type": "recovery"}).session)


def set_password(access_token: str, refresh_token: str, password: str) -> None:
    def action(c: SyncGoTrueClient):
        c.set_session(access_token, refresh_token)
        c.update_user({"password": password})

    _call("password change", action)
