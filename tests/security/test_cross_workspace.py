"""For every table in `public` that holds workspace rows, a member of another workspace can
read none of them and change none of them. Walks the catalog, so a new table is covered
as soon as a fixture puts a row in it (and the test says which tables it could not check)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.billing.events import give_workspace_billing
from tests.support.database import acting_as

# Tables the populated workspace below is expected to have rows in; a new workspace table
# should be added to the fixture and here.
MUST_BE_CHECKED = {
    "workspace_members", "twilio_accounts", "phone_numbers", "call_routing_rules", "audit_log", "contacts",
    "contact_lists", "contact_list_members", "conversations", "messages", "message_media", "opt_outs",
    "keyword_triggers", "auto_reply_rules", "canned_messages", "webhook_endpoints", "webhook_deliveries",
    "calls", "contact_imports", "billing_customers", "subscriptions", "invoices", "payment_methods",
}


@pytest.fixture
def populated(inbox, sandbox, service, db):
    """One workspace with a row in (nearly) every table, made through the product's own paths."""
    ws = inbox.workspace_id
    list_id = db.execute("insert into public.contact_lists (workspace_id, name) values (%s, 'VIP') returning id",
                         (ws,)).fetchone()["id"]
    db.execute("insert into public.keyword_triggers (workspace_id, keyword, reply_text, add_to_list_id) "
               "values (%s, 'JOIN', 'Welcome', %s)", (ws, list_id))
    db.execute("insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (%s, 'first_message', 'Hi!')",
               (ws,))
    db.execute("insert into public.canned_messages (workspace_id, title, body) values (%s, 'Eta', 'Hi {{first_name}}')",
               (ws,))
    db.execute("insert into public.webhook_endpoints (workspace_id, url) values (%s, 'https://hooks.example.com/x')", (ws,))
    db.execute("insert into public.call_routing_rules (workspace_id, phone_number_id, action) values (%s, %s, 'voicemail')",
               (ws, inbox.number["id"]))
    sandbox.inject_sms("+16285558001", inbox.e164, "JOIN", media=["https://media.example.com/p.jpg"])
    sandbox.inject_sms("+16285558002", inbox.e164, "STOP")
    assert sandbox.inject_call("+16285558004", inbox.e164, duration=5)["status"] == 200
    r = service.post("/api/v1/messages", user=inbox.user,
                     json={"workspace_id": ws, "from": inbox.e164, "to": "+16285558003", "body": "hello"})
    assert r.status_code == 201
    r = service.post("/api/v1/contacts/import", user=inbox.user,
                     files={"file": ("contacts.csv", b"phone,first_name\n+16285558005,Ann\n", "text/csv")},
                     data={"workspace_id": ws, "consent_source": "website form", "list_id": str(list_id)})
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    # Scheduled far ahead, so no sender elsewhere in the run texts the list.
    campaign = db.execute("insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids) "
                          "values (%s, 'Spring', %s, 'Hi {{first_name|there}}', %s) returning id",
                          (ws, inbox.number["id"], [list_id])).fetchone()["id"]
    r = service.post(f"/api/v1/campaigns/{campaign}/launch", user=inbox.user, json={"scheduled_at": "2099-01-01T00:00:00Z"})
    assert r.status_code == 201 and r.json()["recipients_total"] >= 1, r.text
    sandbox.wait_idle()  # status callbacks (and the webhook deliveries they queue) have landed
    give_workspace_billing(db, ws)  # through private.apply_stripe_event, as the Stripe webhook writes
    return ws


def workspace_tables(db) -> list[str]:
    return [r["table_name"] for r in db.execute(
        "select c.table_name from information_schema.columns c join information_schema.tables t "
        "on t.table_schema = c.table_schema and t.table_name = c.table_name "
        "where c.table_schema = 'public' and c.column_name = 'workspace_id' and t.table_type = 'BASE TABLE' "
        "order by 1")]


def test_other_workspace_reads_and_changes_nothing(populated, make_user, db, database_url):
    outsider = make_user("outsider")
    tables = workspace_tables(db)
    counts = {t: db.execute(sql.SQL("select count(*) as n from public.{} where workspace_id = %s").format(
        sql.Identifier(t)), (populated,)).fetchone()["n"] for t in tables}
    checked = {t for t, n in counts.items() if n}
    assert MUST_BE_CHECKED <= checked, f"no rows to check in: {sorted(MUST_BE_CHECKED - checked)}"

    for table in sorted(checked):
        ident = sql.Identifier(table)
        with acting_as(database_url, "authenticated", outsider.claims) as conn:
            seen = conn.execute(sql.SQL("select count(*) as n from public.{} where workspace_id = %s").format(ident),
                                (populated,)).fetchone()["n"]
            assert seen == 0, f"outsider reads {table}"
        for statement in (sql.SQL("update public.{} set workspace_id = workspace_id where workspace_id = %s"),
                          sql.SQL("delete from public.{} where workspace_id = %s")):
            with acting_as(database_url, "authenticated", outsider.claims) as conn:
                try:
                    changed = conn.execute(statement.format(ident), (populated,)).rowcount
                except psycopg.errors.InsufficientPrivilege:
                    changed = 0
                assert changed == 0, f"outsider changes {table}"
        with acting_as(database_url, "authenticated", outsider.claims) as conn:
            # Inserting a row into the other workspace: refused by grants or by RLS (42501),
            # whatever else the row lacks.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("insert into public.{} (workspace_id) values (%s)").format(ident), (populated,))

    # Nothing changed for real either.
    after = {t: db.execute(sql.SQL("select count(*) as n from public.{} where workspace_id = %s").format(
        sql.Identifier(t)), (populated,)).fetchone()["n"] for t in tables}
    assert after == counts
