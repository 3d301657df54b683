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


def test_reply_reaches_delivered_on_screen_and_the_counter_names_unicode(web, page, sandbox):
    account = sandbox.create_account(friendly_name="Reply Co")
    number = onboard(page, web, sandbox, account)
    sandbox.inject_sms(CUSTOMER, number, "Can you come at 3?")
    page.locator("#conversation-list li", has_text="Can you come at 3?").get_by_role("link").click()

    composer = page.get_by_label("Reply")
    composer.fill("Yes \u2014 we\u2019ll be there")
    counter = page.locator("#segments")
    counter.get_by_text("UCS-2").wait_for()
    assert "\u2014" in counter.inner_text() and "use" in counter.inner_text()
    composer.fill("Yes - we'll be there at 3.")
    counter.get_by_text("GSM-7").wait_for()

    page.get_by_role("button", name="Send").click()
    sent = page.locator(".bubble.outbound", has_text="we'll be there at 3.")
    sent.wait_for()
    # The sandbox delivers and calls back; the open thread follows without a reload.
    sent.locator(".status", has_text="delivered").wait_for(timeout=8000)


def test_a_refused_send_keeps_the_draft_and_says_why(web, page, sandbox):
    account = sandbox.create_account(friendly_name="Opt Out Co")
    number = onboard(page, web, sandbox, account)
    sandbox.inject_sms(CUSTOMER, number, "STOP")
    page.locator("#conversation-list li", has_text="STOP").get_by_role("link").click()
    page.get_by_label("Reply").fill("Sorry to see you go, one last thing")
    page.get_by_role("button", name="Send").click()
    assert "opted out" in page.get_by_role("alert").first.inner_text()
    assert page.get_by_label("Reply").input_value() == "Sorry to see you go, one last thing"


def test_another_workspace_sees_none_of_it_and_its_urls_are_404(web, chromium, sandbox):
    first = chromium.new_context()
    page = first.new_page()
    account = sandbox.create_account(friendly_name="Private Co")
    number = onboard(page, web, sandbox, account)
    sandbox.inject_sms(CUSTOMER, number, "my private question")
    page.locator("#conversation-list li", has_text="my private question").get_by_role("link").click()
    page.locator(".bubble.inbound").first.wait_for()
    thread_url = page.url
    first.close()

    second = chromium.new_context()
    other = second.new_page()
    sign_up(other, web, _email("outsider"))
    confirm_age(other)
    other.goto(web.url("/inbox"))
    assert other.get_by_text("my private question").count() == 0
    response = other.goto(thread_url)
    assert response.status == 404
    assert other.get_by_role("heading", name="Not found").is_visible()
    assert other.get_by_text("my private question").count() == 0
    for path in ("/inbox/updates?conversation=" + thread_url.rsplit("/", 1)[-1].split("?")[0],):
        assert other.goto(web.url(path)).status == 404
    second.close()


def test_assign_close_reopen_and_a_canned_message_with_its_variables(web, page, sandbox, db):
    account = sandbox.create_account(friendly_name="Actions Co")
    number = onboard(page, web, sandbox, account)
    sandbox.inject_sms(CUSTOMER, number, "Hello, this is Pat")
    page.locator("#conversation-list li", has_text="Hello, this is Pat").get_by_role("link").click()
    conversation_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    row = db.execute(
        "select workspace_id, contact_id from public.conversations where id = %s", (conversation_id,)
    ).fetchone()
    db.execute("update public.contacts set first_name = 'Pat' where id = %s", (row["contact_id"],))
    db.execute(
        "insert into public.canned_messages (workspace_id, title, body) values (%s, 'Greeting', "
        "'Hi {{first_name}}, thanks for getting in touch!')",
        (row["workspace_id"],),
    )
    page.reload()

    mine = page.locator("#assignee option", has_text="(me)").get_attribute("value")
    page.get_by_label("Assigned to").select_option(value=mine)
    page.get_by_role("button", name="Assign").click()
    page.wait_for_load_state()
    assert db.execute(
        "select assigned_to is not null as a from public.conversations where id = %s", (conversation_id,)
    ).fetchone()["a"]

    page.get_by_role("button", name="Insert").click()
    page.wait_for_function("document.getElementById('body').value.startsWith('Hi Pat')")

    page.get_by_role("button", name="Close conversation").click()
    page.get_by_role("button", name="Reopen conversation").wait_for()
    assert (
        db.execute("select status from public.conversations where id = %s", (conversation_id,)).fetchone()["status"]
        == "closed"
    )
    page.get_by_role("button", name="Reopen conversation").click()
    page.get_by_role("button", name="Close conversation").wait_for()
