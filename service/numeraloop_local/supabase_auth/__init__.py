"""A local stand-in for Supabase Auth (GoTrue), so no test or local run reaches Supabase.

It speaks GoTrue's HTTP API under /auth/v1 as the official `supabase` Python client calls it:
sign-up, sign-in with password, refresh-token rotation, the user (read, change password, change
e-mail, metadata), sign-out, password recovery and verification of e-mailed links and codes,
with GoTrue's response and error shapes, so the client raises its usual `AuthApiError` with
GoTrue's error codes. State lives where Supabase keeps it: users in the project database's
auth.users (so the project's sign-up trigger creates the profile and personal workspace),
sessions and refresh tokens beside them (sql/local/01_auth_sessions.sql). Access tokens carry
GoTrue's claims, signed ES256 (key served at /auth/v1/.well-known/jwks.json) or HS256 with the
project's JWT secret. E-mails go to SMTP_URL (the SMTP catcher locally).

`numeraloop auth-standin serve` runs it on 127.0.0.1:8030; `AuthStandinServer` runs it in a
thread for tests. See settings.py for every setting and api.py for the endpoints.
"""

from .app import create_auth_app
from .server import AuthStandinServer, serve
from .settings import DEFAULT_ANON_KEY, DEFAULT_PORT, AuthSettings, settings_from_environment

__all__ = [
    "AuthSettings",
    "AuthStandinServer",
    "DEFAULT_ANON_KEY",
    "DEFAULT_PORT",
    "create_auth_app",
    "serve",
    "settings_from_environment",
]
