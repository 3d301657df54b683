"""The import's batches travel to the database as COPY text (contacts/api.py): whatever a CSV
field holds arrives exactly as written, escapes and all, and one upload is a few batches, not
a statement per row."""

from __future__ import annotations

import csv
import io

from numeraloop.contacts import api as contacts_api

from .test_import import contacts, upload

AWKWARD = [
    "tab\there",
    "back\\slash",
    "line\nbreak",
    "cr\rreturn",
    'quote " mark',
    "\\N",
    "{braces,comma}",
    "NULL",
    "ünïcødé ✓ 𝄞",
    "  inner  spaces  ",
    "semi;colon",
]


def test_awkward_text_arrives_exactly_as_written(service, make_user, db):
    user = make_user()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Phone", "First Name", "Last Name", "Email", "Tags", "Note"])
    for i, text in enumerate(AWKWARD):
        writer.writerow(
            [f"+1415555{i:04d}", text.strip(), text.strip() + "!", f"a\\b{i}@x.test", text.replace(";", ""), text]
        )
    r = upload(service, user, out.getvalue(), tags='imported,\\x "y"')
    assert r.status_code == 200, r.text
    assert (r.json()["imported"], r.json()["rejected_total"]) == (len(AWKWARD), 0)

    stored = contacts(db, user.workspace_id)
    for i, text in enumerate(AWKWARD):
        row = stored[f"+1415555{i:04d}"]
        assert (row["first_name"], row["last_name"], row["email"]) == (
            text.strip(),
            text.strip() + "!",
            f"a\\b{i}@x.test",
        )
        tag = text.replace(";", "").strip()
        assert row["tags"] == [
            "imported",
            '\\x "y"',
            *([tag] if "," not in tag else [t.strip() for t in tag.split(",")]),
        ]
        assert row["custom_fields"] == {"note": text.strip()}


def test_an_upload_is_a_few_batches(service, make_user, db, monkeypatch):
    monkeypatch.setattr(contacts_api, "BATCH_ROWS", 400)
    monkeypatch.setattr(contacts_api, "FLUSH_SECONDS", 3600)
    batches = []
    write = contacts_api._Import._write

    def counted(self, data, *args):
        batches.append(data.count(b"\n"))
        return write(self, data, *args)

    monkeypatch.setattr(contacts_api._Import, "_write", counted)
    user = make_user()
    r = upload(service, user, "phone,first_name\n" + "".join(f"+1202555{i:04d},P{i}\n" for i in range(1000)))
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1000
    assert batches == [400, 400, 200]
