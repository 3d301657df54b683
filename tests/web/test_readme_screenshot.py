"""The README's picture of the inbox, taken in Chromium from a real run: build/screenshots/inbox.png on
every run, and docs/inbox.png (the README's) when NUMERALOOP_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
import shutil

from tests.support.database import ROOT
from tests.web.test_onboarding_and_inbox import onboard


def test_inbox_screenshot(web, chromium, sandbox):
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    account = sandbox.create_account(friendly_name="Screenshot Plumbing")
    number = onboard(page, web, sandbox, account)
    sandbox.inject_sms("+14155550181", number, "Hi! Do you do boiler servicing on Saturdays?")
    sandbox.inject_sms("+14155550182", number, "The kitchen tap is leaking again \U0001f62c")
    sandbox.inject_sms("+14155550183", number, "Can you come at 3pm tomorrow?")
    page.locator("#conversation-list li", has_text="Can you come at 3pm").get_by_role("link").click()
    page.get_by_label("Reply").fill("Yes, 3pm works. See you tomorrow!")
    page.get_by_role("button", name="Send").click()
    page.locator(".bubble.outbound .status", has_text=re.compile("delivered")).wait_for(timeout=8000)
    page.get_by_label("Reply").fill("Thanks \u2014 we\u2019ll bring the parts.")
    page.locator("#segments", has_text="UCS-2").wait_for()

    out = ROOT / "build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "inbox.png"))
    assert (out / "inbox.png").stat().st_size > 10_000
    if os.environ.get("NUMERALOOP_UPDATE_SCREENSHOTS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(out / "inbox.png", ROOT / "docs" / "inbox.png")
    context.close()
