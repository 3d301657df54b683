"""CSRF tokens for the web application: every state-changing request carries one.

The token is random per browser, kept in an HttpOnly cookie signed with the session secret,
and repeated by the page in each form (hidden field) and htmx request (X-CSRF-Token header).
A request whose token is missing or differs from the cookie's is refused: another site can
make the browser send the cookie, but cannot read the page to learn the token.
"""

from __future__ import annotations

import hmac
import secrets

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "nl_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["NUMERALOOP"].session_secret, salt="numeraloop.csrf")


def token() -> str:
    """This browser's token (made on first use and set as a cookie by `persist`)."""
    if "csrf_token" not in g:
        raw = request.cookies.get(COOKIE)
        value = None
        if raw:
            try:
                value = _serializer().loads(raw)
            except BadSignature:
                value = None
        if not isinstance(value, str):
            value = secrets.token_urlsafe(32)
            g.csrf_new = True
        g.csrf_token = value
    return g.csrf_token


def is_valid() -> bool:
    if request.method in SAFE_METHODS:
        return True
    raw = request.cookies.get(COOKIE)
    if not raw:
        return False
    try:
        expected = _serializer().loads(raw)
    except BadSignature:
        return False
    sent = request.headers.get(HEADER) or request.form.get(FIELD) or ""
    return isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())


def persist(response, secure: bool):
    if g.get("csrf_new"):
        response.set_cookie(
            COOKIE, _serializer().dumps(g.csrf_token), httponly=True, secure=secure, samesite="Lax", path="/"
        )
    return response
