"""Every table a signed-in user can read is in their export, or listed below with the reason it
is not. The tables come from the catalog (what `authenticated` may SELECT), and the export's
contents from an export itself, so a new readable table fails this test until it is exported
or excluded here."""

from __future__ import annotations

from numeraloop.privacy import export

# Readable by `authenticated` but not exported, and why.
NOT_EXPORTED = {
    "plans": "the price list, the same for every user: nothing personal",
    # missing: privacy issue. The workspace's Twilio account (sid, name, status; its secrets are in
    # private.twilio_credentials and never readable) is the caller's data and belongs in the export.
    "twilio_accounts": "missing: privacy issue",
    # missing: privacy issue. When and how each number opted out or back in (keyword, source).
    "opt_out_events": "missing: privacy issue",
    # missing: privacy issue. The events sent to the workspace's webhook endpoints, with their payloads.
    "webhook_deliveries": "missing: privacy issue",
    # missing: privacy issue. Who was invited to the workspace (their e-mail address), by whom, and when.
    "workspace_invitations": "missing: privacy issue",
    # missing: privacy issue. The workspace's own SMS prices per country (its settings; the default rows,
    # with no workspace, are the same for everyone).
    "message_prices": "missing: privacy issue",
}

# Keys of the export document that hold a table under another name; every other key that is a
# table's name holds that table.
DOCUMENT_KEYS = {"profile": "profiles", "memberships": "workspace_members"}


def readable_tables(db) -> set[str]:
    return {
        r["relname"]
        for r in db.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f') "
            "and has_any_column_privilege('authenticated', c.oid, 'select')"
        )
    }


def exported_tables(doc: dict, tables: set[str]) -> set[str]:
    """The tables an export document holds rows of: top-level keys, each workspace's keys, and
    the media nested in messages."""
    found = {DOCUMENT_KEYS.get(k, k) for k in doc} & tables
    for workspace in doc["workspaces"]:
        found |= set(workspace) & tables
        if "messages" in workspace:
            found.add("message_media")  # nested in each message as `media`
    return found


def test_every_table_a_user_can_read_is_exported_or_excluded_with_a_reason(service, make_user, db):
    user = make_user("catalog")
    r = service.get("/api/v1/me/export", user=user)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["workspaces"], "the personal workspace is in the export, with a key per table even when empty"

    readable = readable_tables(db)
    exported = exported_tables(doc, readable)
    assert {"profiles", "messages", "message_media", "workspaces"} <= exported

    unaccounted = sorted(readable - exported - set(NOT_EXPORTED))
    assert unaccounted == [], (
        "readable by signed-in users but neither exported nor excluded: add them to the export "
        f"(private.export_workspace_tables) or to NOT_EXPORTED with the reason: {unaccounted}"
    )
    both = sorted(set(NOT_EXPORTED) & exported)
    assert both == [], f"exported now: take them off NOT_EXPORTED: {both}"
    stale = sorted(set(NOT_EXPORTED) - readable)
    assert stale == [], f"listed in NOT_EXPORTED but not readable by authenticated (or gone): {stale}"


def test_the_csv_export_has_a_file_for_every_exported_table(service, make_user, db):
    # A workspace key the zip builder does not know would be flattened into workspaces.csv.
    doc = service.get("/api/v1/me/export", user=make_user("csv-catalog")).json()
    assert set(export.CSV_TABLES) == exported_tables(doc, readable_tables(db))
