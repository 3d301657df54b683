"""For every table in `public`, a member of another workspace reads none of a workspace's rows
and changes none of them, and nobody else reads or changes a user's own rows.

The tables come from the catalog, not from a list kept here: a table with a `workspace_id`
column is checked as soon as it exists, and the test fails until the fixture below puts a row
in it. A table without that column must be named below: reached through something else
(OWNER_COLUMN), one user's rows (USER_TABLES), or owned by nobody (NO_OWNER, with the reason).
A table in none of them fails the test.

Each check runs as PostgREST runs a request (role `authenticated`, the outsider's claims) and
names A's rows by primary key, fetched beforehand by the superuser, so no check passes only
because a sub-select on some other table was filtered by RLS. The statements are built to get
past the table grants where the outsider has any (a column they may update, the columns they
may insert), so what answers is the row-level policy, not a missing grant.
"""

from __future__ import annotations

import dataclasses
import json

import psycopg
import pytest
from psycopg import sql

from tests.billing.events import give_workspace_billing
from tests.support.database import acting_as

# Tables without a workspace_id column whose rows still belong to one workspace: the column
# that holds the workspace's id.
OWNER_COLUMN = {
    "workspaces": "id",  # the workspace itself
}

# One user's rows, in no workspace: checked the same way, one user against another.
USER_TABLES = {
    "profiles": "id",
    "access_log": "user_id",
    "data_requests": "user_id",
    "processing_restrictions": "user_id",
    "consent_events": "user_id",
    "notice_emails": "user_id",
}

# Owned by nobody, so there is no other owner to hide rows from.
NO_OWNER = {
    # The price list: the same for everyone, read by any signed-in user, written only by migrations.
    "plans": "the same price list for every workspace",
    # The published privacy policy and terms: the same text for everyone, written only by the operator.
    "policy_versions": "the published policy versions, the same for every user",
    # Stripe's event ids, kept so a redelivered event is applied once: no grant to anon or
    # authenticated at all (test_rls_everywhere and the export catalog test check the grants).
    "stripe_events": "service-only idempotency log of Stripe events",
}


@dataclasses.dataclass(frozen=True)
class Populated:
    workspace_id: str
    user_id: str


@pytest.fixture
def populated(inbox, sandbox, service, db):
    """One workspace with a row in every workspace table, and its owner with a row in every
    user table, made through the product's own paths wherever the product has one."""
    ws = inbox.workspace_id
    list_id = db.execute(
        "insert into public.contact_lists (workspace_id, name) values (%s, 'VIP') returning id", (ws,)
    ).fetchone()["id"]
    db.execute(
        "insert into public.keyword_triggers (workspace_id, keyword, reply_text, add_to_list_id) "
        "values (%s, 'JOIN', 'Welcome', %s)",
        (ws, list_id),
    )
    db.execute(
        "insert into public.auto_reply_rules (workspace_id, kind, reply_text) values (%s, 'first_message', 'Hi!')",
        (ws,),
    )
    db.execute(
        "insert into public.canned_messages (workspace_id, title, body) values (%s, 'Eta', 'Hi {{first_name}}')", (ws,)
    )
    db.execute(
        "insert into public.webhook_endpoints (workspace_id, url) values (%s, 'https://hooks.example.com/x')", (ws,)
    )
    db.execute(
        "insert into public.call_routing_rules (workspace_id, phone_number_id, action) values (%s, %s, 'voicemail')",
        (ws, inbox.number["id"]),
    )
    db.execute(
        "insert into public.message_prices (workspace_id, country, per_segment) values (%s, 'US', 0.0079)", (ws,)
    )
    assert (
        sandbox.inject_sms("+16285558001", inbox.e164, "JOIN", media=["https://media.example.com/p.jpg"])["status"]
        == 200
    )
    assert sandbox.inject_sms("+16285558002", inbox.e164, "STOP")["status"] == 200  # opt_outs, opt_out_events
    # An inbound text marks its conversation for a new-message e-mail (conversation_email_alerts);
    # the inbox page notes who has it open (conversation_viewers).
    with db.transaction():
        db.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(inbox.user.claims),),
        )
        assert db.execute(
            "select public.note_conversation_viewed(c.id) as noted from public.conversations c "
            "where c.workspace_id = %s limit 1",
            (ws,),
        ).fetchone()["noted"]
    assert sandbox.inject_call("+16285558004", inbox.e164, duration=5)["status"] == 200
    r = service.post(
        "/api/v1/messages",
        user=inbox.user,
        json={"workspace_id": ws, "from": inbox.e164, "to": "+16285558003", "body": "hello"},
    )
    assert r.status_code == 201, r.text
    r = service.post(
        "/api/v1/contacts/import",
        user=inbox.user,
        files={"file": ("contacts.csv", b"phone,first_name\n+16285558005,Ann\n", "text/csv")},
        data={"workspace_id": ws, "consent_source": "website form", "list_id": str(list_id)},
    )
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    # Scheduled far ahead, so no sender elsewhere in the run texts the list.
    campaign = db.execute(
        "insert into public.campaigns (workspace_id, name, phone_number_id, body, list_ids) "
        "values (%s, 'Spring', %s, 'Hi {{first_name|there}}', %s) returning id",
        (ws, inbox.number["id"], [list_id]),
    ).fetchone()["id"]
    r = service.post(
        f"/api/v1/campaigns/{campaign}/launch", user=inbox.user, json={"scheduled_at": "2099-01-01T00:00:00Z"}
    )
    assert r.status_code == 201 and r.json()["recipients_total"] >= 1, r.text
    assert sandbox.wait_idle(), "status callbacks (and the webhook deliveries they queue) have landed"
    give_workspace_billing(db, ws)  # through private.apply_stripe_event, as the Stripe webhook writes
    r = service.post(
        f"/api/v1/workspaces/{ws}/invitations", user=inbox.user, json={"email": "invitee@example.test", "role": "agent"}
    )
    assert r.status_code == 201, r.text
    # The owner's own privacy records: consent, a breach notice e-mailed to the workspace's members, and
    # last (nothing is sent for the workspace after it) a restriction of processing.
    assert (
        service.request("PUT", "/api/v1/me/consent", user=inbox.user, json={"product_emails": True}).status_code == 200
    )
    db.execute("select private.record_breach_notification(array[%s]::uuid[], 'Security notice', now())", (ws,))
    assert service.post("/api/v1/me/restriction", user=inbox.user).status_code == 201
    r = service.get("/api/v1/me/export", user=inbox.user)  # a data_request; every API call is in access_log
    assert r.status_code == 200, r.text
    return Populated(workspace_id=ws, user_id=inbox.user.id)


def public_tables(db) -> list[str]:
    return [
        r["relname"]
        for r in db.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by 1"
        )
    ]


def has_workspace_id(db, table: str) -> bool:
    return db.execute(
        "select exists (select 1 from pg_attribute where attrelid = %s::regclass "
        "and attname = 'workspace_id' and attnum > 0 and not attisdropped) as e",
        (f"public.{table}",),
    ).fetchone()["e"]


def primary_key(db, table: str) -> list[str]:
    return [
        r["attname"]
        for r in db.execute(
            "select a.attname from pg_index i cross join unnest(i.indkey) with ordinality k(attnum, ord) "
            "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum "
            "where i.indrelid = %s::regclass and i.indisprimary order by k.ord",
            (f"public.{table}",),
        )
    ]


def granted_columns(db, table: str, privilege: str) -> list[str]:
    """Columns `authenticated` holds `privilege` on (table-wide or per column), in table order."""
    return [
        r["attname"]
        for r in db.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped "
            "and has_column_privilege('authenticated', attrelid, attnum, %s) order by attnum",
            (f"public.{table}", privilege),
        )
    ]


def owner_column(db, table: str) -> str | None:
    if table in OWNER_COLUMN:
        return OWNER_COLUMN[table]
    if table in USER_TABLES:
        return USER_TABLES[table]
    return "workspace_id" if has_workspace_id(db, table) else None


def test_every_public_table_is_owned_or_listed_as_unowned(db):
    tables = set(public_tables(db))
    assert tables, "expected tables in public"
    unaccounted = sorted(t for t in tables if t not in NO_OWNER and owner_column(db, t) is None)
    assert unaccounted == [], (
        "tables with no workspace_id column: map them to their owner in OWNER_COLUMN / USER_TABLES, "
        f"or add them to NO_OWNER with the reason nobody owns their rows: {unaccounted}"
    )
    stale = sorted((set(OWNER_COLUMN) | set(USER_TABLES) | set(NO_OWNER)) - tables)
    assert stale == [], f"listed here but no longer tables in public: {stale}"
    both = sorted(t for t in NO_OWNER if t in OWNER_COLUMN or t in USER_TABLES or has_workspace_id(db, t))
    assert both == [], f"listed as unowned but they have an owner column: {both}"
    no_key = sorted(t for t in tables - set(NO_OWNER) if not primary_key(db, t))
    assert no_key == [], f"owned tables without a primary key (this test names rows by it): {no_key}"


@dataclasses.dataclass
class Target:
    """One table's rows of the owner, and the statements the outsider tries on them."""

    table: str
    owner_col: str
    keys: list[str]
    key_rows: str  # JSON array of the owner's rows' primary keys
    sample: str  # JSON of one of the owner's rows, for the insert

    @property
    def ident(self):
        return sql.Identifier("public", self.table)

    def by_key(self):
        """`where (pk...) in (the owner's keys)`, bound to one parameter."""
        cols = sql.SQL(", ").join(sql.Identifier("t", k) for k in self.keys)
        picked = sql.SQL(", ").join(sql.Identifier("k", k) for k in self.keys)
        return sql.SQL("({}) in (select {} from jsonb_populate_recordset(null::{}, %s::jsonb) k)").format(
            cols, picked, self.ident
        )


def target(db, table: str, owner_col: str, owner: str) -> Target:
    keys = primary_key(db, table)
    ident = sql.Identifier("public", table)
    key_obj = sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(k), sql.Identifier(k)) for k in keys)
    )
    row = db.execute(
        sql.SQL(
            "select coalesce(jsonb_agg({}), '[]') as keys, (array_agg(to_jsonb(t)))[1] as sample "
            "from {} t where t.{} = %s"
        ).format(key_obj, ident, sql.Identifier(owner_col)),
        (owner,),
    ).fetchone()
    return Target(table, owner_col, keys, json.dumps(row["keys"]), json.dumps(row["sample"]))


def check_outsider_is_kept_out(database_url, db, t: Target, owner_claims: dict, outsider_claims: dict) -> list[str]:
    """What the outsider managed on the owner's rows of `t.table`; [] when nothing."""
    problems = []
    where = t.by_key()
    readable = db.execute(
        "select has_table_privilege('authenticated', %s, 'select') as r", (f"public.{t.table}",)
    ).fetchone()["r"]

    def count_as(claims):
        with acting_as(database_url, "authenticated", claims) as conn:
            try:
                return conn.execute(
                    sql.SQL("select count(*) as n from {} t where {}").format(t.ident, where), (t.key_rows,)
                ).fetchone()["n"]
            except psycopg.errors.InsufficientPrivilege:
                return 0

    # The owner reads them through the very same statement, so the outsider's 0 means something.
    if readable and count_as(owner_claims) == 0:
        problems.append(f"{t.table}: the owner reads none of their own rows (the check would prove nothing)")
    if seen := count_as(outsider_claims):
        problems.append(f"{t.table}: the outsider reads {seen} row(s)")

    # A column the outsider may update, if any, so the grant lets the statement through to the policy.
    updatable = granted_columns(db, t.table, "update")
    column = sql.Identifier(updatable[0] if updatable else t.owner_col)
    statements = {
        "update": sql.SQL("update {} t set {} = t.{} where {}").format(t.ident, column, column, where),
        "delete": sql.SQL("delete from {} t where {}").format(t.ident, where),
    }
    for verb, statement in statements.items():
        with acting_as(database_url, "authenticated", outsider_claims) as conn:
            try:
                changed = conn.execute(statement, (t.key_rows,)).rowcount
            except psycopg.errors.InsufficientPrivilege:
                changed = 0
        if changed:
            problems.append(f"{t.table}: the outsider's {verb} reached {changed} row(s)")

    # A copy of one of the owner's rows, in every column the outsider may insert (at least the
    # owner column): only the policy (or the missing grant) stands between it and the table.
    columns = sorted(set(granted_columns(db, t.table, "insert")) | {t.owner_col})
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    insert = sql.SQL("insert into {} ({}) select {} from jsonb_populate_record(null::{}, %s::jsonb)").format(
        t.ident, names, names, t.ident
    )
    with acting_as(database_url, "authenticated", outsider_claims) as conn:
        try:
            conn.execute(insert, (t.sample,))
        except psycopg.errors.InsufficientPrivilege:
            pass
        except psycopg.Error as exc:
            problems.append(
                f"{t.table}: the outsider's insert was refused, but not by grants or RLS "
                f"({exc.sqlstate}: {exc.diag.message_primary})"
            )
        else:
            problems.append(f"{t.table}: the outsider inserted a row owned by someone else")
    return problems


def report(empty: list[str], problems: list[str]) -> str:
    lines = [f"the fixture made no row in {t} (add one to `populated`)" for t in empty] + problems
    return "\n".join(lines)


def claims_of(user_id: str, email: str = "x@example.test") -> dict:
    return {"sub": user_id, "role": "authenticated", "aud": "authenticated", "email": email}


def test_another_workspace_reads_and_changes_none_of_a_workspaces_rows(populated, make_user, db, database_url):
    outsider = make_user("outsider")  # owner of their own workspace: the most any other member can be
    # Tables no owner column was found for fail test_every_public_table_is_owned_or_listed_as_unowned.
    tables = [t for t in public_tables(db) if t not in USER_TABLES and t not in NO_OWNER and owner_column(db, t)]
    assert "messages" in tables and "workspaces" in tables

    empty, problems = [], []
    for table in tables:
        t = target(db, table, owner_column(db, table), populated.workspace_id)
        if t.key_rows == "[]":
            empty.append(table)
            continue
        problems += check_outsider_is_kept_out(database_url, db, t, claims_of(populated.user_id), outsider.claims)
    assert not (empty or problems), report(empty, problems)


def test_another_user_reads_and_changes_none_of_a_users_own_rows(populated, make_user, db, database_url):
    outsider = make_user("outsider")
    empty, problems = [], []
    for table, column in USER_TABLES.items():
        t = target(db, table, column, populated.user_id)
        if t.key_rows == "[]":
            empty.append(table)
            continue
        problems += check_outsider_is_kept_out(database_url, db, t, claims_of(populated.user_id), outsider.claims)
    assert not (empty or problems), report(empty, problems)
