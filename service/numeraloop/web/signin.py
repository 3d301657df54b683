"""Signing up, in and out, recovering a password, and confirming one is an adult.

Supabase Auth holds the accounts; these pages call it server-side and keep its tokens in the
session cookie. Every refusal is shown on the page in words, with what was typed kept
(never the password).
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, g, redirect, render_template, request, url_for

from ..db import as_user, current_pool
from . import gotrue, safe_next, session, signed_in

log = logging.getLogger(__name__)
bp = Blueprint("signin", __name__)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
MIN_PASSWORD = 8


def _form(name: str, limit: int = 320) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def _age_confirmed() -> bool:
    if g.session.adult:
        return True
    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute("select age_confirmed_at from public.profiles where id = auth.uid()").fetchone()
    if row and row["age_confirmed_at"]:
        session.remember_adult()
        return True
    return False


def adult_required(view):
    """Nothing in a workspace can be done until the person has confirmed they are 18 or older."""
    from functools import wraps

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not _age_confirmed():
            return redirect(url_for("web.signin.age_page", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return signed_in(wrapper)


@bp.get("/")
def home():
    return redirect(url_for("web.inbox.inbox_page") if g.get("session") else url_for("web.signin.signin_page"))


@bp.get("/signin")
def signin_page():
    if g.get("session"):
        return redirect(safe_next(request.args.get("next")))
    return render_template(
        "signin/signin.html", next=safe_next(request.args.get("next")), notice=request.args.get("notice")
    )


@bp.post("/signin")
def signin():
    email, password = _form("email").lower(), request.form.get("password") or ""
    target = safe_next(request.form.get("next"))
    if not email or not password:
        return render_template(
            "signin/signin.html", error="Enter your e-mail and password.", email=email, next=target
        ), 400
    try:
        auth = gotrue.sign_in(email, password)
    except gotrue.AuthFailure as exc:
        return render_template(
            "signin/signin.html", error=exc.message, email=email, next=target
        ), 401 if exc.code == "invalid_credentials" else 400
    session.start(None, session.from_auth_session(auth))
    log.info("web sign-in")
    # Through settings first: an account scheduled for deletion is told so, with a way to cancel.
    return redirect(url_for("web.settings.welcome_back", next=target), 303)


@bp.get("/signup")
def signup_page():
    return render_template("signin/signup.html")


@bp.post("/signup")
def signup():
    email, name, password = _form("email").lower(), _form("full_name", 200), request.form.get("password") or ""
    error = None
    if not EMAIL.match(email):
        error = "Enter an e-mail address like name@example.com."
    elif len(password) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
    if error is None:
        try:
            result = gotrue.sign_up(email, password, name)
        except gotrue.AuthFailure as exc:
            error = exc.message
        else:
            if result.session is None:
                return render_template(
                    "signin/signin.html",
                    email=email,
                    next="/inbox",
                    notice="Check your e-mail to confirm your address, then sign in.",
                )
            session.start(None, session.from_auth_session(result.session))
            return redirect(url_for("web.signin.age_page"), 303)
    return render_template("signin/signup.html", error=error, email=email, full_name=name), 400


@bp.post("/signout")
def signout():
    current = g.get("session")
    if current is not None:
        try:
            gotrue.sign_out(current.access_token)
        except gotrue.AuthFailure:
            pass  # the cookie goes whatever Supabase Auth said; its refresh token expires on its own
    session.end()
    return redirect(url_for("web.signin.signin_page", notice="You are signed out."), 303)


@bp.get("/welcome/age")
@signed_in
def age_page():
    return render_template("signin/age.html", next=safe_next(request.args.get("next"), "/welcome"))


@bp.post("/welcome/age")
@signed_in
def confirm_age():
    target = safe_next(request.form.get("next"), "/welcome")
    if request.form.get("adult") != "yes":
        return render_template(
            "signin/age.html",
            next=target,
            error="NumeraLoop is for adults only: tick the box to confirm you are 18 or older.",
        ), 400
    with as_user(current_pool(), g.claims) as conn:
        conn.execute("select public.confirm_adult_age()")
    session.remember_adult()
    return redirect(target, 303)


@bp.get("/forgot")
def forgot_page():
    return render_template("signin/forgot.html")


@bp.post("/forgot")
def forgot():
    email = _form("email").lower()
    if not EMAIL.match(email):
        return render_template(
            "signin/forgot.html", error="Enter the e-mail address of your account.", email=email
        ), 400
    try:
        gotrue.send_recovery(email, url_for("web.signin.reset_page", _external=False))
    except gotrue.AuthFailure as exc:
        if exc.code == "unavailable" or exc.code.startswith("over_"):
            return render_template("signin/forgot.html", error=exc.message, email=email), 503
        # Any other refusal reads the same as success: the page never tells whether an account exists.
    return redirect(url_for("web.signin.reset_page", email=email), 303)


@bp.get("/reset")
def reset_page():
    return render_template(
        "signin/reset.html", email=request.args.get("email", "")[:320], code=request.args.get("code", "")[:64]
    )


@bp.post("/reset")
def reset():
    email, code, password = _form("email").lower(), _form("code", 64), request.form.get("password") or ""
    if len(password) < MIN_PASSWORD:
        return render_template(
            "signin/reset.html",
            email=email,
            code=code,
            error=f"Choose a password of at least {MIN_PASSWORD} characters.",
        ), 400
    try:
        auth = gotrue.verify_recovery(email, code)
        gotrue.set_password(auth.access_token, auth.refresh_token, password)
        auth = gotrue.sign_in(email, password)
    except gotrue.AuthFailure as exc:
        return render_template("signin/reset.html", email=email, code=code, error=exc.message), 400
    session.start(None, session.from_auth_session(auth))
    return redirect(url_for("web.inbox.inbox_page"), 303)
