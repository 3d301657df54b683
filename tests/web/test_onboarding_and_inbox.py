"""The path a new customer takes: sign up, confirm age, connect Twilio, buy a number, and see a
text arrive in the open inbox without reloading."""

from __future__ import annotations

import re
import uuid

from tests.web.test_signin import confirm_age, sign_up

CUSTOMER = "+14155550142"


def _email(handle: str) -> str:
    return f"{handle}-{uuid.uuid4().hex[:8]}@example.test"


def onboard(page, web, sandbox, account) -> str:
    """Signs up a new owner, connects `account` and buys a number; returns the number."""
    sign_up(page, web, _email("owner"))
    confirm_age(page)
    page.wait_for_url(re.compile(r"/welcome/twilio"))
    page.get_by_label("Account SID").fill(account["sid"])
    page.get_by_label("Auth token").fill(account["auth_token"])
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url(re.compile(r"/welcome/number"))
    page.get_by_role("button", name="Search").click()
    first = page.get_by_role("button", name=re.compile(r"^Buy \+")).first
    number = first.get_attribute("aria-label").removeprefix("Buy ")
    first.click()
    page.wait_for_url(re.compile(r"/inbox"))
    assert page.get_by_text(f"{number} is yours").is_visible()
    return number


def test_a_wrong_auth_token_is_explained_and_the_sid_kept(web, page, sandbox):
    account = sandbox.create_account(friendly_name="Wrong Token Co")
    sign_up(page, web, _email("wrong"))
    confirm_age(page)
    page.get_by_label("Account SID").fill(account["sid"])
    page.get_by_label("Auth token").fill("0" * 32)
    page.get_by_role("button", name="Connect").click()
    assert "Twilio did not accept this Account SID and auth token" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Account SID").input_value() == account["sid"]
    assert page.get_by_label("Auth token").input_value() == ""


def test_onboarding_then_an_inbound_text_appears_without_a_reload(web, page, sandbox):
    account = sandbox.create_account(friendly_name="Live Inbox Co")
    number = onboard(page, web, sandbox, account)
    page.evaluate("window.__marker = 'same page'")

    sandbox.inject_sms(CUSTOMER, number, "Is the plumber coming today?")
    item = page.locator("#conversation-list li", has_text="Is the plumber coming today?")
    item.wait_for(timeout=5000)
    assert page.evaluate("window.__marker") == "same page"  # no reload happened
    assert page.title().startswith("(1) Inbox")

    item.get_by_role("link").click()
    page.locator(".bubble.inbound", has_text="Is the plumber coming today?").wait_for()
    assert re.match(r"^Inbox", page.title())
