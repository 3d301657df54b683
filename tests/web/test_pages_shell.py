"""What every page shares: a strict Content-Security-Policy, HttpOnly cookies, CSRF on every
state change (sign-in included), keyboard access."""

from __future__ import annotations

import requests


def test_signin_page_renders_in_chromium_without_console_errors(web, page):
    page.goto(web.url("/signin"))
    assert page.title().startswith("Sign in")
    assert page.get_by_label("E-mail").is_visible()
    # Keyboard: the e-mail field has focus, Tab walks the form in order and Enter submits it.
    assert page.evaluate("document.activeElement.id") == "email"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Sign in"


def test_every_cookie_is_httponly_and_samesite_lax(web):
    r = requests.get(web.url("/signin"), timeout=10)
    cookies = r.headers.get("Set-Cookie", "")
    assert "nl_csrf=" in cookies
    for cookie in r.raw.headers.getlist("Set-Cookie"):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


def test_pages_carry_a_strict_content_security_policy(web):
    r = requests.get(web.url("/signin"), timeout=10)
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_a_state_change_without_the_csrf_token_is_refused_sign_in_included(web):
    http = requests.Session()
    http.get(web.url("/signin"), timeout=10)  # has the CSRF cookie, but sends no token
    for path in ("/signin", "/signup", "/signout", "/forgot", "/reset", "/welcome/age"):
        r = http.post(
            web.url(path), data={"email": "a@example.com", "password": "whatever123"}, allow_redirects=False, timeout=10
        )
        assert r.status_code == 403, path
        assert "nothing was changed" in r.text
    # A token from another browser does not help either.
    other = requests.Session()
    other.get(web.url("/signin"), timeout=10)
    r = http.post(
        web.url("/signin"),
        data={"csrf_token": "forged", "email": "a@example.com", "password": "x" * 9},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in_and_back(web):
    r = requests.get(web.url("/inbox?view=mine"), allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/signin?next=/inbox?view%3Dmine")
