"""Notices: a material policy change is shown from 14 days before it takes effect and e-mailed
to every user once; a breach notification e-mails every member of the chosen workspaces; a
product e-mail goes only to those who consented. E-mail goes through SMTP to the catcher."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from numeraloop.privacy.notices import PolicyNoticeMailer
from numeraloop_local.smtp_catcher import CatcherClient, CatcherServer
from tests.support.database import ROOT, add_member


@pytest.fixture(scope="module")
def catcher():
    with CatcherServer() as server:
        yield server


@pytest.fixture
def mail(catcher):
    client = CatcherClient(catcher.url)
    client.clear()
    return client


@pytest.fixture
def policy(db):
    """A material change to the privacy policy, published 5 days ago, taking effect in 10 days
    (removed afterwards, with the notices sent about it, so no other test sees it)."""
    row = db.execute(
        "insert into public.policy_versions (document, version, summary, url, material, published_at, effective_at) "
        "values ('privacy_policy', %s, 'We now keep call logs for 60 days instead of 90.', "
        "'https://numeraloop.example/privacy', true, now() - interval '5 days', now() + interval '10 days') "
        "returning *",
        (f"test-{datetime.now().timestamp()}",),
    ).fetchone()
    yield row
    db.execute("delete from public.policy_versions where id = %s", (row["id"],))


def run_cli(database_url: str, smtp_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NUMERALOOP_ENV": "test",
        "SMTP_URL": smtp_url,
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }
    return subprocess.run(
        [sys.executable, "-m", "numeraloop.cli", "privacy", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        input=stdin,
    )


def test_users_see_a_material_change_from_14_days_before_it_takes_effect(service, make_user, policy, db):
    user = make_user()
    [notice] = [n for n in service.get("/api/v1/me", user=user).json()["notices"] if n["id"] == str(policy["id"])]
    assert notice["document"] == "privacy_policy" and notice["summary"].startswith("We now keep call logs")
    assert datetime.fromisoformat(notice["effective_at"]) == policy["effective_at"]

    def ids() -> set[str]:
        return {n["id"] for n in service.get("/api/v1/me", user=user).json()["notices"]}

    db.execute(
        "update public.policy_versions set published_at = now() - interval '1 day', "
        "effective_at = now() + interval '15 days' where id = %s",
        (policy["id"],),
    )
    assert str(policy["id"]) not in ids(), "15 days ahead: not yet"
    db.execute(
        "update public.policy_versions set published_at = now() - interval '60 days', "
        "effective_at = now() - interval '31 days' where id = %s",
        (policy["id"],),
    )
    assert str(policy["id"]) not in ids(), "a month after it took effect: no longer"
    db.execute(
        "update public.policy_versions set material = false, published_at = now() - interval '1 day', "
        "effective_at = now() + interval '1 day' where id = %s",
        (policy["id"],),
    )
    assert str(policy["id"]) not in ids(), "a minor change is not a notice"


def test_a_material_change_is_published_14_days_ahead(db, database_url, catcher):
    soon = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    r = run_cli(
        database_url,
        catcher.smtp_url,
        "publish-policy",
        "--document",
        "terms_of_service",
        "--version",
        "too-soon",
        "--effective",
        soon,
        "--summary",
        "New fees.",
        "--material",
    )
    assert r.returncode == 1 and "at least 14 days" in r.stderr, r.stderr
    later = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    version = f"cli-{datetime.now().timestamp()}"
    r = run_cli(
        database_url,
        catcher.smtp_url,
        "publish-policy",
        "--document",
        "terms_of_service",
        "--version",
        version,
        "--effective",
        later,
        "--summary",
        "New fees.",
        "--material",
    )
    assert r.returncode == 0, r.stderr
    assert "told from 14 days before" in r.stdout
    row = db.execute(
        "select material, effective_at - published_at > interval '14 days' as ahead "
        "from public.policy_versions where version = %s",
        (version,),
    ).fetchone()
    assert row["material"] and row["ahead"]
    db.execute("delete from public.policy_versions where version = %s", (version,))


def test_every_user_is_e_mailed_once_about_a_material_change(
    service_config, service, make_user, policy, mail, catcher, db
):
    first, second = make_user("first"), make_user("second")
    pool = service.app.extensions["numeraloop.pool"]
    mailer = PolicyNoticeMailer(pool, dataclasses.replace(service_config, smtp_url=catcher.smtp_url), batch=500)
    while mailer.run_once():
        pass
    for user in (first, second):
        message = mail.wait_for(user.email, "privacy policy changes")
        assert "60 days instead of 90" in message["text"] and "https://numeraloop.example/privacy" in message["text"]
    sent = db.execute(
        "select user_id, status, sent_at from public.notice_emails where policy_version_id = %s "
        "and user_id = any(%s::uuid[])",
        (policy["id"], [first.id, second.id]),
    ).fetchall()
    assert sorted(r["status"] for r in sent) == ["sent", "sent"] and all(r["sent_at"] for r in sent)

    # Once: another run, and a user who signs up now, find only the newcomer to tell.
    third = make_user("third")
    assert mailer.run_once() == 1
    assert len(mail.messages(to=first.email)) == 1
    mail.wait_for(third.email, "privacy policy changes")
    assert service.get("/api/v1/me/export", user=first).json()["notice_emails"][0]["status"] == "sent"


def test_a_failed_notice_e_mail_is_retried_after_its_lease(
    service_config, service, make_user, policy, mail, catcher, db
):
    user = make_user("retry")
    pool = service.app.extensions["numeraloop.pool"]
    broken = PolicyNoticeMailer(pool, dataclasses.replace(service_config, smtp_url="smtp://127.0.0.1:9"), batch=500)
    while broken.run_once():
        pass
    row = db.execute(
        "select status, attempts from public.notice_emails where policy_version_id = %s and user_id = %s",
        (policy["id"], user.id),
    ).fetchone()
    assert (row["status"], row["attempts"]) == ("failed", 1)
    working = PolicyNoticeMailer(pool, dataclasses.replace(service_config, smtp_url=catcher.smtp_url), batch=500)
    later = datetime.now(UTC) + timedelta(minutes=10)
    while working.run_once(now=later):
        pass
    mail.wait_for(user.email, "privacy policy changes")
    row = db.execute(
        "select status, attempts from public.notice_emails where policy_version_id = %s and user_id = %s",
        (policy["id"], user.id),
    ).fetchone()
    assert (row["status"], row["attempts"]) == ("sent", 2)


def test_a_breach_notification_e_mails_every_member_of_the_chosen_workspaces(
    make_user, mail, catcher, db, database_url
):
    owner, agent, bystander = make_user("breached"), make_user("breached-agent"), make_user("bystander")
    add_member(db, owner.workspace_id, agent, "agent")
    # An account signed up by phone alone has no address to write to: it is left out, not an error.
    phone_only = make_user("phone-only")
    db.execute("update auth.users set email = null where id = %s", (phone_only.id,))
    detected = (datetime.now(UTC) - timedelta(hours=80)).isoformat()
    r = run_cli(
        database_url,
        catcher.smtp_url,
        "notify",
        "--workspace",
        owner.workspace_id,
        "--workspace",
        phone_only.workspace_id,
        "--subject",
        "A security incident affecting your workspace",
        "--body-file",
        "-",
        "--detected-at",
        detected,
        stdin="On 1 December an attacker read contact names.\nWhat we did: ...\n",
    )
    assert r.returncode == 0, r.stderr
    assert "2 e-mailed" in r.stdout and "later than the 72 hours" in r.stdout, r.stdout
    for user in (owner, agent):
        message = mail.wait_for(user.email, "security incident")
        assert "an attacker read contact names" in message["text"] and "Breached's workspace" in message["text"]
    assert mail.messages(to=bystander.email) == []
    notices = db.execute(
        "select user_id, kind, status from public.notice_emails where kind = 'breach' and user_id = any(%s::uuid[])",
        ([owner.id, agent.id, bystander.id, phone_only.id],),
    ).fetchall()
    assert sorted((str(n["user_id"]), n["status"]) for n in notices) == sorted([(owner.id, "sent"), (agent.id, "sent")])
    audit = db.execute(
        "select details from public.audit_log where workspace_id = %s and action = 'privacy.breach_notified'",
        (owner.workspace_id,),
    ).fetchone()
    assert audit["details"]["members"] == 2

    r = run_cli(
        database_url,
        catcher.smtp_url,
        "notify",
        "--workspace",
        "00000000-0000-4000-8000-000000000000",
        "--subject",
        "x",
        "--body-file",
        "-",
        stdin="x",
    )
    assert r.returncode == 1 and "no such workspace" in r.stderr


def test_a_product_e_mail_goes_only_to_those_who_consented(service, make_user, mail, catcher, database_url):
    yes, no, withdrawn = make_user("yes"), make_user("no"), make_user("withdrawn")
    for user, answers in ((yes, [True]), (withdrawn, [True, False])):
        for granted in answers:
            service.request("PUT", "/api/v1/me/consent", user=user, json={"product_emails": granted})
    r = run_cli(
        database_url,
        catcher.smtp_url,
        "product-email",
        "--subject",
        "What's new in NumeraLoop",
        "--body-file",
        "-",
        stdin="Campaign estimates are here.",
    )
    assert r.returncode == 0, r.stderr
    message = mail.wait_for(yes.email, "What's new")
    assert "Campaign estimates are here." in message["text"] and '"product_emails": false' in message["text"]
    assert mail.messages(to=no.email) == [] and mail.messages(to=withdrawn.email) == []


def test_without_smtp_nothing_is_sent_and_the_operator_is_told(make_user, database_url):
    user = make_user("unmailed")
    r = run_cli(
        database_url, "", "notify", "--workspace", user.workspace_id, "--subject", "x", "--body-file", "-", stdin="x"
    )
    assert r.returncode == 2 and "SMTP_URL" in r.stderr


def test_notice_tables_take_no_client_writes(make_user, database_url, policy):
    from tests.support.database import acting_as

    user = make_user()
    for statement in (
        "insert into public.policy_versions (document, version, summary, effective_at) "
        "values ('privacy_policy', 'mine', 'x', now() + interval '30 days')",
        "update public.notice_emails set status = 'sent'",
        "delete from public.consent_events",
    ):
        with acting_as(database_url, "authenticated", user.claims) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
