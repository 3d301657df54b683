"""Settings in Chromium: the profile (rectification), members and roles with invitations and the
last-owner rule, Export My Data as downloads, and Delete Account: scheduled with its date, told
again at sign-in, cancelled."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import UTC

from tests.web.conftest import PASSWORD
from tests.web.test_signin import confirm_age, sign_up


def _email(handle: str) -> str:
    return f"{handle}-{uuid.uuid4().hex[:8]}@example.test"


def signed_up(page, web, handle: str, name: str = "Dana Owner") -> str:
    email = _email(handle)
    sign_up(page, web, email, name)
    confirm_age(page)
    page.wait_for_load_state()
    return email


def sign_in(page, web, email: str, next_path: str | None = None) -> None:
    page.goto(web.url("/signin" + (f"?next={next_path}" if next_path else "")))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def personal_workspace(db, email: str) -> str:
    return str(
        db.execute(
            "select w.id from public.workspaces w join public.profiles p on p.id = w.created_by "
            "where p.email = %s and w.is_personal",
            (email,),
        ).fetchone()["id"]
    )


def when(moment) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y} at {moment:%H:%M} UTC"


def test_the_profile_name_is_corrected(web, page, db):
    email = signed_up(page, web, "rectify", "Dana Ownr")
    page.goto(web.url("/settings"))
    assert page.url.endswith("/settings/profile")
    assert page.get_by_label("Your name").input_value() == "Dana Ownr"
    assert page.get_by_text(email).is_visible()
    page.get_by_label("Your name").fill("Dana Owner")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"done=profile"))
    assert page.get_by_role("status").inner_text() == "Your name is saved."
    assert page.get_by_label("Your name").input_value() == "Dana Owner"
    assert db.execute("select full_name from public.profiles where email = %s", (email,)).fetchone() == {
        "full_name": "Dana Owner"
    }


def test_members_invite_accept_change_role_and_the_last_owner_rule(web, page, db):
    invitee = _email("agent")
    other = signed_up(page, web, "invitee", "Ivan Invitee")  # an account of another address
    page.context.clear_cookies()
    sign_up(page, web, invitee, "Ada Agent")
    confirm_age(page)
    page.context.clear_cookies()

    owner = signed_up(page, web, "team", "Olga Owner")
    workspace = personal_workspace(db, owner)
    page.goto(web.url("/settings/members"))
    assert page.get_by_role("heading", name="Members of Olga Owner's workspace").is_visible()

    # The last owner cannot step down or leave: refused with the rule and the way out, nothing changed.
    page.get_by_label("Role of Olga Owner").select_option("admin")
    page.get_by_role("button", name="Change the role of Olga Owner").click()
    assert page.get_by_role("alert").inner_text() == (
        "A workspace always keeps at least one owner, and you are the only one here. Make another member an owner "
        "first, then change your role."
    )
    page.get_by_role("button", name="Leave the workspace").click()
    assert page.get_by_role("alert").inner_text().endswith("Make another member an owner first, then leave.")
    assert db.execute(
        "select role::text from public.workspace_members where workspace_id = %s", (workspace,)
    ).fetchall() == [{"role": "owner"}]

    # An invitation by e-mail, its link shown once.
    page.get_by_label("E-mail address").fill("ann@localhost")
    page.get_by_role("button", name="Invite").click()
    assert "Enter the e-mail address of the person to invite" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("E-mail address").input_value() == "ann@localhost"
    page.get_by_label("E-mail address").fill(invitee)
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Invite").click()
    assert page.get_by_role("heading", name=f"Invitation ready for {invitee}").is_visible()
    link = page.get_by_label("Invitation link").input_value()
    assert re.fullmatch(re.escape(web.url("/invitations/accept?token=")) + r"nlinv_[0-9a-f]{64}", link)
    pending = page.get_by_role("table", name="Invitations not yet accepted").locator("tbody tr")
    assert pending.count() == 1 and pending.inner_text().startswith(f"{invitee}\tAgent\t")
    page.goto(web.url("/settings/members"))
    assert "nlinv_" not in page.content()

    # Someone else signed in cannot use the link; the invitee, signed out, is told to sign in and comes back.
    page.context.clear_cookies()
    sign_in(page, web, other)
    page.goto(link)
    page.get_by_role("button", name="Accept the invitation").click()
    assert page.get_by_role("alert").inner_text() == "This invitation is for another e-mail address."
    page.context.clear_cookies()
    page.goto(link)
    assert page.get_by_text("Sign in with the e-mail address the invitation was sent to").is_visible()
    page.get_by_role("link", name="Sign in to accept").click()
    page.get_by_label("E-mail").fill(invitee)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Accept the invitation").click()
    page.wait_for_url(re.compile(r"done=joined"))
    assert page.get_by_role("status").inner_text() == "You have joined the workspace."
    assert page.get_by_role("heading", name="Members of Olga Owner's workspace").is_visible()
    members = page.get_by_role("table", name="Members").inner_text()
    assert "Ada Agent (you)" in members and owner in members
    # An agent sees the roles but changes none, and invites nobody.
    assert page.get_by_role("button", name=re.compile("Change the role")).count() == 0
    assert page.get_by_role("button", name="Invite").count() == 0

    # The owner makes the agent an owner, steps down to admin, then is refused removing the last owner.
    page.context.clear_cookies()
    sign_in(page, web, owner, f"/settings/members?workspace={workspace}")
    page.get_by_label("Role of Ada Agent").select_option("owner")
    page.get_by_role("button", name="Change the role of Ada Agent").click()
    page.wait_for_url(re.compile(r"done=role"))
    page.get_by_label("Role of Olga Owner").select_option("admin")
    page.get_by_role("button", name="Change the role of Olga Owner").click()
    page.wait_for_url(re.compile(r"done=role"))
    page.get_by_role("button", name="Remove Ada Agent").click()
    assert page.get_by_role("alert").inner_text() == "Only an owner can remove an owner."
    assert {
        r["role"]
        for r in db.execute(
            "select role::text from public.workspace_members where workspace_id = %s", (workspace,)
        ).fetchall()
    } == {"owner", "admin"}


def test_another_workspaces_members_page_is_not_found(web, page, db):
    owner = signed_up(page, web, "private")
    workspace = personal_workspace(db, owner)
    page.context.clear_cookies()
    signed_up(page, web, "nosy")
    response = page.goto(web.url(f"/settings/members?workspace={workspace}"))
    assert response.status == 404
    assert page.get_by_role("table", name="Members").count() == 0


def test_export_my_data_downloads_json_and_csv(web, page, db):
    email = signed_up(page, web, "export", "Eve Export")
    page.goto(web.url("/settings/data"))
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as JSON").click()
    assert re.fullmatch(r"numeraloop-export-\d{8}T\d{6}Z\.json", info.value.suggested_filename)
    doc = json.loads(info.value.path().read_bytes())
    assert doc["profile"]["email"] == email and doc["profile"]["full_name"] == "Eve Export"
    assert [w["name"] for w in doc["workspaces"]] == ["Eve Export's workspace"]

    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("Download as CSV")).click()
    assert info.value.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(info.value.path().read_bytes())) as archive:
        profiles = archive.read("profiles.csv").decode("utf-8-sig")
    assert email in profiles
    assert db.execute(
        "select count(*) as n from public.data_requests r join public.profiles p on p.id = r.user_id "
        "where p.email = %s and r.kind = 'export' and r.status = 'completed'",
        (email,),
    ).fetchone() == {"n": 2}


def test_delete_account_is_scheduled_and_signing_in_afterwards_says_so(web, page, db):
    email = signed_up(page, web, "leaving", "Lea Leaving")
    page.goto(web.url("/settings/data"))
    section = page.get_by_role("region", name="Delete my account")
    assert "Lea Leaving's workspace" in section.inner_text()  # owned alone: it goes with the account
    assert "deleted 7 days after you ask" in section.inner_text()
    section.get_by_label(re.compile("I understand that my account and the workspaces listed will be deleted")).check()
    section.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(re.compile(r"done=deletion_scheduled"))
    request = db.execute(
        "select r.scheduled_for, r.requested_at from public.data_requests r "
        "join public.profiles p on p.id = r.user_id "
        "where p.email = %s and r.kind = 'deletion' and r.status = 'scheduled'",
        (email,),
    ).fetchone()
    assert (request["scheduled_for"] - request["requested_at"]).days == 7
    date = when(request["scheduled_for"])
    assert page.get_by_role("status").inner_text().startswith(f"Your account is scheduled for deletion on {date}.")

    # Signing in again says so, with the date; continuing keeps it scheduled.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, web, email)
    assert (
        page.get_by_role("alert").inner_text()
        == f"Your account is scheduled for deletion on {date}. Do you want to keep it?"
    )
    page.get_by_role("link", name="Continue, keeping the deletion scheduled").click()
    page.wait_for_url(re.compile(r"/(inbox|welcome)"))

    # Next time, cancelling keeps the account; signing in after that goes straight on.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, web, email)
    page.get_by_role("button", name="Cancel the deletion and keep my account").click()
    page.wait_for_url(re.compile(r"done=deletion_canceled"))
    assert page.get_by_role("status").inner_text() == "The deletion is cancelled: your account stays."
    assert db.execute(
        "select status from public.data_requests r join public.profiles p on p.id = r.user_id "
        "where p.email = %s and r.kind = 'deletion'",
        (email,),
    ).fetchone() == {"status": "canceled"}
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, web, email)
    assert "/settings" not in page.url


def test_new_message_emails_can_be_turned_off_and_on_in_the_profile(web, page, db):
    from tests.web.test_signin import confirm_age, sign_up

    email = f"prefs-{__import__('uuid').uuid4().hex[:8]}@example.test"
    sign_up(page, web, email)
    confirm_age(page)
    page.goto(web.url("/settings/profile"))
    box = page.get_by_label("E-mail me when a conversation I am on gets a text while nobody has it open")
    assert box.is_checked()
    box.uncheck()
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    prefs = db.execute("select preferences from public.profiles where email = %s", (email,)).fetchone()["preferences"]
    assert prefs["email_on_new_message"] is False
    page.goto(web.url("/settings/profile"))
    assert not page.get_by_label(
        "E-mail me when a conversation I am on gets a text while nobody has it open"
    ).is_checked()


def test_webhook_endpoints_secret_shown_once_rotated_and_verified_by_the_standard_library(web, page, db):
    from standardwebhooks.webhooks import Webhook

    from numeraloop.outbound_webhooks.signing import signed_headers
    from tests.web.test_signin import confirm_age, sign_up

    sign_up(page, web, f"hooks-{__import__('uuid').uuid4().hex[:8]}@example.test")
    confirm_age(page)
    page.goto(web.url("/settings/webhooks"))
    page.get_by_label("Address").fill("http://example.com/plain")
    page.get_by_role("button", name="Add endpoint").click()
    assert "https://" in page.get_by_role("alert").inner_text()
    page.get_by_label("Address").fill("https://hooks.example.com/numeraloop")
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("code.secret").inner_text()
    assert secret.startswith("whsec_")
    page.goto(web.url("/settings/webhooks"))
    assert page.locator("code.secret").count() == 0, "the secret is shown once"
    assert secret not in page.content()

    page.get_by_role("button", name="Rotate the secret of https://hooks.example.com/numeraloop").click()
    rotated = page.locator("code.secret").inner_text()
    assert rotated.startswith("whsec_") and rotated != secret
    body = '{"type": "message.received"}'
    headers = signed_headers(rotated, "msg_test", body.encode())
    assert Webhook(rotated).verify(body, headers)["type"] == "message.received"
