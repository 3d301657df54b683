"""What the export holds beyond messages and contacts: the caller's own access log, and per
workspace its imports, campaigns, automations, routing rules, webhook endpoints (never their
secret), audit log and billing, each exactly as RLS lets the caller read it."""

from __future__ import annotations

import csv
import io
import zipfile

from tests.support.database import add_member

from .conftest import OUTSIDER_MARKER, add_workspace_records

OURS = "our-workspace"
# Read by every member; invoices, payment methods, webhook endpoints and the audit log are
# admins' only (owners count as admins).
MEMBER_TABLES = (
    "contact_imports",
    "campaigns",
    "campaign_recipients",
    "canned_messages",
    "keyword_triggers",
    "auto_reply_rules",
    "call_routing_rules",
    "billing_customers",
    "subscriptions",
)
ADMIN_TABLES = ("invoices", "payment_methods", "webhook_endpoints", "audit_log")


def keys_anywhere(value) -> set[str]:
    """Every object key at any depth of a JSON document."""
    if isinstance(value, dict):
        return set(value).union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value))
    return set()


def workspace_in(doc: dict, workspace_id: str) -> dict:
    [workspace] = [w for w in doc["workspaces"] if w["id"] == workspace_id]
    return workspace


def assert_nothing_of_the_outsider(text: str, outsider) -> None:
    for leaked in (OUTSIDER_MARKER, outsider.user.id, outsider.user.workspace_id, *outsider.records.values()):
        assert leaked not in text


def last_export_counts(db, user_id: str) -> dict:
    return db.execute(
        "select details -> 'counts' as c from public.audit_log where action = 'data.export' "
        "and actor_user_id = %s order by id desc limit 1",
        (user_id,),
    ).fetchone()["c"]


def test_the_export_holds_the_callers_access_log_and_nobody_elses(service, make_user, outsider, db):
    user = make_user("logged")
    for _ in range(2):
        assert service.get("/api/v1/me/deletion", user=user).status_code == 200
    assert service.get("/api/v1/me/deletion", user=outsider.user).status_code == 200

    r = service.get("/api/v1/me/export", user=user)
    assert r.status_code == 200, r.text
    rows = r.json()["access_log"]
    # The export's own request is logged as it starts, before the rows stream.
    assert [(x["method"], x["route"], x["status"]) for x in rows] == [
        ("GET", "/api/v1/me/deletion", 200),
        ("GET", "/api/v1/me/deletion", 200),
        ("GET", "/api/v1/me/export", 200),
    ]
    assert {x["user_id"] for x in rows} == {user.id}
    assert_nothing_of_the_outsider(r.text, outsider)
    assert last_export_counts(db, user.id)["access_log"] == 3


def test_an_owner_exports_every_workspace_table_without_secrets(inbox, service, outsider, db):
    ours = add_workspace_records(db, inbox.workspace_id, inbox.number["id"], OURS)
    r = service.get("/api/v1/me/export", user=inbox.user)
    assert r.status_code == 200, r.text
    doc = r.json()
    workspace = workspace_in(doc, inbox.workspace_id)

    for table in MEMBER_TABLES + ADMIN_TABLES:
        assert workspace[table], f"{table} is exported"
        assert {row["workspace_id"] for row in workspace[table]} == {inbox.workspace_id}, table
    assert [c["id"] for c in workspace["campaigns"]] == [ours["campaign_id"]]
    assert [c["campaign_id"] for c in workspace["campaign_recipients"]] == [ours["campaign_id"]]
    assert [i["filename"] for i in workspace["contact_imports"]] == [f"{OURS}.csv"]
    assert [c["body"] for c in workspace["canned_messages"]] == [f"{OURS} canned body"]
    assert [k["reply_text"] for k in workspace["keyword_triggers"]] == [f"{OURS} keyword reply"]
    assert [a["reply_text"] for a in workspace["auto_reply_rules"]] == [f"{OURS} auto reply"]
    assert [c["name"] for c in workspace["call_routing_rules"]] == [f"{OURS} routing"]
    assert [b["stripe_customer_id"] for b in workspace["billing_customers"]] == [ours["stripe_customer_id"]]
    assert [s["stripe_subscription_id"] for s in workspace["subscriptions"]] == [ours["stripe_subscription_id"]]
    assert [i["stripe_invoice_id"] for i in workspace["invoices"]] == [ours["stripe_invoice_id"]]
    assert [(p["brand"], p["last4"]) for p in workspace["payment_methods"]] == [("visa", "4242")]
    assert f"{OURS} endpoint" in {w["description"] for w in workspace["webhook_endpoints"]}
    assert "test.export_marker" in {a["action"] for a in workspace["audit_log"]}

    # The endpoint is there, its signing secret is not: no `secret` key at any depth, nor its value.
    assert "secret" not in keys_anywhere(doc)
    assert ours["webhook_secret"] not in r.text
    assert_nothing_of_the_outsider(r.text, outsider)

    counts = last_export_counts(db, inbox.user.id)
    for table in MEMBER_TABLES + ADMIN_TABLES:
        assert counts[table] == len(workspace[table]), table


def test_an_agent_exports_only_what_rls_shows_agents(inbox, service, make_user, outsider, db):
    add_workspace_records(db, inbox.workspace_id, inbox.number["id"], OURS)
    agent, admin = make_user("agent"), make_user("admin")
    add_member(db, inbox.workspace_id, agent, "agent")
    add_member(db, inbox.workspace_id, admin, "admin")

    r = service.get("/api/v1/me/export", user=agent)
    assert r.status_code == 200, r.text
    shared = workspace_in(r.json(), inbox.workspace_id)
    for table in MEMBER_TABLES:
        assert shared[table], f"an agent reads {table}"
    for table in ADMIN_TABLES:
        assert shared[table] == [], f"{table} is for admins only"
    assert "secret" not in keys_anywhere(r.json())
    assert_nothing_of_the_outsider(r.text, outsider)
    counts = last_export_counts(db, agent.id)
    assert counts["invoices"] == counts["payment_methods"] == counts["webhook_endpoints"] == 0

    as_admin = workspace_in(service.get("/api/v1/me/export", user=admin).json(), inbox.workspace_id)
    for table in ADMIN_TABLES:
        assert as_admin[table], f"an admin reads {table}"
    assert "secret" not in keys_anywhere(as_admin)


def read_zip(content: bytes) -> tuple[dict[str, list[str]], dict[str, list[dict]], str]:
    """Each file's header and rows, and all the text in the archive."""
    archive = zipfile.ZipFile(io.BytesIO(content))
    headers, rows, texts = {}, {}, []
    for name in archive.namelist():
        raw = archive.read(name)
        assert raw.startswith(b"\xef\xbb\xbf"), f"{name} starts with a BOM"
        text = raw.decode("utf-8-sig")
        texts.append(text)
        reader = csv.reader(io.StringIO(text))
        headers[name] = next(reader)
        rows[name] = [dict(zip(headers[name], row)) for row in reader]
    return headers, rows, "".join(texts)


def schema_columns(db, table: str) -> list[str]:
    return [
        r["column_name"]
        for r in db.execute(
            "select column_name::text from information_schema.columns where table_schema = 'public' "
            "and table_name = %s order by ordinal_position",
            (table,),
        )
    ]


def test_the_csv_zip_has_a_file_per_new_table_with_its_header(inbox, service, make_user, outsider, db):
    ours = add_workspace_records(db, inbox.workspace_id, inbox.number["id"], OURS)
    formula = '=HYPERLINK("http://evil.example/x","click")'
    db.execute(
        "insert into public.canned_messages (workspace_id, title, body) values (%s, 'Trap', %s)",
        (inbox.workspace_id, formula),
    )
    service.get("/api/v1/me/deletion", user=inbox.user)  # something in the access log

    r = service.get("/api/v1/me/export?format=csv", user=inbox.user)
    assert r.status_code == 200, r.text
    headers, rows, everything = read_zip(r.content)
    for table in (*MEMBER_TABLES, *ADMIN_TABLES, "access_log"):
        expected = [c for c in schema_columns(db, table) if c != "secret"]
        assert headers[f"{table}.csv"] == expected, table
        assert rows[f"{table}.csv"], f"{table}.csv has the rows"
    assert "secret" not in headers["webhook_endpoints.csv"]
    assert ours["webhook_secret"] not in everything
    assert [i["stripe_invoice_id"] for i in rows["invoices.csv"]] == [ours["stripe_invoice_id"]]
    assert {a["user_id"] for a in rows["access_log.csv"]} == {inbox.user.id}
    bodies = {c["body"] for c in rows["canned_messages.csv"]}
    assert "'" + formula in bodies and formula not in bodies, "formula-like cells are defused in new tables too"
    assert_nothing_of_the_outsider(everything, outsider)

    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    headers, rows, _ = read_zip(service.get("/api/v1/me/export?format=csv", user=agent).content)
    assert headers["invoices.csv"] == schema_columns(db, "invoices"), "an empty table still has its header"
    assert rows["invoices.csv"] == [] and rows["payment_methods.csv"] == [] and rows["webhook_endpoints.csv"] == []
    assert rows["campaigns.csv"] and rows["subscriptions.csv"]
