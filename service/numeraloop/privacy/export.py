"""GET /api/v1/me/export?format=json|csv: everything the caller can read about themself and
in their workspaces, as a download.

public.export_my_data() builds the export as the caller (RLS applies) and records it as a
completed `export` data_request with a `data.export` audit row, in the same transaction.
`json` is that document as is; `csv` is a zip with one CSV per table, built in memory (the
export is bounded by retention: messages and calls older than 90 days are already gone).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime

import psycopg
from flask import Blueprint, Response, g, request

from ..db import as_user, current_pool
from ..errors import ApiError
from .deletion import account_gone

bp = Blueprint("privacy_export", __name__)

FORMATS = ("json", "csv")
# Per workspace in the export document: the key and the table whose rows it holds (the list
# the SQL function reads is private.export_workspace_tables(), plus messages).
WORKSPACE_TABLES = (
    "phone_numbers",
    "call_routing_rules",
    "contacts",
    "contact_lists",
    "contact_list_members",
    "contact_imports",
    "opt_outs",
    "conversations",
    "messages",
    "calls",
    "canned_messages",
    "keyword_triggers",
    "auto_reply_rules",
    "campaigns",
    "campaign_recipients",
    "webhook_endpoints",
    "audit_log",
    "billing_customers",
    "subscriptions",
    "invoices",
    "payment_methods",
)
# Top level in the export document: the caller's own rows.
USER_TABLES = ("access_log", "data_requests")
CSV_TABLES = ("profiles", "workspace_members", "workspaces", *WORKSPACE_TABLES, "message_media", *USER_TABLES)
# Columns the export never carries (export_workspace_tables() leaves them out), so no CSV has
# a header for them either.
OMITTED_COLUMNS = {"webhook_endpoints": frozenset({"secret"})}

# A spreadsheet runs a cell that starts like a formula; an inbound SMS body is written by a
# stranger. Such cells get a leading apostrophe (phone numbers and plain numbers are left alone).
_FORMULA_START = ("=", "@", "\t", "\r", "+", "-")
_NUMBER_LIKE = re.compile(r"^[+-]?[0-9][0-9 .()-]*$")


@bp.get("/me/export")
def export_my_data():
    fmt = (request.args.get("format") or "json").strip().lower()
    if fmt not in FORMATS:
        raise ApiError(422, "invalid_format", "format must be json or csv.", field="format")
    try:
        with as_user(current_pool(), g.claims) as conn:
            doc = conn.execute("select public.export_my_data(%s) as doc", (fmt,)).fetchone()["doc"]
            columns = _table_columns(conn) if fmt == "csv" else {}
    except psycopg.errors.InsufficientPrivilege:
        raise account_gone() from None

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if fmt == "json":
        body = json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")
        return _download(body, "application/json", f"numeraloop-export-{stamp}.json")
    return _download(build_zip(doc, columns), "application/zip", f"numeraloop-export-{stamp}.zip")


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: no shared or browser cache keeps it
    return response


def _table_columns(conn) -> dict[str, list[str]]:
    """Each table's columns in schema order, so a CSV has its header even when it has no rows."""
    rows = conn.execute(
        "select table_name::text as t, array_agg(column_name::text order by ordinal_position) as cols "
        "from information_schema.columns where table_schema = 'public' and table_name = any(%s) group by 1",
        (list(CSV_TABLES),),
    ).fetchall()
    return {r["t"]: [c for c in r["cols"] if c not in OMITTED_COLUMNS.get(r["t"], ())] for r in rows}


def table_rows(doc: dict) -> dict[str, list[dict]]:
    """The export document flattened into rows per table (nested media become message_media rows)."""
    tables: dict[str, list[dict]] = {name: [] for name in CSV_TABLES}
    if doc.get("profile"):
        tables["profiles"].append(doc["profile"])
    tables["workspace_members"].extend(doc.get("memberships") or [])
    for name in USER_TABLES:
        tables[name].extend(doc.get(name) or [])
    for workspace in doc.get("workspaces") or []:
        tables["workspaces"].append({k: v for k, v in workspace.items() if k not in WORKSPACE_TABLES})
        for name in WORKSPACE_TABLES:
            for row in workspace.get(name) or []:
                if name == "messages":
                    tables["message_media"].extend(row.get("media") or [])
                    row = {k: v for k, v in row.items() if k != "media"}
                tables[name].append(row)
    return tables


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER_LIKE.match(text):
        return "'" + text
    return text


def build_zip(doc: dict, columns: dict[str, list[str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, rows in table_rows(doc).items():
            header = list(columns.get(name) or [])
            for row in rows:  # a column the schema lookup did not list still gets exported
                header.extend(k for k in row if k not in header)
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow([_cell(row.get(col)) for col in header])
            # UTF-8 with a BOM, so spreadsheet programs read names and message bodies correctly.
            archive.writestr(f"{name}.csv", "\ufeff" + text.getvalue())
    return buffer.getvalue()
