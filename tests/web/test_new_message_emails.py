"""New-message e-mails and the inbox page, in Chromium: while the page shows a conversation, its
polls (answered 204 when nothing changed) keep it noted as open and no e-mail goes out; once the
page has left it, a text is e-mailed to the member, with the link that opens it."""

from __future__ import annotations

import dataclasses
import re

from numeraloop.notifications.new_messages import NewMessageNotifier
from tests.web.test_onboarding_and_inbox import CUSTOMER, onboard


def seen_at(db, conversation_id):
    row = db.execute(
        "select seen_at from public.conversation_viewers where conversation_id = %s", (conversation_id,)
    ).fetchone()
    return row and row["seen_at"]


def wait_until(check, page, timeout_ms=15000):
    for _ in range(timeout_ms // 100):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError("timed out")


def test_an_open_conversation_gets_no_email_and_one_left_does(web, web_config, web_mail, page, sandbox, db):
    db.execute("update public.conversation_email_alerts set pending_since = null where pending_since is not null")
    notifier = NewMessageNotifier(
        web.app.extensions["numeraloop.pool"], dataclasses.replace(web_config, public_base_url=web.base_url)
    )
    account = sandbox.create_account(friendly_name="Mail Co")
    number = onboard(page, web, sandbox, account)
    email = db.execute(
        "select p.email from public.phone_numbers n join public.workspaces w on w.id = n.workspace_id "
        "join public.profiles p on p.id = w.created_by where n.e164 = %s",
        (number,),
    ).fetchone()["email"]

    sandbox.inject_sms(CUSTOMER, number, "Are you open on Sunday?")
    page.locator("#conversation-list li", has_text="Are you open on Sunday?").get_by_role("link").click()
    page.wait_for_url(re.compile(r"/inbox/[0-9a-f-]{36}"))
    conversation_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    first = seen_at(db, conversation_id)
    assert first is not None, "showing the conversation notes it as open"
    wait_until(lambda: seen_at(db, conversation_id) > first, page)  # an idle poll (204) still counts

    sandbox.inject_sms(CUSTOMER, number, "Or Monday?")
    page.locator(".bubble.inbound", has_text="Or Monday?").wait_for(timeout=10000)
    notifier.run_once()
    assert web_mail.messages(to=email) == [], "open in the page: no e-mail"

    page.goto(web.url("/inbox"))  # the list polls, but no conversation is open any more
    left = seen_at(db, conversation_id)
    sandbox.inject_sms(CUSTOMER, number, "Hello?")
    due = db.execute("select now() + interval '11 seconds' as t").fetchone()["t"]  # no poll of it for 10 s
    assert notifier.run_once(due) >= 1
    assert seen_at(db, conversation_id) == left
    message = web_mail.wait_for(email, subject="New text from")
    assert "Hello?" not in message["text"]
    link = re.search(r"Open it: (\S+)", message["text"]).group(1)
    assert link == web.url(f"/inbox/{conversation_id}")
    page.goto(link)
    page.locator(".bubble.inbound", has_text="Hello?").wait_for()
