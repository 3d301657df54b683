"""The contacts pages: the list with search and paging, a contact's page (names, e-mail, tags,
custom fields, lists, opt-out state and its history) and the CSV import.

Everything is read and written as the signed-in user, so RLS decides what exists: another
workspace's contact or list is simply not found (404). The import page previews the file's
first bytes with the import's own header mapping (contacts/csv_import.py), then uploads the
whole file to the same view as POST /api/v1/contacts/import, while the page polls the
workspace's running contact_imports row for progress.
"""

from __future__ import annotations

import io
import json
import re
import uuid

import psycopg
from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for

from .. import phones, workspaces
from ..contacts import api as contacts_api
from ..contacts import csv_import
from ..contacts.csv_import import CsvImportError
from ..db import as_user, current_pool
from ..errors import ApiError
from . import pages
from .signin import adult_required

bp = Blueprint("contacts", __name__)
pages.install(bp)

PAGE = 50
MAX_PAGE = 10_000
MAX_QUERY = 100
MAX_LISTS_SHOWN = 500
MAX_HISTORY = 100
MAX_CUSTOM_FIELDS = 100
PREVIEW_BYTES = 64 * 1024
PREVIEW_SAMPLES = 5
ENCODINGS = (
    ("", "UTF-8 (most files)"),
    ("windows-1252", "Windows (Excel on Windows)"),
    ("iso-8859-1", "Latin-1"),
    ("utf-16", "UTF-16"),
)
FIELD_LABELS = {
    "phone": "Phone number",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "E-mail",
    "tags": "Tags",
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
NOT_DIGIT = re.compile(r"\D+")

IMPORT_REFUSALS = {
    "no_phone_column": "No column is set to be the phone number. Choose which column holds the numbers under "
    "“What each column becomes”.",
    "unknown_column": "The file's columns are not the ones previewed. Choose the file again.",
    "invalid_mapping": "Phone, first name, last name and e-mail can each come from one column only: change one of "
    "the columns set to the same field.",
    "invalid_encoding": "The file's text is not UTF-8. Choose its encoding above (for a file Excel saved on "
    "Windows, choose “Windows”).",
    "invalid_default_country": "Write the country of the numbers as its two-letter code, like US or GB.",
    "missing_field": "Say how these people agreed to be texted: it is kept with each contact.",
}
# Why a number is opted out, or was again opted in, in words (opt_out_events.source).
SOURCES = {
    "twilio_21610": "Twilio refused a text to them: they unsubscribed (error 21610)",
    "manual": "a member marked them",
    "import": "a CSV import marked them",
    "consent": "an admin recorded their renewed consent",
}
DONE = {
    "saved": "The contact is saved.",
    "created": "The contact is added.",
    "listed": "The contact is on the list.",
    "unlisted": "The contact is off the list.",
    "list_created": "The list is made, with this contact on it.",
    "opted_out": "This number is opted out: nobody in the workspace can text it.",
    "opted_in": "The opt-out is lifted: the workspace can text this number again.",
    "consent": "The renewed consent is recorded and the opt-out lifted.",
}


def source_in_words(source: str | None, capital: bool = False) -> str:
    if source and source.startswith("keyword:"):
        words = f"they texted {source[len('keyword:') :]}"
    else:
        words = SOURCES.get(source or "", source or "")
    return words[:1].upper() + words[1:] if capital else words


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _uuid(value: str | None) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        abort(404)


def _memberships(conn) -> list[dict]:
    return conn.execute(
        "select w.id::text, w.name, m.role::text from public.workspaces w "
        "join public.workspace_members m on m.workspace_id = w.id and m.user_id = auth.uid() "
        "order by w.created_at, w.id"
    ).fetchall()


# ---------------------------------------------------------------------------------------
# The list


def _list_filters() -> dict:
    try:
        page = min(max(int(request.args.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        page = 1
    return {
        "q": (request.args.get("q") or "").strip()[:MAX_QUERY],
        "tag": (request.args.get("tag") or "")[:100],
        "page": page,
    }


def _contacts(conn, filters: dict) -> tuple[list[dict], bool]:
    where, params = [], {"limit": PAGE + 1, "offset": (filters["page"] - 1) * PAGE}
    if filters["q"]:
        params["like"] = _like(filters["q"])
        terms = [
            "concat_ws(' ', c.first_name, c.last_name) ilike %(like)s",
            "c.email ilike %(like)s",
            "array_to_string(c.tags, ' ') ilike %(like)s",
        ]
        digits = NOT_DIGIT.sub("", filters["q"])
        if len(digits) >= 3:
            params["digits"] = _like(digits)
            terms.append("c.phone_e164 like %(digits)s")
        where.append("(" + " or ".join(terms) + ")")
    if filters["tag"]:
        params["tag"] = filters["tag"]
        where.append("c.tags @> array[%(tag)s]::text[]")
    rows = conn.execute(
        "select c.id, c.phone_e164, c.first_name, c.last_name, c.email, c.tags, w.name as workspace_name, "
        "       exists (select 1 from public.opt_outs o where o.workspace_id = c.workspace_id "
        "               and o.phone_e164 = c.phone_e164) as opted_out "
        "  from public.contacts c join public.workspaces w on w.id = c.workspace_id "
        + (f" where {' and '.join(where)} " if where else "")
        + " order by nullif(lower(concat_ws(' ', c.first_name, c.last_name)), '') nulls last, c.phone_e164, c.id "
        "  limit %(limit)s offset %(offset)s",
        params,
    ).fetchall()
    return rows[:PAGE], len(rows) > PAGE


def _list_page(status: int = 200, error: str | None = None, new: dict | None = None):
    filters = _list_filters()
    with as_user(current_pool(), g.claims) as conn:
        rows, more = _contacts(conn, filters)
        memberships = _memberships(conn)
    return render_template(
        "contacts/list.html",
        contacts=rows,
        more=more,
        filters=filters,
        memberships=memberships,
        error=error,
        new=new or {},
        notice=DONE.get(request.args.get("done", "")),
    ), status


@bp.get("/contacts")
@adult_required
def list_page():
    return _list_page()


@bp.post("/contacts")
@adult_required
def create_contact():
    new = {k: (request.form.get(k) or "").strip()[:200] for k in ("phone", "first_name", "last_name", "workspace_id")}
    phone = phones.to_e164(new["phone"][:40], "US") if new["phone"] else None
    error = None
    if not new["phone"]:
        error = "Enter the contact's phone number."
    elif phone is None:
        error = (
            f"“{new['phone'][:40]}” is not a phone number we can text. Write it with its country code, "
            "like +44 20 7946 0958; a US number may leave out the +1."
        )
    elif len(new["first_name"]) > csv_import.MAX_NAME or len(new["last_name"]) > csv_import.MAX_NAME:
        error = f"Names are at most {csv_import.MAX_NAME} characters."
    if error:
        return _list_page(400, error, new)
    try:
        with as_user(current_pool(), g.claims) as conn:
            workspace_id, _ = workspaces.resolve(conn, new["workspace_id"] or None)
            contact_id = conn.execute(
                "insert into public.contacts (workspace_id, phone_e164, first_name, last_name) "
                "values (%s, %s, nullif(%s, ''), nullif(%s, '')) returning id",
                (workspace_id, phone, new["first_name"], new["last_name"]),
            ).fetchone()["id"]
        done = "created"
    except psycopg.errors.UniqueViolation:
        with as_user(current_pool(), g.claims) as conn:
            contact_id = conn.execute(
                "select id from public.contacts where workspace_id = %s and phone_e164 = %s", (workspace_id, phone)
            ).fetchone()["id"]
        done = "exists"
    return redirect(url_for("web.contacts.contact_page", contact_id=contact_id, done=done), 303)


# ---------------------------------------------------------------------------------------
# One contact


def _contact(conn, contact_id: str) -> dict:
    row = conn.execute(
        "select c.*, w.name as workspace_name, "
        "       (select m.role::text from public.workspace_members m "
        "         where m.workspace_id = c.workspace_id and m.user_id = auth.uid()) as my_role "
        "  from public.contacts c join public.workspaces w on w.id = c.workspace_id where c.id = %s",
        (_uuid(contact_id),),
    ).fetchone()
    if row is None:
        abort(404)
    return row


def _values_of(contact: dict) -> dict:
    return {
        "first_name": contact["first_name"] or "",
        "last_name": contact["last_name"] or "",
        "email": contact["email"] or "",
        "tags": ", ".join(contact["tags"] or []),
        "custom": sorted((str(k), "" if v is None else str(v)) for k, v in (contact["custom_fields"] or {}).items()),
    }


def _contact_page(
    contact_id: str,
    status: int = 200,
    error: str | None = None,
    values: dict | None = None,
    list_name: str = "",
    evidence: str = "",
):
    with as_user(current_pool(), g.claims) as conn:
        contact = _contact(conn, contact_id)
        lists = conn.execute(
            "select l.id, l.name, exists (select 1 from public.contact_list_members m "
            "                              where m.list_id = l.id and m.contact_id = %s) as member "
            "  from public.contact_lists l where l.workspace_id = %s order by lower(l.name), l.id limit %s",
            (contact["id"], contact["workspace_id"], MAX_LISTS_SHOWN),
        ).fetchall()
        opt_out = conn.execute(
            "select * from public.opt_outs where workspace_id = %s and phone_e164 = %s",
            (contact["workspace_id"], contact["phone_e164"]),
        ).fetchone()
        history = conn.execute(
            "select action, source, evidence, occurred_at from public.opt_out_events "
            " where workspace_id = %s and phone_e164 = %s order by occurred_at desc, id desc limit %s",
            (contact["workspace_id"], contact["phone_e164"], MAX_HISTORY),
        ).fetchall()
    done = request.args.get("done", "")
    notice = "That number is already a contact: here it is." if done == "exists" else DONE.get(done)
    return render_template(
        "contacts/contact.html",
        contact=contact,
        values=values or _values_of(contact),
        lists=lists,
        opt_out=opt_out,
        history=history,
        error=error,
        notice=notice,
        list_name=list_name,
        evidence=evidence,
        source_in_words=source_in_words,
    ), status


@bp.get("/contacts/<contact_id>")
@adult_required
def contact_page(contact_id: str):
    return _contact_page(contact_id)


def _submitted() -> dict:
    keys, values = request.form.getlist("custom_key"), request.form.getlist("custom_value")
    custom = [
        (k.strip()[:200], v.strip()[: csv_import.MAX_CUSTOM_VALUE + 1]) for k, v in zip(keys, values, strict=False)
    ]
    return {
        "first_name": (request.form.get("first_name") or "").strip()[:500],
        "last_name": (request.form.get("last_name") or "").strip()[:500],
        "email": (request.form.get("email") or "").strip()[:500],
        "tags": (request.form.get("tags") or "").strip()[:20_000],
        "custom": [(k, v) for k, v in custom if k or v][: MAX_CUSTOM_FIELDS + 1],
    }


def _invalid(values: dict) -> str | None:
    """Why the submitted contact cannot be saved, as a sentence; None when it can."""
    for name, label in (("first_name", "The first name"), ("last_name", "The last name")):
        if len(values[name]) > csv_import.MAX_NAME:
            return f"{label} is longer than {csv_import.MAX_NAME} characters."
    if values["email"] and (len(values["email"]) > csv_import.MAX_EMAIL or not EMAIL.match(values["email"])):
        return f"“{values['email'][:80]}” is not an e-mail address: it needs one @ and no spaces."
    tags = csv_import.split_tags(values["tags"], re.compile(","))
    if any(len(t) > csv_import.MAX_TAG for t in tags):
        return f"Each tag is at most {csv_import.MAX_TAG} characters."
    if len(tags) > csv_import.MAX_TAGS:
        return f"A contact has at most {csv_import.MAX_TAGS} tags."
    if len(values["custom"]) > MAX_CUSTOM_FIELDS:
        return f"A contact has at most {MAX_CUSTOM_FIELDS} custom fields."
    seen = set()
    for key, value in values["custom"]:
        if not key:
            return f"Give the custom field with the value “{value[:40]}” a name."
        if not csv_import.CUSTOM_KEY.match(key):
            return (
                f"The custom field name “{key[:40]}” may use only letters, digits, _ and - "
                f"(at most {csv_import.MAX_CUSTOM_KEY} characters)."
            )
        if key in seen:
            return f"There are two custom fields named “{key}”: give each its own name."
        seen.add(key)
        if len(value) > csv_import.MAX_CUSTOM_VALUE:
            return f"The custom field “{key}” is longer than {csv_import.MAX_CUSTOM_VALUE} characters."
    return None


@bp.post("/contacts/<contact_id>")
@adult_required
def save_contact(contact_id: str):
    values = _submitted()
    error = _invalid(values)
    if error:
        return _contact_page(contact_id, 400, error, values)
    with as_user(current_pool(), g.claims) as conn:
        contact = _contact(conn, contact_id)
        conn.execute(
            "update public.contacts set first_name = nullif(%s, ''), last_name = nullif(%s, ''), "
            "       email = nullif(%s, ''), tags = %s, custom_fields = %s::jsonb where id = %s",
            (
                values["first_name"],
                values["last_name"],
                values["email"],
                csv_import.split_tags(values["tags"], re.compile(",")),
                json.dumps(dict(values["custom"])),
                contact["id"],
            ),
        )
    return _done(contact["id"], "saved")


class _Refused(Exception):
    """A contact-page action refused in words; raised inside the transaction, so it rolls back."""

    def __init__(self, status: int, message: str, **keep):
        super().__init__(message)
        self.status, self.message, self.keep = status, message, keep


def _done(contact_id, done: str):
    return redirect(url_for("web.contacts.contact_page", contact_id=contact_id, done=done), 303)


@bp.post("/contacts/<contact_id>/lists")
@adult_required
def add_to_list(contact_id: str):
    name = (request.form.get("name") or "").strip()[:200]
    creating = request.form.get("action") == "create"
    try:
        with as_user(current_pool(), g.claims) as conn:
            contact = _contact(conn, contact_id)
            if creating:
                if not name or len(name) > 120:
                    raise _Refused(400, "Name the new list (at most 120 characters).", list_name=name)
                try:
                    with conn.transaction():
                        list_id = conn.execute(
                            "insert into public.contact_lists (workspace_id, name) values (%s, %s) returning id",
                            (contact["workspace_id"], name),
                        ).fetchone()["id"]
                except psycopg.errors.UniqueViolation:
                    raise _Refused(
                        409,
                        f"There is already a list called “{name}”: choose it under “Add to a list” instead.",
                        list_name=name,
                    ) from None
            else:
                list_id = _uuid(request.form.get("list_id"))
                if not conn.execute(
                    "select 1 from public.contact_lists where id = %s and workspace_id = %s",
                    (list_id, contact["workspace_id"]),
                ).fetchone():
                    abort(404)
            conn.execute(
                "insert into public.contact_list_members (workspace_id, list_id, contact_id) "
                "values (%s, %s, %s) on conflict do nothing",
                (contact["workspace_id"], list_id, contact["id"]),
            )
    except _Refused as refused:
        return _contact_page(contact_id, refused.status, refused.message, **refused.keep)
    return _done(contact["id"], "list_created" if creating else "listed")


@bp.post("/contacts/<contact_id>/lists/<list_id>/remove")
@adult_required
def remove_from_list(contact_id: str, list_id: str):
    with as_user(current_pool(), g.claims) as conn:
        contact = _contact(conn, contact_id)
        conn.execute(
            "delete from public.contact_list_members where list_id = %s and contact_id = %s",
            (_uuid(list_id), contact["id"]),
        )
    return _done(contact["id"], "unlisted")


@bp.post("/contacts/<contact_id>/opt-out")
@adult_required
def opt_out(contact_id: str):
    with as_user(current_pool(), g.claims) as conn:
        contact = _contact(conn, contact_id)
        conn.execute("select public.opt_out(%s, %s, 'manual')", (contact["workspace_id"], contact["phone_e164"]))
    return _done(contact["id"], "opted_out")


@bp.post("/contacts/<contact_id>/opt-in")
@adult_required
def opt_in(contact_id: str):
    try:
        with as_user(current_pool(), g.claims) as conn:
            contact = _contact(conn, contact_id)
            conn.execute("select public.opt_in(%s, %s, 'manual')", (contact["workspace_id"], contact["phone_e164"]))
    except psycopg.errors.InsufficientPrivilege:
        return _contact_page(
            contact_id,
            403,
            "This person opted out themself, so only they can lift it, by texting "
            "START, or an admin can record their documented consent again below.",
        )
    return _done(contact["id"], "opted_in")


@bp.post("/contacts/<contact_id>/consent")
@adult_required
def record_consent(contact_id: str):
    evidence = (request.form.get("evidence") or "").strip()[:1200]
    try:
        with as_user(current_pool(), g.claims) as conn:
            contact = _contact(conn, contact_id)
            if contact["my_role"] not in ("admin", "owner"):
                raise _Refused(
                    403, "Only an admin or owner of the workspace can record renewed consent.", evidence=evidence
                )
            if not evidence or len(evidence) > 1000:
                raise _Refused(
                    400,
                    "Say how and when the person agreed again to be texted (at most 1,000 characters).",
                    evidence=evidence,
                )
            conn.execute(
                "select public.record_opt_in_consent(%s, %s, %s)",
                (contact["workspace_id"], contact["phone_e164"], evidence),
            )
    except _Refused as refused:
        return _contact_page(contact_id, refused.status, refused.message, **refused.keep)
    return _done(contact["id"], "consent")


# ---------------------------------------------------------------------------------------
# CSV import


@bp.get("/contacts/import")
@adult_required
def import_page():
    with as_user(current_pool(), g.claims) as conn:
        memberships = _memberships(conn)
        lists = conn.execute(
            "select l.id, l.name, l.workspace_id::text, w.name as workspace_name from public.contact_lists l "
            "join public.workspaces w on w.id = l.workspace_id order by lower(w.name), lower(l.name) limit %s",
            (MAX_LISTS_SHOWN,),
        ).fetchall()
    return render_template("contacts/import.html", memberships=memberships, lists=lists, encodings=ENCODINGS)


@bp.post("/contacts/import/preview")
@adult_required
def import_preview():
    """The columns the import would read from the file's first bytes, with a choice for each."""
    sample = request.stream.read(PREVIEW_BYTES)
    try:
        encoding = csv_import.parse_encoding(request.args.get("encoding"))
        records = csv_import.records(csv_import.open_text(io.BytesIO(sample), encoding))
        header = csv_import.read_header(records)
        columns = csv_import.map_columns(header, None, require_phone=False)
    except CsvImportError as exc:
        # A preview that describes the file's problem is still a preview: 200, the sentence in it.
        return render_template("contacts/_preview.html", error=_page_words(exc.code, exc.message))
    samples: list[list[str]] = []
    try:
        for _, record in records:
            samples.append(record)
            if len(samples) >= PREVIEW_SAMPLES:
                break
    except CsvImportError:
        pass  # the sample ends mid-record; the rows before are enough to show
    shown = []
    for index, column in enumerate(columns):
        if not column.header:
            continue
        chosen = f"custom.{column.key}" if column.target == "custom" else (column.target or "")
        custom = column.key if column.target == "custom" else csv_import.custom_key_for(column.header, index)
        shown.append(
            {
                "index": index,
                "header": column.header,
                "chosen": chosen,
                "custom": f"custom.{custom}",
                "custom_key": custom,
                "samples": [r[index] for r in samples if index < len(r) and r[index]][:3],
            }
        )
    missing_phone = not any(c.target == "phone" for c in columns)
    return render_template("contacts/_preview.html", columns=shown, fields=FIELD_LABELS, missing_phone=missing_phone)


@bp.get("/contacts/import/progress")
@adult_required
def import_progress():
    """The caller's running import in the workspace, for the page to show while its upload runs."""
    with as_user(current_pool(), g.claims) as conn:
        workspace_id, _ = workspaces.resolve(conn, request.args.get("workspace_id") or None)
        row = conn.execute(
            "select id, status, rows_read, imported, updated, merged, rejected_total, opted_out, listed "
            "  from public.contact_imports where workspace_id = %s and created_by = auth.uid() "
            "   and status = 'running' order by started_at desc limit 1",
            (workspace_id,),
        ).fetchone()
    return jsonify(running=row)


def _page_words(code: str, message: str) -> str:
    """The import's refusals speak of its API parameters (mapping, encoding=...); a page speaks of its form."""
    if code == "not_csv" and "encoding=" in message:
        return "This does not read as text in the chosen encoding. If it is a CSV file, choose its encoding above."
    return IMPORT_REFUSALS.get(code, message)


@bp.post("/contacts/import/upload")
@adult_required
def import_upload():
    """The same import as POST /api/v1/contacts/import. The page's script asks for its JSON and shows
    it; a browser without the script gets the outcome as a page."""
    try:
        response = contacts_api.import_contacts()
    except ApiError as exc:
        exc.message = _page_words(exc.code, exc.message)
        if pages.wants_json():
            raise
        return render_template("contacts/import_result.html", error=exc.message, counts=exc.extra), exc.status
    if pages.wants_json():
        return response
    return render_template("contacts/import_result.html", result=response.get_json())
