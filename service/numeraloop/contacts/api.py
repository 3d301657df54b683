"""POST /api/v1/contacts/import: any member uploads a CSV of contacts.

The upload is read as a stream (a multipart `file` part, which werkzeug spools to disk, or a
text/csv body read straight off the socket) and sent to public.import_contacts() in batches.
Every import is a public.contact_imports row, created before the file is read; each batch
commits on its own transaction (run as the caller), together with the import's progress
(public.record_contact_import_progress), so the importing member and their teammates can
poll `contact_imports?id=eq.<id>` through PostgREST while the upload continues. The response
comes at the end, with the import's id and final status.

A good file with some bad rows imports the good ones, reports the others by line number and
completes. A file that turns out to be malformed halfway keeps what came before the bad line
(every row read before it is imported, the batches already committed stay), marks the import
failed with the reason, and answers 422 with the import's id and the counts so far. (Until
imports were tracked, the whole upload was one transaction and such a file imported nothing.)
Any other failure midway (the upload cut off or over the size limit, the list deleted, the
database gone) also leaves the committed batches imported and the import failed.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

import psycopg
from flask import Blueprint, g, jsonify, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from .. import audit, workspaces
from ..api.inputs import workspace_param
from ..db import as_service, as_user, current_pool
from ..errors import ApiError
from . import csv_import
from .csv_import import CsvImportError, Options, Rejection

bp = Blueprint("contacts", __name__)

log = logging.getLogger(__name__)

BATCH_ROWS = 1000  # rows read per committed batch (tests make it smaller)
FLUSH_SECONDS = 5.0  # a slow upload still commits (and shows) what it has at least this often
LOG_EVERY_BATCHES = 50  # one INFO progress line per this many batches (50,000 rows)
MAX_REJECTIONS_LISTED = 1000
MAX_CONSENT_SOURCE = 200
MAX_FILENAME = 255
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
    """(binary stream, charset named by the client or None, filename or None) of the uploaded CSV."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is not None:
            return upload.stream, upload.mimetype_params.get("charset"), upload.filename
        if "file" in request.form:  # a part sent without a filename arrives as a (size-limited) form field
            return io.BytesIO(request.form["file"].encode("utf-8")), "utf-8", None
        raise ApiError(422, "missing_file", "Upload the CSV as the multipart field 'file'.", field="file")
    if request.mimetype in RAW_CSV_TYPES:
        return request.stream, request.mimetype_params.get("charset"), request.args.get("filename")
    raise ApiError(
        415, "unsupported_media_type", "Send the CSV as multipart/form-data (field 'file') or as a text/csv body."
    )


def _mapping(params: dict[str, str]):
    raw = params.get("mapping")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(
            422, "invalid_mapping", 'mapping must be a JSON object: {"CSV column": "field"}.', field="mapping"
        ) from None
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
        raise ApiError(
            422,
            "missing_field",
            "'consent_source' is required: how these people agreed to be texted, e.g. \"website form 2026-10\".",
            field="consent_source",
        )
    if len(value) > MAX_CONSENT_SOURCE:
        raise ApiError(
            422,
            "invalid_field",
            f"'consent_source' is longer than {MAX_CONSENT_SOURCE} characters.",
            field="consent_source",
        )
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

    def add(self, counts: dict) -> None:
        """Counts as record_contact_import_progress() added them (rejections are listed separately)."""
        self.imported += counts["imported"]
        self.updated += counts["updated"]
        self.merged += counts["merged"]
        self.listed += counts["listed"]
        self.opted_out += counts["opted_out"]

    def counts(self, list_id: str | None) -> dict:
        counts = {
            "rows": self.rows,
            "imported": self.imported,
            "updated": self.updated,
            "merged": self.merged,
            "rejected": self.rejected_total,
            "opted_out": self.opted_out,
        }
        if list_id is not None:
            counts["listed"] = self.listed
        return counts


class _Import:
    """One contact_imports row and the batches committed under it, each in its own transaction."""

    def __init__(self, pool, claims, import_id: str, workspace_id: str, consent_source: str, list_id: str | None):
        self.pool, self.claims = pool, claims
        self.id, self.workspace_id = import_id, workspace_id
        self.consent_source, self.list_id = consent_source, list_id
        self.tally = _Tally()
        self.batch: list[dict] = []
        self.unrecorded_rows = 0  # rows read since the last commit
        self.unrecorded_rejections = 0  # rows rejected here (not by SQL) since the last commit
        self.batches = 0
        self.started = self.last_commit = time.monotonic()

    def read(self, line: int, row: dict | Rejection) -> None:
        self.tally.rows += 1
        self.unrecorded_rows += 1
        if isinstance(row, Rejection):
            self.tally.reject(row.row, row.reason)
            self.unrecorded_rejections += 1
        else:
            self.batch.append(row)
        if self.unrecorded_rows >= BATCH_ROWS or time.monotonic() - self.last_commit >= FLUSH_SECONDS:
            self.commit()

    def commit(self, *, finish: bool = False) -> None:
        """The pending batch and the progress it made, in one transaction (with the finish, if asked)."""
        if not (self.unrecorded_rows or finish):
            return
        batch, numbers = self.batch, [row["phone"] for row in self.batch]
        try:
            with as_user(self.pool, self.claims) as conn:
                result = {"inserted": 0, "updated": 0, "merged": 0, "listed": 0, "opted_out": 0, "rejected": []}
                if batch:
                    result = conn.execute(
                        "select public.import_contacts(%s, %s::jsonb, %s, %s) as r",
                        (self.workspace_id, json.dumps(batch), self.consent_source, self.list_id),
                    ).fetchone()["r"]
                counts = {
                    "imported": result["inserted"],
                    "updated": result["updated"],
                    "merged": result["merged"],
                    "listed": result["listed"],
                    "opted_out": result["opted_out"],
                    "rejected": self.unrecorded_rejections + len(result["rejected"]),
                }
                added = conn.execute(
                    "select public.record_contact_import_progress(%s, %s, %s::jsonb, %s) as r",
                    (self.id, self.tally.rows, json.dumps(counts), numbers),
                ).fetchone()["r"]
                if finish:
                    conn.execute("select public.finish_contact_import(%s, 'completed')", (self.id,))
        except psycopg.errors.NoDataFound:
            raise ApiError(
                404,
                "list_not_found",
                "No such contact list in this workspace (it was deleted during the import).",
                field="list_id",
            ) from None
        except psycopg.errors.ObjectNotInPrerequisiteState:
            raise ApiError(
                409,
                "import_not_running",
                "This import was marked failed after reporting no progress "
                "for too long; the rows counted so far were imported.",
            ) from None
        self.tally.add(added)
        for item in result["rejected"]:
            self.tally.reject(item["row"], item["reason"])
        recorded, self.batch, self.unrecorded_rows, self.unrecorded_rejections = self.unrecorded_rows, [], 0, 0
        self.last_commit = time.monotonic()
        self.batches += 1 if recorded else 0
        if recorded and self.batches % LOG_EVERY_BATCHES == 0:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            log.info(
                "contacts import %s into %s: %d rows so far, %.0f rows/s",
                self.id,
                self.workspace_id,
                self.tally.rows,
                self.tally.rows / elapsed,
            )

    def fail(self, reason: str) -> None:
        """Marks the import failed; if even that fails, pg_cron marks it failed once it has gone quiet."""
        try:
            with as_user(self.pool, self.claims) as conn:
                conn.execute("select public.finish_contact_import(%s, 'failed', %s)", (self.id, reason))
        except (psycopg.Error, PoolTimeout):
            log.exception("contacts import %s: could not mark it failed", self.id)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return exc.message
    if isinstance(exc, HTTPException):
        return exc.description or exc.name
    return "The import stopped on an internal error."


@bp.post("/contacts/import")
def import_contacts():
    request.max_content_length = MAX_IMPORT_BYTES  # before anything reads the body
    pool = current_pool()
    params = _params()
    source, charset, filename = _upload()
    try:
        consent_source = _consent_source(params)
        options = Options(
            default_region=csv_import.parse_region(params.get("default_country")),
            tags=csv_import.parse_tags_param(params.get("tags")),
        )
        mapping = _mapping(params)
        encoding = csv_import.parse_encoding(params.get("encoding") or charset)
        list_id = _list_id(params)
    except CsvImportError as exc:
        raise ApiError(exc.status, exc.code, exc.message, **exc.extra) from None

    with as_user(pool, g.claims) as conn:
        workspace_id, _ = workspaces.resolve(conn, workspace_param(params))
        try:
            import_id = str(
                conn.execute(
                    "select public.start_contact_import(%s, %s, %s, %s) as id",
                    (workspace_id, (filename or "")[:MAX_FILENAME] or None, consent_source, list_id),
                ).fetchone()["id"]
            )
        except psycopg.errors.NoDataFound:
            raise ApiError(404, "list_not_found", "No such contact list in this workspace.", field="list_id") from None

    run = _Import(pool, g.claims, import_id, workspace_id, consent_source, list_id)
    log.info("contacts import %s into %s started", import_id, workspace_id)
    try:
        try:
            records = csv_import.records(csv_import.open_text(source, encoding))
            columns = csv_import.map_columns(csv_import.read_header(records), mapping)
            for line, record in records:
                run.read(line, csv_import.to_row(line, record, columns, options))
        except CsvImportError as exc:
            # The rows before the bad line are imported, as good rows are whatever follows them.
            run.commit()
            raise ApiError(exc.status, exc.code, exc.message, **exc.extra) from None
        if run.tally.rows == 0:
            raise ApiError(422, "no_rows", "The file has a header but no rows.")
        run.commit(finish=True)
    except Exception as exc:
        reason = _failure_reason(exc)
        run.fail(reason)
        _record(pool, run, "failed", reason)
        log.info("contacts import %s into %s failed after %d rows: %s", import_id, workspace_id, run.tally.rows, reason)
        if isinstance(exc, ApiError):
            exc.extra.update(import_id=import_id, import_status="failed", **_response_counts(run))
        raise

    _record(pool, run, "completed")
    log.info(
        "contacts import %s into %s completed: %d rows, %d new, %d updated, %d merged, %d rejected",
        import_id,
        workspace_id,
        run.tally.rows,
        run.tally.imported,
        run.tally.updated,
        run.tally.merged,
        run.tally.rejected_total,
    )
    tally = run.tally
    tally.rejected.sort(key=lambda r: r["row"] if isinstance(r["row"], int) else 0)
    return jsonify(
        {
            "import_id": import_id,
            "status": "completed",
            "workspace_id": workspace_id,
            **_response_counts(run),
            "rejected": tally.rejected,
            "list_id": list_id,
            "columns": csv_import.describe(columns),
        }
    )


def _response_counts(run: _Import) -> dict:
    tally = run.tally
    return {
        "rows": tally.rows,
        "imported": tally.imported,
        "updated": tally.updated,
        "merged": tally.merged,
        "opted_out": tally.opted_out,
        "rejected_total": tally.rejected_total,
        "listed": tally.listed if run.list_id is not None else None,
    }


def _record(pool, run: _Import, status: str, error: str | None = None) -> None:
    details = {**run.tally.counts(run.list_id), "import_id": run.id, "status": status}
    if error is not None:
        details["error"] = error
    try:
        with as_service(pool) as conn:
            audit.record(
                conn,
                workspace_id=run.workspace_id,
                actor=g.user_id,
                action="contacts.import",
                target_type="contact_list" if run.list_id else None,
                target_id=run.list_id,
                details=details,
            )
    except psycopg.Error:
        if status == "completed":
            raise
        log.exception("contacts import %s: could not audit the failure", run.id)
