"""What Twilio and Stripe hold is deleted too: an account's deletion cancels its Stripe subscription
and deletes its customer, clears its numbers' webhooks and deletes its recordings at Twilio, and
leaves only invoices and detached audit rows; a purged call's recording goes at Twilio as well.
The database queues these (private.provider_cleanup); the worker's loop does them."""

from __future__ import annotations

import dataclasses
import json

import psycopg
import pytest
import requests
import stripe
from psycopg import sql

from numeraloop.privacy.provider_cleanup import ProviderCleanup
from tests.billing.conftest import STRIPE_TEST_KEY, billing_service, stripe_control, stripe_server  # noqa: F401
from tests.voice.conftest import caller, enable_voicemail, twiml


@pytest.fixture
def cleanup(service, service_config, stripe_server):  # noqa: F811
    config = dataclasses.replace(
        service_config, stripe_secret_key=STRIPE_TEST_KEY, stripe_api_base_url=stripe_server.url
    )
    return ProviderCleanup(service.app.extensions["numeraloop.pool"], config)


def drain(cleanup) -> None:
    """Runs the loop until nothing is due (a customer waits for its subscriptions: two rounds)."""
    for _ in range(5):
        if cleanup.run_once() == 0:
            return
    raise AssertionError("the queue did not drain")


def leave_voicemail(sandbox, db, inbox) -> dict:
    """A caller leaves a message on the inbox's number: its call row and the sandbox's recording."""
    enable_voicemail(db, inbox)
    r = sandbox.inject_call(caller(), inbox.e164)
    action = twiml(r["body"]).find("Record").get("action")
    left = sandbox.record(r["call_sid"], action=action, duration=6)
    assert left["webhook"]["status"] == 200, left
    call = db.execute("select * from public.calls where twilio_sid = %s", (r["call_sid"],)).fetchone()
    assert call["recording_sid"] == left["recording"]["sid"]
    return {"call": call, "recording": left["recording"]}


def number_at_twilio(inbox) -> requests.Response:
    account = inbox.account
    return requests.get(
        f"{inbox.account_api}/IncomingPhoneNumbers/{inbox.number['twilio_sid']}.json",
        auth=(account["sid"], account["auth_token"]),
        timeout=5,
    )


def recording_status(sandbox, inbox, sid: str) -> str:
    return next(r["status"] for r in sandbox.recordings(inbox.account["sid"]) if r["sid"] == sid)


def subscribe(billing_service, stripe_control, user) -> dict:  # noqa: F811
    r = billing_service.post(
        "/api/v1/billing/checkout", user=user, json={"workspace_id": user.workspace_id, "plan": "starter"}
    )
    assert r.status_code == 201, r.text
    done = stripe_control.complete_checkout(r.json()["session_id"])
    assert all(d["status"] == 200 for d in done["deliveries"]), done["deliveries"]
    return done


@pytest.fixture
def inbox_api(inbox, twilio_sandbox):
    inbox.account_api = f"{twilio_sandbox.url}/2010-04-01/Accounts/{inbox.account['sid']}"
    return inbox


def rows_naming(db, *ids: str) -> dict[str, list[dict]]:
    """Every row of every public table whose JSON mentions any of `ids`."""
    found = {}
    for t in db.execute("select tablename from pg_tables where schemaname = 'public' order by 1").fetchall():
        conditions = sql.SQL(" or ").join(
            sql.SQL("to_jsonb(t)::text like {}").format(sql.Literal(f"%{i}%")) for i in ids
        )
        rows = db.execute(
            sql.SQL("select to_jsonb(t) as row from public.{} t where {}").format(
                sql.Identifier(t["tablename"]), conditions
            )
        ).fetchall()
        if rows:
            found[t["tablename"]] = [r["row"] for r in rows]
    return found


def test_deleting_an_account_deletes_its_data_at_twilio_and_stripe(
    inbox_api,
    sandbox,
    db,
    service,
    billing_service,  # noqa: F811
    stripe_control,  # noqa: F811
    stripe_server,  # noqa: F811
    cleanup,
):
    inbox, user = inbox_api, inbox_api.user
    voicemail = leave_voicemail(sandbox, db, inbox)
    paid = subscribe(billing_service, stripe_control, user)
    customer = db.execute(
        "select stripe_customer_id from public.billing_customers where workspace_id = %s", (inbox.workspace_id,)
    ).fetchone()["stripe_customer_id"]
    assert number_at_twilio(inbox).json()["voice_url"].startswith(service.base_url)

    request = service.post("/api/v1/me/deletion", user=user)
    assert request.status_code == 202
    db.execute("select private.delete_due_accounts(now() + interval '7 days 1 minute')")
    assert (
        db.execute(
            "select status from public.data_requests where id = %s", (request.json()["deletion"]["id"],)
        ).fetchone()["status"]
        == "completed"
    )
    queued = db.execute(
        "select action, resource_id, account_sid, reason, due_by - now() < interval '30 days' as soon "
        "from private.provider_cleanup where workspace_id = %s order by action",
        (inbox.workspace_id,),
    ).fetchall()
    assert [(q["action"], q["resource_id"]) for q in queued] == [
        ("cancel_subscription", paid["subscription"]),
        ("clear_number_webhooks", inbox.number["twilio_sid"]),
        ("delete_customer", customer),
        ("delete_recording", voicemail["recording"]["sid"]),
    ]
    assert all(q["reason"] == "workspace_deleted" and q["soon"] for q in queued), "due 30 days after the request"

    drain(cleanup)

    # Twilio: the number stays in the customer's account, no longer pointing at us; the recording is gone.
    number = number_at_twilio(inbox)
    assert number.status_code == 200
    assert not any(number.json()[k] for k in ("sms_url", "voice_url", "status_callback")), number.json()
    assert recording_status(sandbox, inbox, voicemail["recording"]["sid"]) == "deleted"
    # Stripe, asked through its own client: the subscription canceled, the customer deleted.
    client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": stripe_server.url})
    assert client.v1.subscriptions.retrieve(paid["subscription"]).status == "canceled"
    assert client.v1.customers.retrieve(customer).to_dict().get("deleted") is True
    # Nothing left to do, and nothing of the account's Twilio credentials kept.
    assert (
        db.execute(
            "select count(*) as n from private.provider_cleanup where workspace_id = %s", (inbox.workspace_id,)
        ).fetchone()["n"]
        == 0
    )
    assert (
        db.execute(
            "select count(*) as n from private.provider_cleanup_credentials where account_sid = %s",
            (inbox.account["sid"],),
        ).fetchone()["n"]
        == 0
    )

    # Only invoices (detached, kept 7 years) and detached audit rows remain. (The number itself is
    # looked for by its SID: the sandbox hands its numbers out again, so another workspace may text it.)
    left = rows_naming(
        db,
        inbox.workspace_id,
        user.id,
        customer,
        inbox.account["sid"],
        inbox.number["twilio_sid"],
        voicemail["recording"]["sid"],
    )
    assert set(left) <= {"audit_log", "invoices"}, {t: len(r) for t, r in left.items()}
    assert all(r["workspace_id"] is None and r["actor_user_id"] is None for r in left.get("audit_log", [])), left
    invoices = db.execute(
        "select workspace_id, stripe_invoice_id from public.invoices where stripe_customer_id = %s", (customer,)
    ).fetchall()
    assert [(i["workspace_id"], i["stripe_invoice_id"]) for i in invoices] == [(None, paid["invoice"])]


def test_a_purged_calls_recording_is_deleted_at_twilio(inbox_api, sandbox, db, cleanup):
    inbox = inbox_api
    kept = leave_voicemail(sandbox, db, inbox)
    old = leave_voicemail(sandbox, db, inbox)
    db.execute(
        "update public.calls set created_at = now() - interval '90 days 1 minute' where id = %s", (old["call"]["id"],)
    )
    db.execute("select private.purge_expired_logs()")
    drain(cleanup)
    assert recording_status(sandbox, inbox, old["recording"]["sid"]) == "deleted"
    assert recording_status(sandbox, inbox, kept["recording"]["sid"]) == "completed"
    assert number_at_twilio(inbox).json()["voice_url"], "the workspace lives on: its number still points at us"


def test_a_failed_deletion_is_retried_later_and_one_already_gone_is_done(inbox_api, sandbox, db, cleanup):
    inbox = inbox_api
    first, second = leave_voicemail(sandbox, db, inbox), leave_voicemail(sandbox, db, inbox)
    account = inbox.account
    gone = requests.delete(
        f"{inbox.account_api}/Recordings/{first['recording']['sid']}.json",
        auth=(account["sid"], account["auth_token"]),
        timeout=5,
    )
    assert gone.status_code == 204  # deleted at Twilio some other way: a 404 for us
    sandbox.add_fault(
        account["sid"], status=503, code=20500, message="Service Unavailable", path_contains=second["recording"]["sid"]
    )
    try:
        db.execute("delete from public.calls where id = any(%s)", ([first["call"]["id"], second["call"]["id"]],))
        assert cleanup.run_once() == 2
    finally:
        sandbox.clear_faults(account["sid"])
    rows = db.execute(
        "select resource_id, attempts, last_error, next_attempt_at > now() as later "
        "from private.provider_cleanup where account_sid = %s",
        (account["sid"],),
    ).fetchall()
    assert [(r["resource_id"], r["attempts"], r["later"]) for r in rows] == [(second["recording"]["sid"], 1, True)]
    assert rows[0]["last_error"].startswith("twilio 503")
    db.execute("update private.provider_cleanup set next_attempt_at = now() where account_sid = %s", (account["sid"],))
    drain(cleanup)
    assert recording_status(sandbox, inbox, second["recording"]["sid"]) == "deleted"


def test_clients_cannot_reach_the_queue(database_url, make_user):
    user = make_user("queue-reader")
    from tests.support.database import acting_as

    for role, claims in (
        ("authenticated", {"sub": user.id, "role": "authenticated"}),
        ("anon", {"role": "anon"}),
        ("service_role", {"role": "service_role"}),
    ):
        with acting_as(database_url, role, claims) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select * from private.provider_cleanup")


def test_key_rotation_re_encrypts_the_credentials_kept_for_pending_deletions(database_url, service_config):
    sid = "AC" + "7" * 32
    new_key = "a-new-key-for-the-kept-token-0123456789"
    with psycopg.connect(database_url) as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "insert into private.provider_cleanup_credentials (account_sid, auth_token_encrypted, "
            "key_version) values (%s, private.encrypt_secret('kept-token', %s), %s)",
            (sid, service_config.encryption_key, service_config.encryption_key_version),
        )
        while conn.execute(
            "select private.reencrypt_twilio_credentials(%s::jsonb, %s, 99, 100)",
            (json.dumps(service_config.keyring()), new_key),
        ).fetchone()[0]:
            pass
        assert (
            conn.execute(
                "select key_version from private.provider_cleanup_credentials where account_sid = %s", (sid,)
            ).fetchone()[0]
            == 99
        )
        token = conn.execute(
            "select auth_token from private.provider_cleanup_twilio_credentials(%s, %s::jsonb)",
            (sid, json.dumps({"99": new_key})),
        ).fetchone()[0]
        assert token == "kept-token"
