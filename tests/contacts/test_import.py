"""POST /api/v1/contacts/import over HTTP: mapping, normalisation, upsert and merge, bad rows
reported by line, malformed and binary files refused cleanly, and who may import where."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest

from tests.support.database import add_member

PATH = "/api/v1/contacts/import"
CONSENT = "website form 2026-10"


def upload(service, user, content, *, workspace_id=None, filename="contacts.csv", **params):
    body = content.encode("utf-8") if isinstance(content, str) else content
    data = {"workspace_id": workspace_id or user.workspace_id, "consent_source": CONSENT, **params}
    if isinstance(data.get("mapping"), dict):
        data["mapping"] = json.dumps(data["mapping"])
    data = {k: v for k, v in data.items() if v is not None}
    return service.post(PATH, user=user, files={"file": (filename, body, "text/csv")}, data=data)


def contacts(db, workspace_id):
    rows = db.execute(
        "select phone_e164, first_name, last_name, email, tags, custom_fields, consent_source, consent_at "
        "from public.contacts where workspace_id = %s order by phone_e164",
        (workspace_id,),
    ).fetchall()
    return {r["phone_e164"]: r for r in rows}


def error_of(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


def new_list(db, workspace_id, name="Spring promo"):
    return str(
        db.execute(
            "insert into public.contact_lists (workspace_id, name) values (%s, %s) returning id", (workspace_id, name)
        ).fetchone()["id"]
    )


# ---------------------------------------------------------------------------------------
# Rows: good ones imported, bad ones reported by line


def test_good_rows_are_imported_and_bad_rows_reported_by_line(service, make_user, db):
    user = make_user("owner")
    csv_text = (
        "Phone,First Name,Last Name,Email,Company\n"
        "(415) 555-2671,Ann,Lee,ann@example.test,Acme\n"  # line 2: ok
        "not a number,Bob,,,\n"  # line 3: invalid phone
        ",Cy,,,\n"  # line 4: no phone
        "+1 201 555 0123,Dee,,dee-at-example,\n"  # line 5: bad email
        "2025550199,Eve,,,Initech,surplus\n"  # line 6: more fields than the header
        "+1 202 555 0142,Fay,Fox,,\n"  # line 7: ok
    )
    r = upload(service, user, csv_text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == 6
    assert body["imported"] == 2 and body["updated"] == 0 and body["merged"] == 0
    assert body["rejected_total"] == 4
    assert [x["row"] for x in body["rejected"]] == [3, 4, 5, 6]
    reasons = {x["row"]: x["reason"] for x in body["rejected"]}
    assert "not a valid phone number" in reasons[3] and "US" in reasons[3]
    assert "phone number is missing" in reasons[4]
    assert "email" in reasons[5]
    assert "6 fields" in reasons[6] and "5" in reasons[6]
    assert body["list_id"] is None and body["workspace_id"] == user.workspace_id

    stored = contacts(db, user.workspace_id)
    assert set(stored) == {"+14155552671", "+12025550142"}
    ann = stored["+14155552671"]
    assert (ann["first_name"], ann["last_name"], ann["email"]) == ("Ann", "Lee", "ann@example.test")
    assert ann["custom_fields"] == {"company": "Acme"}
    assert ann["consent_source"] == CONSENT and ann["consent_at"] is not None
    assert stored["+12025550142"]["custom_fields"] == {}


def test_automatic_header_mapping(service, make_user, db):
    user = make_user()
    csv_text = (
        "  MOBILE ,first_name,SurName,E-Mail,Tags,Favourite Colour,\n"
        "415 555 2671,Ann,Lee,ann@example.test,vip;spring,green,\n"
    )
    r = upload(service, user, csv_text)
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == {
        "MOBILE": "phone",
        "first_name": "first_name",
        "SurName": "last_name",
        "E-Mail": "email",
        "Tags": "tags",
        "Favourite Colour": "custom.favourite_colour",
    }
    ann = contacts(db, user.workspace_id)["+14155552671"]
    assert (ann["first_name"], ann["last_name"], ann["email"]) == ("Ann", "Lee", "ann@example.test")
    assert ann["tags"] == ["vip", "spring"]
    assert ann["custom_fields"] == {"favourite_colour": "green"}


def test_phone_number_header_variants(service, make_user, db):
    for header in ("Phone Number", "phone_number", "Cell Phone", "Telephone"):
        user = make_user()
        r = upload(service, user, f"{header},Name\n4155552671,Ann\n")
        assert r.status_code == 200, (header, r.text)
        assert r.json()["imported"] == 1 and r.json()["columns"][header] == "phone"
        assert contacts(db, user.workspace_id)["+14155552671"]["custom_fields"] == {"name": "Ann"}


def test_explicit_mapping(service, make_user, db):
    user = make_user()
    csv_text = "Cell,Given,Plan,Notes,Phone\n415-555-2671,Ann,gold,call after 5,not used\n"
    mapping = {
        "Cell": "phone",
        "given": "first_name",
        "Plan": "custom.plan",
        "Notes": None,
        "Phone": "custom.old_phone",
    }
    r = upload(service, user, csv_text, mapping=mapping)
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == {
        "Cell": "phone",
        "Given": "first_name",
        "Plan": "custom.plan",
        "Notes": None,
        "Phone": "custom.old_phone",
    }
    ann = contacts(db, user.workspace_id)["+14155552671"]
    assert ann["first_name"] == "Ann"
    assert ann["custom_fields"] == {"plan": "gold", "old_phone": "not used"}


@pytest.mark.parametrize(
    "mapping,code",
    [
        ({"Nope": "phone"}, "unknown_column"),
        ({"Cell": "telephone"}, "invalid_mapping"),
        ({"Cell": "custom.{{bad}}"}, "invalid_mapping"),
        ({"Cell": "phone", "Name": "phone"}, "invalid_mapping"),
        ("[1, 2]", "invalid_mapping"),
        ("{not json", "invalid_mapping"),
    ],
)
def test_bad_mapping_is_a_clear_422(service, make_user, mapping, code):
    user = make_user()
    raw = mapping if isinstance(mapping, str) else json.dumps(mapping)
    error = error_of(upload(service, user, "Cell,Name\n4155552671,Ann\n", mapping=raw), 422)
    assert error["code"] == code
    if code == "unknown_column":
        assert error["columns"] == ["Cell", "Name"]


def test_no_phone_column_names_the_columns_found(service, make_user):
    user = make_user()
    error = error_of(upload(service, user, "Name,Company\nAnn,Acme\n"), 422)
    assert error["code"] == "no_phone_column"
    assert error["columns"] == ["Name", "Company"]
    assert "'Name'" in error["message"] and "'Company'" in error["message"]


def test_default_country(service, make_user, db):
    user = make_user()
    csv_text = "phone\n020 7946 0958\n+1 415 555 2671\n"
    r = upload(service, user, csv_text, default_country="gb")
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2
    assert set(contacts(db, user.workspace_id)) == {"+442079460958", "+14155552671"}

    other = make_user()
    r = upload(service, other, "phone\n020 7946 0958\n")  # read as a US number: invalid
    assert r.status_code == 200 and r.json()["imported"] == 0
    assert r.json()["rejected"] == [{"row": 2, "reason": "not a valid phone number (read with default country US)"}]

    assert error_of(upload(service, user, csv_text, default_country="UK"), 422)["code"] == "invalid_default_country"


def test_tags_for_all_rows_and_per_row_and_a_list(service, make_user, db):
    user = make_user()
    list_id = new_list(db, user.workspace_id)
    csv_text = 'phone,tags\n4155552671,a; b\n2015550123,"b,c"\n2025550142,\n'
    r = upload(service, user, csv_text, tags="spring, vip ,", list_id=list_id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 3 and body["list_id"] == list_id and body["listed"] == 3
    stored = contacts(db, user.workspace_id)
    assert stored["+14155552671"]["tags"] == ["spring", "vip", "a", "b"]
    assert stored["+12015550123"]["tags"] == ["spring", "vip", "b", "c"]
    assert stored["+12025550142"]["tags"] == ["spring", "vip"]
    members = db.execute(
        "select count(*) as n from public.contact_list_members where list_id = %s", (list_id,)
    ).fetchone()
    assert members["n"] == 3

    again = upload(service, user, "phone\n4155552671\n", list_id=list_id)
    assert again.json()["listed"] == 0 and again.json()["updated"] == 1  # already on the list


def test_reimport_updates_non_empty_fields_and_merges_tags_and_custom_fields(service, make_user, db):
    user = make_user()
    first = upload(
        service,
        user,
        "phone,first name,last name,email,tags,plan,city\n4155552671,Ann,Lee,ann@example.test,vip,gold,SF\n",
        consent_source="paper form",
    )
    assert first.json()["imported"] == 1
    second = upload(
        service,
        user,
        "phone,first name,last name,email,tags,plan,team\n+14155552671,Annie,,,new,platinum,blue\n2015550123,Bo,,,,,\n",
    )
    assert second.status_code == 200, second.text
    assert (second.json()["imported"], second.json()["updated"]) == (1, 1)
    ann = contacts(db, user.workspace_id)["+14155552671"]
    assert (ann["first_name"], ann["last_name"], ann["email"]) == ("Annie", "Lee", "ann@example.test")
    assert ann["tags"] == ["vip", "new"]
    assert ann["custom_fields"] == {"plan": "platinum", "city": "SF", "team": "blue"}
    assert ann["consent_source"] == CONSENT  # the latest consent


def test_duplicate_rows_in_a_file_are_merged(service, make_user, db):
    user = make_user()
    csv_text = (
        "phone,first_name,last_name,tags,plan\n"
        "415-555-2671,Ann,,a,gold\n"
        "+1 (415) 555-2671,,Lee,b,\n"
        "4155552671,Annie,,a,platinum\n"
    )
    r = upload(service, user, csv_text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["imported"], body["updated"], body["merged"], body["rejected_total"]) == (3, 1, 0, 2, 0)
    ann = contacts(db, user.workspace_id)["+14155552671"]
    assert (ann["first_name"], ann["last_name"], ann["tags"], ann["custom_fields"]) == (
        "Annie",
        "Lee",
        ["a", "b"],
        {"plan": "platinum"},
    )


def test_duplicates_across_batches_are_merged_once(service, make_user, db):
    user = make_user()
    lines = ["phone,first_name"] + [f"+1201555{n:04d},P{n}" for n in range(1500)] + ["+12015550000,Zed"]
    r = upload(service, user, "\n".join(lines) + "\n")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["imported"], body["updated"], body["merged"], body["rejected_total"]) == (
        1501,
        1500,
        0,
        1,
        0,
    )
    stored = contacts(db, user.workspace_id)
    assert len(stored) == 1500 and stored["+12015550000"]["first_name"] == "Zed"


# ---------------------------------------------------------------------------------------
# File formats


def test_bom_crlf_quoted_commas_and_line_breaks(service, make_user, db):
    user = make_user()
    csv_text = (
        "\ufeffPhone,First Name,Notes\r\n"
        '"415 555 2671","Lee, Ann","says ""hi"""\r\n'
        '2015550123,Bo,"two\r\nlines"\r\n'
        "oops,Cy,\r\n"
    )
    r = upload(service, user, csv_text.encode("utf-8"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"]["Phone"] == "phone"  # the BOM is not part of the first header
    assert body["imported"] == 2
    assert body["rejected"] == [{"row": 5, "reason": "not a valid phone number (read with default country US)"}]
    stored = contacts(db, user.workspace_id)
    assert stored["+14155552671"]["first_name"] == "Lee, Ann"
    assert stored["+14155552671"]["custom_fields"] == {"notes": 'says "hi"'}
    assert stored["+12015550123"]["custom_fields"] == {"notes": "two\r\nlines"}


def test_utf16_with_bom_as_excel_writes_it(service, make_user, db):
    user = make_user()
    r = upload(service, user, "Phone,First Name\r\n4155552671,Zoë\r\n".encode("utf-16"))
    assert r.status_code == 200, r.text
    assert contacts(db, user.workspace_id)["+14155552671"]["first_name"] == "Zoë"


def test_wrong_encoding_rejects_the_row_and_encoding_parameter_fixes_it(service, make_user, db):
    user = make_user()
    latin1 = "Phone,First Name\n4155552671,Zoë\n2015550123,Bo\n".encode("latin-1")
    r = upload(service, user, latin1)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1
    assert r.json()["rejected"][0]["row"] == 2 and "encoding" in r.json()["rejected"][0]["reason"]

    r = upload(service, user, latin1, encoding="latin-1")
    assert r.status_code == 200 and r.json()["imported"] == 1 and r.json()["updated"] == 1
    assert contacts(db, user.workspace_id)["+14155552671"]["first_name"] == "Zoë"

    assert error_of(upload(service, user, latin1, encoding="klingon"), 422)["code"] == "invalid_encoding"
    header_latin1 = "Téléphone,Prénom\n4155552671,Zoë\n".encode("latin-1")
    assert error_of(upload(service, user, header_latin1), 422)["code"] == "invalid_encoding"


def test_nul_bytes_in_a_row_reject_that_row(service, make_user, db):
    user = make_user()
    # Past the first 8 KB (which is sniffed, and where a NUL means a binary file).
    text = ("phone,first_name\n" + "4155552671,Ann\n" * 700 + "2015550123,B\x00o\n").encode()
    r = upload(service, user, text)
    assert r.status_code == 200, r.text
    assert r.json()["rejected"][0]["row"] == 702 and r.json()["merged"] == 699


def test_malformed_csv_is_a_422_and_keeps_the_rows_before_the_bad_line(service, make_user, db):
    user = make_user()
    csv_text = 'phone,first_name\n4155552671,Ann\n2015550123,"Bo"x\n3035550100,Cy\n'
    error = error_of(upload(service, user, csv_text), 422)
    assert error["code"] == "malformed_csv" and error["line"] == 3
    assert error["import_status"] == "failed" and (error["rows"], error["imported"]) == (1, 1)
    assert set(contacts(db, user.workspace_id)) == {"+14155552671"}  # line 2, not line 4


def test_unterminated_quote_is_a_422(service, make_user, db):
    user = make_user()
    error = error_of(upload(service, user, 'phone,first_name\n4155552671,"Ann\n2015550123,Bo\n'), 422)
    assert error["code"] == "malformed_csv"
    assert contacts(db, user.workspace_id) == {}


def test_binary_files_are_refused(service, make_user):
    user = make_user()
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    error = error_of(upload(service, user, workbook.getvalue(), filename="contacts.xlsx"), 422)
    assert error["code"] == "not_csv" and "Excel" in error["message"]

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    assert error_of(upload(service, user, png), 422)["code"] == "not_csv"
    noise = bytes((i * 37 + 11) % 256 for i in range(4000) if (i * 37 + 11) % 256)  # no NULs, not text
    assert error_of(upload(service, user, noise), 422)["code"] == "not_csv"


@pytest.mark.parametrize(
    "content,code",
    [
        (b"", "empty_file"),
        (b"\r\n  \n", "empty_file"),
        (b"phone,first_name\r\n", "no_rows"),
        (b"phone\n,\n\n", "no_rows"),
    ],
)
def test_empty_files_are_a_422(service, make_user, content, code):
    user = make_user()
    assert error_of(upload(service, user, content), 422)["code"] == code


def test_text_csv_body_with_query_parameters(service, make_user, db):
    user = make_user()
    r = service.post(
        f"{PATH}?workspace_id={user.workspace_id}&consent_source=API&tags=api",
        user=user,
        data=b"Phone\n4155552671\n",
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    stored = contacts(db, user.workspace_id)["+14155552671"]
    assert stored["tags"] == ["api"] and stored["consent_source"] == "API"


def test_text_csv_body_streamed_chunked(service, make_user, db):
    user = make_user()

    def chunks():
        yield b"Phone,First Name\n"
        for n in range(2500):
            yield f"+1201555{n:04d},P{n}\n".encode()

    r = service.post(
        f"{PATH}?workspace_id={user.workspace_id}&consent_source=API",
        user=user,
        data=chunks(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2500
    assert len(contacts(db, user.workspace_id)) == 2500


def test_other_content_types_and_missing_file(service, make_user):
    user = make_user()
    r = service.post(f"{PATH}?workspace_id={user.workspace_id}&consent_source=x", user=user, json={"phone": "1"})
    assert error_of(r, 415)["code"] == "unsupported_media_type"
    r = service.post(
        PATH,
        user=user,
        files={"other": ("a.csv", b"phone\n4155552671\n")},
        data={"workspace_id": user.workspace_id, "consent_source": "x"},
    )
    assert error_of(r, 422)["code"] == "missing_file"


def test_consent_source_is_required(service, make_user, db):
    user = make_user()
    error = error_of(upload(service, user, "phone\n4155552671\n", consent_source=None), 422)
    assert error["code"] == "missing_field" and error["field"] == "consent_source"
    assert (
        error_of(upload(service, user, "phone\n4155552671\n", consent_source="x" * 201), 422)["code"] == "invalid_field"
    )
    assert contacts(db, user.workspace_id) == {}


def test_too_large_upload_is_a_413_json(service, make_user, monkeypatch):
    user = make_user()
    monkeypatch.setattr("numeraloop.contacts.api.MAX_IMPORT_BYTES", 2000)
    big = "phone\n" + "4155552671\n" * 400
    error = error_of(upload(service, user, big), 413)
    assert error["code"] == "request_entity_too_large"
    r = service.post(
        f"{PATH}?workspace_id={user.workspace_id}&consent_source=x",
        user=user,
        data=big.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert error_of(r, 413)["code"] == "request_entity_too_large"


def test_csv_uploads_may_exceed_the_app_wide_limit(service, make_user, monkeypatch):
    from numeraloop.contacts import api

    assert api.MAX_IMPORT_BYTES >= 512 * 1024 * 1024 > service.app.config["MAX_CONTENT_LENGTH"]
    monkeypatch.setitem(service.app.config, "MAX_CONTENT_LENGTH", 2000)
    user = make_user()
    rows = "phone\n" + "".join(f"+1415555{i:04d}\n" for i in range(400))
    assert len(rows) > 2000
    r = upload(service, user, rows)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["rows"] == 400
    # Every other route keeps the app-wide limit.
    big_json = service.post("/api/v1/messages", user=user, json={"body": "x" * 5000, "to": "+14155550100"})
    assert error_of(big_json, 413)["code"] == "request_entity_too_large"


# ---------------------------------------------------------------------------------------
# Opt-outs, audit


def test_opted_out_numbers_stay_opted_out(service, make_user, db):
    user = make_user()
    db.execute("select private.record_opt_out(%s, '+14155552671', 'manual')", (user.workspace_id,))
    r = upload(service, user, "phone\n4155552671\n2015550123\n")
    assert r.status_code == 200 and r.json()["opted_out"] == 1 and r.json()["imported"] == 2
    still = db.execute(
        "select 1 from public.opt_outs where workspace_id = %s and phone_e164 = '+14155552671'", (user.workspace_id,)
    ).fetchone()
    assert still is not None


def test_import_is_audited_with_counts_only(service, make_user, db):
    user = make_user()
    list_id = new_list(db, user.workspace_id)
    r = upload(service, user, "phone\n4155552671\nnope\n", list_id=list_id)
    assert r.status_code == 200, r.text
    row = db.execute(
        "select actor_user_id::text, action, target_type, target_id, details from public.audit_log "
        "where workspace_id = %s and action = 'contacts.import'",
        (user.workspace_id,),
    ).fetchone()
    assert row["actor_user_id"] == user.id and row["target_type"] == "contact_list" and row["target_id"] == list_id
    assert row["details"] == {
        "rows": 2,
        "imported": 1,
        "updated": 0,
        "merged": 0,
        "rejected": 1,
        "opted_out": 0,
        "listed": 1,
        "import_id": r.json()["import_id"],
        "status": "completed",
    }
    assert "555" not in json.dumps(row["details"])


# ---------------------------------------------------------------------------------------
# Who may import where


def test_an_agent_can_import(service, make_user, db):
    owner, agent = make_user("owner"), make_user("agent")
    add_member(db, owner.workspace_id, agent, "agent")
    r = upload(service, agent, "phone\n4155552671\n", workspace_id=owner.workspace_id)
    assert r.status_code == 200, r.text
    assert set(contacts(db, owner.workspace_id)) == {"+14155552671"}


def test_another_workspaces_member_gets_404(service, make_user, db):
    owner, outsider = make_user("owner"), make_user("outsider")
    r = upload(service, outsider, "phone\n4155552671\n", workspace_id=owner.workspace_id)
    assert error_of(r, 404)["code"] == "workspace_not_found"
    assert contacts(db, owner.workspace_id) == {}


def test_a_list_of_another_workspace_is_not_found(service, make_user, db):
    alice, mallory = make_user("alice"), make_user("mallory")
    theirs = new_list(db, mallory.workspace_id)
    r = upload(service, alice, "phone\n4155552671\n", list_id=theirs)
    assert error_of(r, 404)["code"] == "list_not_found"
    r = upload(service, alice, "phone\n4155552671\n", list_id=str(uuid.uuid4()))
    assert error_of(r, 404)["code"] == "list_not_found"
    assert error_of(upload(service, alice, "phone\n4155552671\n", list_id="nope"), 422)["code"] == "invalid_list_id"
    assert contacts(db, alice.workspace_id) == {}


def test_unauthenticated_is_401(service):
    r = service.post(PATH, files={"file": ("a.csv", b"phone\n4155552671\n")}, data={"consent_source": "x"})
    assert error_of(r, 401)["code"]
