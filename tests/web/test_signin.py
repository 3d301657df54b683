"""Signing up, in and out through Supabase Auth (the local stand-in), in a real browser."""

from __future__ import annotations

import re
import uuid

import requests

from tests.web.conftest import PASSWORD


def _email(handle: str) -> str:
    return f"{handle}-{uuid.uuid4().hex[:8]}@example.test"


def sign_up(page, web, email: str, name: str = "Dana Owner") -> None:
    page.goto(web.url("/signup"))
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/welcome/age"))


def confirm_age(page) -> None:
    page.get_by_label("I am 18 years of age or older").check()
    page.get_by_role("button", name="Continue").click()


def test_sign_up_confirm_age_sign_out_and_in_again(web, page, db):
    email = _email("dana")
    sign_up(page, web, email)
    # Nothing in a workspace before the age is confirmed.
    page.goto(web.url("/inbox"))
    assert "/welcome/age" in page.url
    confirm_age(page)
    page.goto(web.url("/inbox"))
    assert page.get_by_role("heading", name="Inbox").is_visible()
    profile = db.execute("select age_confirmed_at from public.profiles where email = %s", (email,)).fetchone()
    assert profile["age_confirmed_at"] is not None

    cookies = {c["name"]: c for c in page.context.cookies()}
    assert set(cookies) == {"nl_session", "nl_csrf"}
    assert all(c["httpOnly"] and c["sameSite"] == "Lax" for c in cookies.values())

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin"))
    assert page.get_by_text("You are signed out.").is_visible()
    page.goto(web.url("/inbox"))
    assert "/signin" in page.url

    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/inbox"))


def test_refusals_are_sentences_on_the_page_and_keep_what_was_typed(web, page):
    email = _email("erin")
    sign_up(page, web, email)
    page.context.clear_cookies()

    page.goto(web.url("/signup"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_role("alert").inner_text().startswith("An account with that e-mail already exists")
    assert page.get_by_label("E-mail").input_value() == email

    page.goto(web.url("/signin"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "That e-mail and password do not match an account."
    assert page.get_by_label("E-mail").input_value() == email
    assert page.get_by_label("Password").input_value() == ""


def test_password_recovery_by_the_emailed_code(web, page, web_mail):
    email = _email("frank")
    sign_up(page, web, email)
    page.context.clear_cookies()

    page.goto(web.url("/forgot"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send the code").click()
    page.wait_for_url(re.compile(r"/reset"))
    message = web_mail.wait_for(to=email)
    code = re.search(r"\b(\d{6})\b", message["text"] or message["html"]).group(1)
    page.get_by_label("Code from the e-mail").fill(code)
    page.get_by_label("New password").fill("an even better passphrase")
    page.get_by_role("button", name="Save and sign in").click()
    page.wait_for_url(re.compile(r"/(inbox|welcome)"))


def test_the_session_is_refused_once_tampered_with(web, page):
    sign_up(page, web, _email("gail"))
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    r = requests.get(
        web.url("/inbox"),
        cookies={**cookies, "nl_session": cookies["nl_session"][:-3] + "abc"},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
