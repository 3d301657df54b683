"""GET /api/v1/me/export?format=json|csv: everything the caller can read about themself and in
their workspaces, as a download streamed from the database.

What is exported is the database's list, private.export_tables() (each workspace's tables and
the caller's own), read as the caller (RLS and column grants apply) with the columns
private.export_columns() allows, plus "what we hold and why" (private.data_inventory()). It is
the document public.export_my_data() builds in one call, written here row by row: every table
is read through a server-side cursor inside one read-only, repeatable-read transaction (a
consistent snapshot), and the body is produced as it is sent, so a workspace of a million
messages never sits in the service's memory.

`json` is one document: {format_version, exported_at, user_id, what_we_hold, profile,
memberships, workspaces: [{...the workspace, <table>: [rows], messages: [{..., media}]}],
<the caller's own tables>}. `csv` is a zip (streamed, entries with data descriptors) of one
UTF-8 CSV per table, header first even when it has no rows, and what_we_hold.txt.

Each export is a data_request: private.begin_data_export() records it in_progress, and refuses
past the per-user rate limit (429 export_rate_limited with Retry-After); once the last byte is
written, private.finish_data_export() completes it with its row counts and a data.export audit
row, or marks it failed when the download stopped before its end.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from flask import Blueprint, Response, g, jsonify, request
from psycopg import sql
from psycopg.rows import dict_row

from ..db import as_user, current_pool
from ..errors import ApiError, sql_error
from .deletion import account_gone

log = logging.getLogger(__name__)
bp = Blueprint("privacy_export", __name__)

FORMATS = ("json", "csv")
FORMAT_VERSION = 2
# Top level in the export document for these two; every other table is under its own name.
DOCUMENT_KEYS = {"profiles": "profile", "workspace_members": "memberships"}
MEDIA_TABLE = "message_media"  # nested in each message as `media` in JSON, its own file in CSV
ROWS_PER_FETCH = 1000
CHUNK_BYTES = 256 * 1024

# A spreadsheet runs a cell that starts like a formula; an inbound SMS body is written by a
# stranger. Such cells get a leading apostrophe (phone numbers and plain numbers are left alone).
_FORMULA_START = ("=", "@", "\t", "\r", "+", "-")
_NUMBER_LIKE = re.compile(r"^[+-]?[0-9][0-9 .()-]*$")


@dataclass(frozen=True)
class Table:
    section: str  # "workspace" or "user"
    name: str
    owner_column: str
    order_by: str
    columns: tuple[str, ...]


@bp.get("/me/export")
def export_my_data():
    fmt = (request.args.get("format") or "json").strip().lower()
    if fmt not in FORMATS:
        raise ApiError(422, "invalid_format", "format must be json or csv.", field="format")
    pool, claims = current_pool(), dict(g.claims)
    try:
        with as_user(pool, claims) as conn:
            request_id = conn.execute("select private.begin_data_export(%s) as id", (fmt,)).fetchone()["id"]
    except psycopg.errors.InsufficientPrivilege:
        raise account_gone() from None
    except psycopg.Error as exc:
        if exc.sqlstate == "P0429":
            return _rate_limited(exc)
        raise

    export = StreamedExport(pool, claims, str(request_id), fmt)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if fmt == "json":
        return _download(export.run(export.json_chunks), "application/json", f"numeraloop-export-{stamp}.json")
    return _download(export.run(export.zip_chunks), "application/zip", f"numeraloop-export-{stamp}.zip")


def _rate_limited(exc: psycopg.Error):
    error = sql_error(exc)
    try:
        retry_after = int(json.loads(exc.diag.message_detail or "{}").get("retry_after") or 60)
    except (ValueError, AttributeError):
        retry_after = 60
    response = jsonify(
        error={
            "code": "export_rate_limited",
            "message": error.message if error else "Too many exports; try again later.",
            "retry_after": retry_after,
        }
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def _download(body: Iterator[bytes], mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: no shared or browser cache keeps it
    return response


def cell(value) -> str:
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


def inventory_text(inventory: dict) -> str:
    """The "what we hold and why" section as plain text, for the CSV download."""
    lines = ["What we hold and why", "====================", "", inventory.get("summary", ""), ""]
    for c in inventory.get("categories", []):
        lines += [
            c["category"],
            "-" * len(c["category"]),
            f"What: {c['data']}",
            f"Files: {', '.join(c['tables'])}",
            f"From: {c['source']}",
            f"Why: {'; '.join(c['purposes'])}",
            f"Kept: {c['retention']}",
            "",
        ]
    lines += ["Who processes it for us", "-----------------------"]
    lines += [f"{p['name']}: {p['what']} ({p['data']})" for p in inventory.get("processors", [])]
    lines += ["", "Your rights", "-----------", inventory.get("your_rights", ""), ""]
    return "\r\n".join(lines)


class _ZipSink:
    """Where zipfile writes: collects the bytes until the stream takes them. It cannot seek, so
    zipfile writes each entry with a data descriptor and never goes back."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._pending = 0
        self._offset = 0

    def write(self, data) -> int:
        data = bytes(data)
        self._parts.append(data)
        self._pending += len(data)
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def seek(self, *args):
        raise io.UnsupportedOperation("the export is streamed")

    def flush(self) -> None:
        pass

    @property
    def pending(self) -> int:
        return self._pending

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self._pending = 0
        return data


class StreamedExport:
    """One export, read as the caller in one snapshot and produced as it is sent."""

    def __init__(self, pool, claims: dict, request_id: str, fmt: str):
        self.pool = pool
        self.claims = claims
        self.request_id = request_id
        self.fmt = fmt
        self.counts: dict[str, int] = {}

    # -- the transaction and the bookkeeping ------------------------------------------------

    def run(self, produce) -> Iterator[bytes]:
        """The body: `produce(conn)` inside the export's transaction, then the request completed
        (or failed, when the download stopped or a read failed)."""
        completed = False
        try:
            with psycopg.connect(self.pool.conninfo, row_factory=dict_row, autocommit=True) as conn:
                with conn.transaction():
                    conn.execute("set transaction isolation level repeatable read, read only")
                    conn.execute(
                        "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                        (json.dumps(self.claims),),
                    )
                    yield from produce(conn)
            completed = True
        except GeneratorExit:
            log.info("export %s stopped before its end (the client went away)", self.request_id)
            raise
        except Exception:
            log.exception("export %s failed while streaming", self.request_id)
            raise
        finally:
            self._finish(completed)

    def _finish(self, completed: bool) -> None:
        try:
            with as_user(self.pool, self.claims) as conn:
                conn.execute(
                    "select private.finish_data_export(%s, %s, %s)",
                    (self.request_id, json.dumps(self.counts), completed),
                )
        except Exception:
            log.exception("could not record the end of export %s", self.request_id)

    # -- reading --------------------------------------------------------------------------

    def tables(self, conn) -> list[Table]:
        rows = conn.execute(
            "select t.section, t.table_name, t.owner_column, t.order_by, "
            "private.export_columns(t.table_name, t.omitted_columns) as columns from private.export_tables() t"
        ).fetchall()
        return [
            Table(r["section"], r["table_name"], r["owner_column"], r["order_by"], tuple(r["columns"])) for r in rows
        ]

    def _query(self, table: Table, *, as_text: bool, with_media: bool = False) -> sql.Composed:
        order = [sql.Identifier("r", table.order_by)]
        if "id" in table.columns and table.order_by != "id":
            order.append(sql.Identifier("r", "id"))
        row, media = sql.SQL("to_jsonb(r)"), sql.SQL("")
        if with_media:
            row = sql.SQL("to_jsonb(r) || jsonb_build_object('media', m.media)")
            media = sql.SQL(
                " cross join lateral (select coalesce(jsonb_agg(to_jsonb(mm) order by mm.position), "
                "'[]'::jsonb) as media, count(*) as n from public.message_media mm "
                "where mm.workspace_id = r.workspace_id and mm.message_id = r.id) m"
            )
        return sql.SQL(
            "select ({row}){cast} as j{n_media} from (select {cols} from {table} x where x.{owner} = %s) r"
            "{media} order by {order}"
        ).format(
            row=row,
            cast=sql.SQL("::text" if as_text else ""),
            n_media=sql.SQL(", m.n as n_media" if with_media else ""),
            media=media,
            cols=sql.SQL(", ").join(sql.Identifier("x", c) for c in table.columns),
            table=sql.Identifier("public", table.name),
            owner=sql.Identifier(table.owner_column),
            order=sql.SQL(", ").join(order),
        )

    def rows(self, conn, table: Table, owner: str, *, as_text: bool, with_media: bool = False) -> Iterator:
        """The rows of one table owned by `owner`, through a server-side cursor."""
        self.counts.setdefault(table.name, 0)
        if with_media:
            self.counts.setdefault(MEDIA_TABLE, 0)
        if not table.columns or table.owner_column not in table.columns or table.order_by not in table.columns:
            return  # nothing the caller may read
        with conn.cursor(name=f"export_{table.name}", row_factory=dict_row) as cur:
            cur.itersize = ROWS_PER_FETCH
            cur.execute(self._query(table, as_text=as_text, with_media=with_media), (owner,))
            for row in cur:
                self.counts[table.name] += 1
                if with_media:
                    self.counts[MEDIA_TABLE] += row["n_media"]
                yield row["j"]

    def _workspaces(self, conn) -> list[dict]:
        return conn.execute(
            "select w.id::text as id, to_jsonb(w)::text as j from public.workspaces w "
            "where w.id = any(array(select private.workspace_ids_for_current_user())) "
            "order by w.created_at"
        ).fetchall()

    # -- JSON -----------------------------------------------------------------------------

    def json_chunks(self, conn) -> Iterator[bytes]:
        head = conn.execute(
            "select now() as exported_at, auth.uid()::text as user_id, private.data_inventory()::text as inventory, "
            "(select to_jsonb(p)::text from public.profiles p where p.id = auth.uid()) as profile, "
            "(select coalesce(jsonb_agg(to_jsonb(m) order by m.created_at), '[]')::text "
            "   from public.workspace_members m where m.user_id = auth.uid()) as memberships"
        ).fetchone()
        tables = self.tables(conn)
        workspaces = self._workspaces(conn)
        self.counts.update(workspaces=len(workspaces))
        out = _Buffer()
        exported_at = json.dumps(head["exported_at"].isoformat())
        out.write(
            f'{{"format_version": {FORMAT_VERSION}, "exported_at": {exported_at}, '
            f'"user_id": {json.dumps(head["user_id"])}, "what_we_hold": {head["inventory"]}, '
            f'"profile": {head["profile"] or "null"}, "memberships": {head["memberships"]}, "workspaces": ['
        )
        for i, workspace in enumerate(workspaces):
            out.write(("," if i else "") + workspace["j"][:-1])  # the workspace's own fields, then its tables
            for table in (t for t in tables if t.section == "workspace"):
                yield from self._json_array(conn, out, table, workspace["id"], with_media=table.name == "messages")
            out.write("}")
        out.write("]")
        for table in (t for t in tables if t.section == "user"):
            yield from self._json_array(conn, out, table, head["user_id"])
        out.write("}")
        yield out.take()

    def _json_array(self, conn, out: _Buffer, table: Table, owner: str, with_media: bool = False) -> Iterator[bytes]:
        out.write(f", {json.dumps(table.name)}: [")
        first = True
        for text in self.rows(conn, table, owner, as_text=True, with_media=with_media):
            out.write(text if first else "," + text)
            first = False
            if out.size >= CHUNK_BYTES:
                yield out.take()
        out.write("]")

    # -- CSV ------------------------------------------------------------------------------

    def zip_chunks(self, conn) -> Iterator[bytes]:
        sink = _ZipSink()
        tables = self.tables(conn)
        workspaces = self._workspaces(conn)
        self.counts.update(workspaces=len(workspaces))
        inventory = conn.execute("select private.data_inventory() as i").fetchone()["i"]
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("what_we_hold.txt", "\ufeff" + inventory_text(inventory))
            for name, header, rows in self._csv_sources(conn, tables, workspaces):
                with archive.open(f"{name}.csv", "w", force_zip64=True) as entry:
                    text = io.StringIO()
                    writer = csv.writer(text, lineterminator="\r\n")
                    text.write("\ufeff")  # so spreadsheet programs read names and message bodies as UTF-8
                    writer.writerow(header)
                    for row in rows:
                        writer.writerow([cell(row.get(c)) for c in header])
                        if text.tell() >= CHUNK_BYTES:
                            entry.write(text.getvalue().encode("utf-8"))
                            text.seek(0)
                            text.truncate()
                            if sink.pending >= CHUNK_BYTES:
                                yield sink.take()
                    entry.write(text.getvalue().encode("utf-8"))
                if sink.pending >= CHUNK_BYTES:
                    yield sink.take()
        yield sink.take()

    def _csv_sources(self, conn, tables: list[Table], workspaces: list[dict]):
        """(file name, header, rows) of every file: the caller's profile and memberships, the
        workspaces, each workspace table across all of them, then the caller's own tables."""
        own = conn.execute(
            "select (select to_jsonb(p) from public.profiles p where p.id = auth.uid()) as profile, "
            "auth.uid()::text as user_id"
        ).fetchone()
        columns = {
            r["t"]: tuple(r["c"])
            for r in conn.execute(
                "select t, private.export_columns(t) as c from unnest(%s::text[]) t",
                (["profiles", "workspace_members", "workspaces", MEDIA_TABLE],),
            ).fetchall()
        }
        yield "profiles", columns["profiles"], [own["profile"]] if own["profile"] else []
        members = conn.execute(
            "select to_jsonb(m) as j from public.workspace_members m where m.user_id = auth.uid() order by m.created_at"
        ).fetchall()
        yield "workspace_members", columns["workspace_members"], (m["j"] for m in members)
        yield "workspaces", columns["workspaces"], (json.loads(w["j"]) for w in workspaces)
        media = Table("workspace", MEDIA_TABLE, "workspace_id", "message_id", columns[MEDIA_TABLE])
        for table in tables:
            owners = [w["id"] for w in workspaces] if table.section == "workspace" else [own["user_id"]]
            yield (
                table.name,
                table.columns,
                (row for owner in owners for row in self.rows(conn, table, owner, as_text=False)),
            )
            if table.name == "messages":
                yield (
                    MEDIA_TABLE,
                    media.columns,
                    (row for owner in owners for row in self.rows(conn, media, owner, as_text=False)),
                )


class _Buffer:
    def __init__(self):
        self._parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        self._parts.append(text)
        self.size += len(text)

    def take(self) -> bytes:
        data = "".join(self._parts).encode("utf-8")
        self._parts.clear()
        self.size = 0
        return data
