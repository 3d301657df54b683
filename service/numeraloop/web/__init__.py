"""The web application: pages the service renders for people in a browser.

Every page reads and writes as the signed-in user (role authenticated with their claims, as
/api/v1 does), so RLS guards every screen. Each area is a blueprint of its own (signin.py,
inbox.py, ...); `surface` mounts them at the root with what they share: the session cookie,
CSRF checking, and the security headers (a strict Content-Security-Policy: nothing is loaded
from anywhere but this service).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from . import csrf, session

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # MMS media is shown from where Twilio (or the sender) hosts it.
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _secure() -> bool:
    return current_app.config["NUMERALOOP"].public_base_url.startswith("https://")


def _before():
    if not current_app.config["NUMERALOOP"].session_secret:
        current_app.logger.error("NUMERALOOP_SESSION_SECRET is not set: the web application cannot sign anyone in")
        return render_template(
            "error.html",
            title="Not available yet",
            message="This NumeraLoop server is not fully configured. Try again later.",
        ), 503
    session.load()
    g.csrf = csrf.token()
    if not csrf.is_valid():
        return render_template(
            "error.html", title="This form has expired", message="Reload the page and try again; nothing was changed."
        ), 403
    return None


def _after(response):
    csrf.persist(response, _secure())
    session.persist(response, _secure())
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.method == "GET" and response.mimetype == "text/html":
        # Pages show one person's data: never kept by shared caches or the back-forward cache of another user.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


PAGE_ERRORS = {
    404: ("Not found", "There is nothing here, or it belongs to a workspace you are not in."),
    403: ("Not allowed", "Your role in this workspace does not allow that."),
    405: ("Not found", "There is nothing here."),
}


def _http_error(exc: HTTPException):
    title, message = PAGE_ERRORS.get(exc.code or 500, ("Something went wrong", "Nothing was lost: try again."))
    return render_template("error.html", title=title, message=message), exc.code or 500


def _unexpected(exc: Exception):
    # The detail goes to the log with the request id; the person sees a sentence, never a trace.
    current_app.logger.exception("unhandled error on a page")
    return render_template(
        "error.html",
        title="Something went wrong on our side",
        message="It has been logged. Nothing you typed was sent; go back and try again.",
    ), 500


def surface(routes: Iterable[Blueprint]) -> Blueprint:
    bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")
    bp.before_request(_before)
    bp.after_request(_after)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)
    for child in routes:
        bp.register_blueprint(child)
    return bp


def safe_next(target: str | None, default: str = "/inbox") -> str:
    """Where to go after signing in: only a path on this site, never another host."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def signed_in(view):
    """A page for signed-in people only: others go to sign in and come back."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("session") is None:
            return redirect(url_for("web.signin.signin_page", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper
