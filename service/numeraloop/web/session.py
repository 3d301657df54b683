"""The signed-in session of the web application: Supabase Auth's access and refresh tokens in
one HttpOnly, SameSite=Lax cookie (Secure under https), signed with NUMERALOOP_SESSION_SECRET.

The access token is verified on every request exactly as /api/v1 verifies a bearer token, and
refreshed through Supabase Auth shortly before it expires (the refresh token rotates, so the
cookie is rewritten). Pages then read and write as that user, under RLS.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

from ..errors import ApiError
from . import gotrue

log = logging.getLogger(__name__)

COOKIE = "nl_session"
REFRESH_MARGIN_SECONDS = 60
# The refresh token outlives the access token; the cookie lives as long as a refresh could work.
COOKIE_MAX_AGE = 30 * 24 * 3600


@dataclass
class Session:
    access_token: str
    refresh_token: str
    expires_at: int
    # The person has confirmed being an adult (profiles.age_confirmed_at): asked of the database
    # once per session, not on every page.
    adult: bool = False

    def as_cookie(self) -> dict:
        return {"a": self.access_token, "r": self.refresh_token, "e": self.expires_at, "adult": self.adult}


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["NUMERALOOP"].session_secret, salt="numeraloop.session")


def from_auth_session(auth_session, adult: bool = False) -> Session:
    expires_at = auth_session.expires_at or int(time.time()) + int(auth_session.expires_in or 3600)
    return Session(auth_session.access_token, auth_session.refresh_token, int(expires_at), adult)


def remember_adult() -> None:
    """Once the database has said the person is an adult, the session remembers it."""
    if g.get("session") is not None and not g.session.adult:
        g.session.adult = True
        g.session_changed = True


def read() -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer().loads(raw)
        return Session(str(data["a"]), str(data["r"]), int(data["e"]), bool(data.get("adult")))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def load() -> None:
    """Sets g.session, g.claims and g.user_id for a signed-in browser; nothing for anyone else."""
    g.session = None
    session = read()
    if session is None:
        return
    if session.expires_at - time.time() < REFRESH_MARGIN_SECONDS:
        try:
            session = from_auth_session(gotrue.refresh(session.refresh_token), adult=session.adult)
        except gotrue.AuthFailure as exc:
            log.info("web session could not be refreshed: %s", exc.code)
            g.session_ended = True
            return
        g.session_changed = True
    verifier = current_app.extensions["numeraloop.tokens"]
    try:
        claims = verifier.verify(session.access_token)
    except ApiError as exc:
        log.info("web session token refused: %s", exc.code)
        g.session_ended = True
        return
    claims.setdefault("role", "authenticated")
    g.session, g.claims, g.user_id = session, claims, claims["sub"]


def start(response, session: Session):
    g.session = session
    g.session_changed = True
    return response


def end() -> None:
    g.session = None
    g.session_ended = True


def persist(response, secure: bool):
    if g.get("session_changed") and g.get("session") is not None:
        response.set_cookie(
            COOKIE,
            _serializer().dumps(g.session.as_cookie()),
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            secure=secure,
            samesite="Lax",
            path="/",
        )
    elif g.get("session_ended"):
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=secure, samesite="Lax")
    return response
