"""POST /api/v1/contacts/import: any member uploads a CSV of contacts.

The upload is read as a stream (a multipart `file` part, which werkzeug spools to disk, or a
text/csv body read straight off the socket) and sent to public.import_contacts() in batches,
all inside one transaction run as the caller: a file that turns out to be malformed halfway
imports nothing, and a good file with some bad rows imports the good ones and reports the
others by line number.
"""

from __future__ import annotations

import io
import json
import logging
import uuid

import psycopg
from flask import current_app, g, jsonify, request

from .. import audit, workspaces
from ..api import bp as api_bp
from ..api.inputs import workspace_param
from ..db import as_service, as_user
from ..errors import ApiError
from . import csv_import
from .csv_import import CsvImportError, Options, Rejection

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
MAX_REJECTIONS_LISTED = 1000
MAX_CONSENT_SOURCE = 200
# A million-row export with names and emails is 60-100 MB; the import streams, so it may take
# far more than the app-wide request limit (which protects every other, JSON, route).
MAX_IMPORT_BYTES = 1024 * 1024 * 1024
RAW_CSV_TYPES = {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", "text/comma-separated-values"}


def _params() -> dict[str, str]:
    """Parameters from the multipart form, falling back to the query string."""
    params = dict(request.args.items())
    if request.mimetype == "multipart/form-data":
        params.update({k: v for k, v in request.form.items() if k != "file"})
    return params


def _upload():
    """(binary stream, charset named by the client or None) of the uploaded CSV."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is not None:
            return upload.stream, upload.mimetype_params.get("charset")
        if "file" in request.form:  # a part sent without a filename arrives as a (size-limited) form field
            return io.BytesIO(request.form["file"].encode("utf-8")), "utf-8"
        raise ApiError(422, "missing_file", "Upload the CSV as the multipart field 'file'.", field="file")
    if request.mimetype in RAW_CSV_TYPES:
        return request.stream, request.mimetype_params.get("charset")
    raise ApiError(415, "unsupported_media_type",
                   "Send the CSV as multipart/form-data (field 'file') or as a text/csv body.")


def _mapping(params: dict[str, str]):
    raw = params.get("mapping")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(422, "invalid_mapping", "mapping must be a JSON object: {\"CSV column\": \"field\"}.",
                       field="mapping") from None
    return csv_import.parse_mapping(value)


def _list_id(params: dict[str, str]) -> str | None:
    value = params.get("list_id")
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(422, "invalid_list_id", "list_id must be a UUID.", field="list_id") from None


def _consent_source(params: dict[str, str]) -> str:
    value = (params.get("consent_source") or "").strip()
    if not value:
        raise ApiError(422, "missing_field", "'consent_source' is required: how these people agreed to be texted, "
                                             "e.g. \"website form 2026-10\".", field="consent_source")
    if len(value) > MAX_CONSENT_SOURCE:
        raise ApiError(422, "invalid_field", f"'consent_source' is longer than {MAX_CONSENT_SOURCE} characters.",
                       field="consent_source")
    return value


class _Tally:
    def __init__(self):
        self.rows = self.imported = self.updated = self.merged = self.listed = self.opted_out = 0
        self.rejected: list[dict] = []
        self.rejected_total = 0

    def reject(self, row, reason: str) -> None:
        self.rejected_total += 1
        if len(self.rejected) < MAX_REJECTIONS_LISTED:
            self.rejected.append({"row": row, "reason": reason})

    def add(self, result: dict) -> None:
        self.imported += result["inserted"]
        self.updated += result["updated"]
        self.merged += result["merged"]
        self.listed += result["listed"]
        self.opted_out += result["opted_out"]
        for item in result["rejected"]:
            self.reject(item["row"], item["reason"])


def _send(conn, workspace_id: str, batch: list[dict], consent_source: str, list_id: str | None, tally: _Tally) -> None:
    try:
        result = conn.execute("select public.import_contacts(%s, %s::jsonb, %s, %s) as r",
                              (workspace_id, json.dumps(batch), consent_source, list_id)).fetchone()["r"]
    except psycopg.errors.NoDataFound:
        raise ApiError(404, "list_not_found", "No such contact list in this workspace.", field="list_id") from None
    tally.add(result)


@api_bp.post("/contacts/import")
def import_contacts():
    request.max_content_length = MAX_IMPORT_BYTES  # before anything reads the body
    pool = current_app.extensions["numeraloop.pool"]
    params = _params()
    source, charset = _upload()
    try:
        consent_source = _consent_source(params)
        options = Options(default_region=csv_import.parse_region(params.get("default_country")),
                          tags=csv_import.parse_tags_param(params.get("tags")))
        mapping = _mapping(params)
        encoding = csv_import.parse_encoding(params.get("encoding") or charset)
        list_id = _list_id(params)

        tally = _Tally()
        with as_user(pool, g.claims) as conn:
            workspace_id, _ = workspaces.resolve(conn, workspace_param(params))
            if list_id is not None and conn.execute(
                    "select 1 from public.contact_lists where id = %s and workspace_id = %s",
                    (list_id, workspace_id)).fetchone() is None:
                raise ApiError(404, "list_not_found", "No such contact list in this workspace.", field="list_id")

            records = csv_import.records(csv_import.open_text(source, encoding))
            columns = csv_import.map_columns(csv_import.read_header(records), mapping)
            batch: list[dict] = []
            for line, record in records:
                tally.rows += 1
                row = csv_import.to_row(line, record, columns, options)
                if isinstance(row, Rejection):
                    tally.reject(row.row, row.reason)
                    continue
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    _send(conn, workspace_id, batch, consent_source, list_id, tally)
                    batch = []
            if tally.rows == 0:
                raise ApiError(422, "no_rows", "The file has a header but no rows.")
            if batch:
                _send(conn, workspace_id, batch, consent_source, list_id, tally)
    except CsvImportError as exc:
        raise ApiError(exc.status, exc.code, exc.message, **exc.extra) from None

    counts = {"rows": tally.rows, "imported": tally.imported, "updated": tally.updated, "merged": tally.merged,
              "rejected": tally.rejected_total, "opted_out": tally.opted_out}
    if list_id is not None:
        counts["listed"] = tally.listed
    with as_service(pool) as conn:
        audit.record(conn, workspace_id=workspace_id, actor=g.user_id, action="contacts.import",
                     target_type="contact_list" if list_id else None, target_id=list_id, details=counts)
    log.info("contacts import into %s: %d rows, %d new, %d updated, %d merged, %d rejected", workspace_id,
             tally.rows, tally.imported, tally.updated, tally.merged, tally.rejected_total)

    tally.rejected.sort(key=lambda r: r["row"] if isinstance(r["row"], int) else 0)
    return jsonify({
        "workspace_id": workspace_id,
        "rows": tally.rows,
        "imported": tally.imported,
        "updated": tally.updated,
        "merged": tally.merged,
        "opted_out": tally.opted_out,
        "rejected": tally.rejected,
        "rejected_total": tally.rejected_total,
        "list_id": list_id,
        "listed": tally.listed if list_id is not None else None,
        "columns": csv_import.describe(columns),
    })
