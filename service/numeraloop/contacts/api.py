"""POST /api/v1/contacts/import: any member uploads a CSV of contacts.

The upload is read as a stream (a multipart `file` part, which werkzeug spools to disk, or a
text/csv body read straight off the socket), parsed and normalised here (csv_import, and
numbers.NumberReader for the phone numbers), and loaded in batches: each batch is COPYed into a
temporary staging table and merged into the workspace's contacts by one set-based statement
(public.import_contact_batch), which also adds the batch's counts to the import. Every import is
a public.contact_imports row, created before the file is read; each batch commits on its own
transaction (run as the caller), so the importing member and their teammates can poll
`contact_imports?id=eq.<id>` through PostgREST while the upload continues. While one batch is
merged in the database, the next is parsed here (one writer thread per import, one batch ahead,
so memory stays bounded by two batches). The response comes at the end, with the import's id and
final status.

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
import re
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

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
from .numbers import NumberReader

bp = Blueprint("contacts", __name__)

log = logging.getLogger(__name__)

BATCH_ROWS = 25_000  # rows read per committed batch (tests make it smaller)
FLUSH_SECONDS = 5.0  # a slow upload still commits (and shows) what it has at least this often
LOG_EVERY_BATCHES = 4  # one INFO progress line per this many batches (100,000 rows)
STAGE_COPY = (
    "copy pg_temp.contact_import_stage (ord, row_ref, phone, first_name, last_name, email, tags, custom, "
    "earlier) from stdin"
)
# COPY's text format: these four are written as escapes, a missing value as \N.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"
JSON_SPECIAL = re.compile(r'["\\\x00-\x1f]')
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


def _copy_text(value: str | None) -> str:
    if value is None:
        return NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(COPY_ESCAPES)
    return value


def _json_object(fields: dict[str, str]) -> str:
    """json.dumps(fields, ensure_ascii=False) for string values, without the encoder where no
    character needs escaping (the usual case, and a third of a row's cost otherwise)."""
    parts = []
    for key, value in fields.items():
        if JSON_SPECIAL.search(key) or JSON_SPECIAL.search(value):
            return json.dumps(fields, ensure_ascii=False)
        parts.append(f'"{key}": "{value}"')
    return "{" + ", ".join(parts) + "}"


class _Import:
    """One contact_imports row and the batches committed under it, each in its own transaction.

    Rows are kept as COPY text. commit() hands the pending batch to the import's writer thread and
    returns once the batch before it has committed (its counts are then in the tally), so one
    batch is written while the next is read; commit(finish=True) waits for all of them.
    """

    def __init__(self, pool, claims, import_id: str, workspace_id: str, consent_source: str, list_id: str | None):
        self.pool, self.claims = pool, claims
        self.id, self.workspace_id = import_id, workspace_id
        self.consent_source, self.list_id = consent_source, list_id
        self.tally = _Tally()
        self.lines: list[str] = []  # the pending batch, as COPY text lines
        self.unrecorded_rows = 0  # rows read since the last commit
        self.unrecorded_rejections = 0  # rows rejected here (not by SQL) since the last commit
        self.batches = 0
        self.started = self.last_commit = time.monotonic()
        self.waited = 0.0  # seconds reading stood still for the database (the writer one batch behind)
        self.written = 0.0  # seconds the writer spent on batches
        self._tags: dict[tuple[str, ...], str] = {}  # tag lists as COPY array literals: files repeat them
        # Numbers staged by earlier batches (as integers: a million take about 60 MB), so a later
        # batch flags its repeats `earlier` and they count as merged, not updated again.
        self._staged: set[int] = set()
        self._batch_numbers: list[int] = []
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: Future | None = None

    def read(self, line: int, row: dict | Rejection) -> None:
        self.tally.rows += 1
        self.unrecorded_rows += 1
        if isinstance(row, Rejection):
            self.tally.reject(row.row, row.reason)
            self.unrecorded_rejections += 1
        else:
            self.lines.append(self._copy_line(line, row))
        if self.unrecorded_rows >= BATCH_ROWS or time.monotonic() - self.last_commit >= FLUSH_SECONDS:
            self.commit()

    def _copy_line(self, line: int, row: dict) -> str:
        """The row as a line of COPY text: ord, row_ref, phone, first_name, last_name, email, tags, custom."""
        tags = row.get("tags")
        if tags:
            key = tuple(tags)
            literal = self._tags.get(key)
            if literal is None:
                literal = _copy_text(
                    "{" + ",".join('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in tags) + "}"
                )
                if len(self._tags) < 10_000:
                    self._tags[key] = literal
        else:
            literal = NULL
        custom = row.get("custom")
        custom = _copy_text(_json_object(custom)) if custom else NULL
        phone = row["phone"]
        number = int(phone[1:])
        self._batch_numbers.append(number)
        return (
            f"{self.tally.rows}\t{line}\t{phone}\t{_copy_text(row.get('first_name'))}\t"
            f"{_copy_text(row.get('last_name'))}\t{_copy_text(row.get('email'))}\t{literal}\t{custom}\t"
            f"{'t' if number in self._staged else 'f'}\n"
        )

    def commit(self, *, finish: bool = False) -> None:
        """Hands the pending batch (and the finish, if asked) to the writer; see the class."""
        if not (self.unrecorded_rows or finish):
            return
        data = "".join(self.lines).encode("utf-8")
        job = (data, self.tally.rows, self.unrecorded_rows, self.unrecorded_rejections, finish)
        self.lines, self.unrecorded_rows, self.unrecorded_rejections = [], 0, 0
        self._staged.update(self._batch_numbers)
        self._batch_numbers = []
        self._settle()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"contacts-import-{self.id[:8]}")
        self._in_flight = self._writer.submit(self._write, *job)
        self.last_commit = time.monotonic()
        if finish:
            self._settle()

    def _settle(self) -> None:
        """Waits for the batch in flight; its counts go into the tally, its failure is raised here."""
        future, self._in_flight = self._in_flight, None
        if future is None:
            return
        waiting = time.monotonic()
        recorded, result = future.result()
        self.waited += time.monotonic() - waiting
        self.written += result["seconds"]
        self.tally.add(result)
        for item in result["rejected_rows"]:
            self.tally.reject(item["row"], item["reason"])
        self.batches += 1 if recorded else 0
        if recorded and self.batches % LOG_EVERY_BATCHES == 0:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            log.info(
                "contacts import %s into %s: %d rows so far, %.0f rows/s",
                self.id,
                self.workspace_id,
                result["rows_read"],
                result["rows_read"] / elapsed,
            )

    def _write(self, data: bytes, rows_read: int, recorded: int, rejected_here: int, finish: bool):
        """One batch in one transaction, run as the importing member: stage, merge, count (and finish)."""
        started = time.monotonic()
        try:
            with as_user(self.pool, self.claims) as conn:
                conn.execute("select public.begin_contact_import_batch()")
                if data:
                    with conn.cursor().copy(STAGE_COPY) as copy:
                        copy.write(data)
                result = conn.execute(
                    "select public.import_contact_batch(%s, %s, %s, %s) as r",
                    (self.id, self.list_id, rows_read, rejected_here),
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
        return recorded, {**result, "rows_read": rows_read, "seconds": time.monotonic() - started}

    def close(self) -> None:
        """Waits for the writer (a batch in flight still commits) and ends its thread."""
        try:
            self._settle()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)

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
            to_e164 = NumberReader(options.default_region).to_e164
            records = csv_import.records(csv_import.open_text(source, encoding))
            columns = csv_import.map_columns(csv_import.read_header(records), mapping)
            for line, record in records:
                run.read(line, csv_import.to_row(line, record, columns, options, to_e164))
        except CsvImportError as exc:
            # The rows before the bad line are imported, as good rows are whatever follows them.
            run.commit()
            run.close()
            raise ApiError(exc.status, exc.code, exc.message, **exc.extra) from None
        if run.tally.rows == 0:
            raise ApiError(422, "no_rows", "The file has a header but no rows.")
        run.commit(finish=True)
        run.close()
    except Exception as exc:
        try:
            run.close()  # a batch still in flight commits (or fails) before the import is marked failed
        except Exception:
            log.exception("contacts import %s: a batch failed while the import was failing", import_id)
        reason = _failure_reason(exc)
        run.fail(reason)
        _record(pool, run, "failed", reason)
        log.info("contacts import %s into %s failed after %d rows: %s", import_id, workspace_id, run.tally.rows, reason)
        if isinstance(exc, ApiError):
            exc.extra.update(import_id=import_id, import_status="failed", **_response_counts(run))
        raise

    _record(pool, run, "completed")
    log.info(
        "contacts import %s into %s completed: %d rows, %d new, %d updated, %d merged, %d rejected in %.1f s "
        "(the database %.1f s of it, reading waited %.1f s for it)",
        import_id,
        workspace_id,
        run.tally.rows,
        run.tally.imported,
        run.tally.updated,
        run.tally.merged,
        run.tally.rejected_total,
        time.monotonic() - run.started,
        run.written,
        run.waited,
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
