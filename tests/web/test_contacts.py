"""The contacts pages in Chromium: the list with search and paging, a contact's page (details,
custom fields, tags, lists, opt-out state and history), and the CSV import with its column
preview, live progress and the rejected rows as a download. Another workspace's contact is a 404."""

from __future__ import annotations

import re
import threading
import uuid

from playwright.sync_api import expect

from numeraloop.contacts import api as contacts_api
from tests.web.test_signin import confirm_age, sign_up


def _email(handle: str) -> str:
    return f"{handle}-{uuid.uuid4().hex[:8]}@example.test"


def signed_up(page, web, handle: str) -> str:
    email = _email(handle)
    sign_up(page, web, email)
    confirm_age(page)
    page.wait_for_load_state()
    return email


def add_contact(page, web, phone: str, first: str = "", last: str = "") -> str:
    """Adds a contact from the list page; returns its page's URL."""
    page.goto(web.url("/contacts"))
    page.get_by_label("Phone number").fill(phone)
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_role("button", name="Add contact").click()
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}\?done=created"))
    return page.url.split("?")[0]


def personal_workspace(db, email: str) -> str:
    return str(
        db.execute(
            "select w.id from public.workspaces w join public.profiles p on p.id = w.created_by "
            "where p.email = %s and w.is_personal",
            (email,),
        ).fetchone()["id"]
    )


def test_add_edit_and_find_a_contact(web, page, db):
    email = signed_up(page, web, "carla")
    url = add_contact(page, web, "(415) 555-0101", "Ann", "Lee")
    assert page.get_by_role("heading", name="Ann Lee").is_visible()
    assert page.get_by_text("+14155550101").first.is_visible()

    # A wrong e-mail is refused in a sentence, and everything typed stays in the form.
    page.get_by_label("Last name").fill("Lee-Smith")
    page.get_by_label("E-mail").fill("ann at example.com")
    page.get_by_label("Tags").fill("vip, plumbing")
    page.get_by_label("Name of custom field 1").fill("plan")
    page.get_by_label("Value of custom field 1").fill("gold")
    page.get_by_role("button", name="Save contact").click()
    assert "is not an e-mail address" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Last name").input_value() == "Lee-Smith"
    assert page.get_by_label("Tags").input_value() == "vip, plumbing"
    assert page.get_by_label("Value of custom field 1").input_value() == "gold"

    page.get_by_label("E-mail").fill("ann@example.com")
    # A second custom field, added with the keyboard.
    page.get_by_role("button", name="Add a field").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Name of custom field 3"
    page.keyboard.type("since")
    page.get_by_label("Value of custom field 3").fill("2019")
    page.get_by_role("button", name="Save contact").click()
    page.wait_for_url(re.compile(r"done=saved"))
    assert page.get_by_role("status").inner_text() == "The contact is saved."
    row = db.execute(
        "select last_name, email, tags, custom_fields from public.contacts where workspace_id = %s",
        (personal_workspace(db, email),),
    ).fetchone()
    assert row == {
        "last_name": "Lee-Smith",
        "email": "ann@example.com",
        "tags": ["vip", "plumbing"],
        "custom_fields": {"plan": "gold", "since": "2019"},
    }

    # Removing a custom field row (with its button) removes the field.
    page.get_by_role("button", name="Remove custom field 1").click()
    page.get_by_role("button", name="Save contact").click()
    page.wait_for_url(re.compile(r"done=saved"))
    assert page.get_by_label("Name of custom field 1").input_value() == "since"

    # Found by name, by number (any formatting) and by tag; not by something else.
    add_contact(page, web, "+1 202 555 0143", "Bob", "Stone")
    for query in ("lee-sm", "555-0101", "plumb"):
        page.goto(web.url("/contacts"))
        page.get_by_label("Search name, number or tag").fill(query)
        page.get_by_role("button", name="Search").click()
        assert page.get_by_role("link", name="Ann Lee-Smith").is_visible(), query
        assert page.get_by_role("link", name="Bob Stone").count() == 0, query
    page.get_by_role("link", name="plumbing").click()
    assert page.get_by_text("Showing contacts tagged plumbing").is_visible()
    assert page.get_by_role("link", name="Ann Lee-Smith").is_visible()
    assert url.endswith(page.get_by_role("link", name="Ann Lee-Smith").get_attribute("href"))


def test_the_list_pages(web, page, db):
    email = signed_up(page, web, "paging")
    workspace = personal_workspace(db, email)
    db.execute(
        "insert into public.contacts (workspace_id, phone_e164, first_name) "
        "select %s, '+1415555' || lpad(n::text, 4, '0'), 'Person ' || lpad(n::text, 3, '0') "
        "from generate_series(1, 60) n",
        (workspace,),
    )
    page.goto(web.url("/contacts"))
    assert page.locator("table.contacts tbody tr").count() == 50
    assert page.get_by_role("link", name="Person 001").is_visible()
    page.get_by_role("link", name="Next page").click()
    assert page.locator("table.contacts tbody tr").count() == 10
    assert page.get_by_role("link", name="Person 060").is_visible()
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="Previous page").click()
    assert page.get_by_role("link", name="Person 050").is_visible()


def test_lists_and_opt_out_state_with_its_history(web, page, db):
    email = signed_up(page, web, "lists")
    add_contact(page, web, "+14155550177", "Dee")

    page.get_by_label("New list").fill("Newsletter")
    page.get_by_role("button", name="Create the list and add").click()
    page.wait_for_url(re.compile(r"done=list_created"))
    assert page.locator("ul.lists").inner_text().startswith("Newsletter")
    # The same name again is refused in words, the name kept.
    page.get_by_label("New list").fill("Newsletter")
    page.get_by_role("button", name="Create the list and add").click()
    assert "There is already a list called “Newsletter”" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("New list").input_value() == "Newsletter"

    page.get_by_role("button", name="Remove from Newsletter").click()
    page.wait_for_url(re.compile(r"done=unlisted"))
    assert page.get_by_text("Not on any list.").is_visible()
    page.get_by_label("Add to a list").select_option(label="Newsletter")
    page.get_by_role("button", name="Add to list").click()
    page.wait_for_url(re.compile(r"done=listed"))
    assert page.locator("ul.lists").inner_text().startswith("Newsletter")

    # A member's opt-out: marked, shown with its source and time, lifted again.
    page.get_by_role("button", name="Mark as opted out").click()
    page.wait_for_url(re.compile(r"done=opted_out"))
    assert re.search(
        r"Opted out since \d+ \w+ \d{4} at \d\d:\d\d UTC: a member marked them",
        page.locator("#opt-out-state").inner_text(),
    )
    page.get_by_role("button", name="Lift the opt-out").click()
    page.wait_for_url(re.compile(r"done=opted_in"))
    assert page.locator("#opt-out-state").inner_text().startswith("Not opted out")

    # The person's own STOP: no member lifts it; the owner records their renewed consent.
    workspace = personal_workspace(db, email)
    db.execute("select private.record_opt_out(%s, '+14155550177', 'keyword:STOP')", (workspace,))
    page.reload()
    assert "they texted STOP" in page.locator("#opt-out-state").inner_text()
    assert page.get_by_role("button", name="Lift the opt-out", exact=True).count() == 0
    page.get_by_label("How and when they agreed again").fill("Signed the paper form at the counter, 3 May")
    page.get_by_role("button", name="Record consent and lift the opt-out").click()
    page.wait_for_url(re.compile(r"done=consent"))
    history = page.get_by_role("table", name="Opt-out history").inner_text()
    assert "An admin recorded their renewed consent: “Signed the paper form at the counter, 3 May”" in history
    assert "They texted STOP" in history and "A member marked them" in history
    assert history.count("Opted out") == 2 and history.count("Opted in again") == 2


def test_another_workspaces_contact_is_not_found(web, page, db):
    signed_up(page, web, "owner")
    url = add_contact(page, web, "+14155550188", "Secret", "Customer")
    contact_id = url.rsplit("/", 1)[1]
    page.context.clear_cookies()

    signed_up(page, web, "stranger")
    response = page.goto(url)
    assert response.status == 404
    assert "belongs to a workspace you are not a member of" in page.get_by_role("alert").inner_text()
    page.goto(web.url("/contacts"))
    assert page.get_by_role("link", name="Secret Customer").count() == 0
    # Nor can its forms be used: a POST with this browser's own CSRF token is a 404 too.
    for path in ("", "/opt-out", "/lists"):
        answer = page.request.post(
            web.url(f"/contacts/{contact_id}{path}"),
            form={
                "csrf_token": page.locator('meta[name="csrf-token"]').get_attribute("content"),
                "first_name": "Hacked",
                "action": "create",
                "name": "x",
            },
        )
        assert answer.status == 404, path
    assert db.execute("select first_name from public.contacts where id = %s", (contact_id,)).fetchone() == {
        "first_name": "Secret"
    }


BAD_ROW_CSV = (
    "First name,Last name,Handy,Plan,Tags\r\n"
    "Ann,Lee,(415) 555-0111,gold,vip\r\n"
    "Bad,Number,12,silver,\r\n"
    'Cy,"Tan, Jr.",+1 202 555 0111,"multi\nline",vip;new\r\n'
    "Dot,Ray,415-555-0112,,\r\n"
)


def test_import_a_csv_with_a_bad_row_reports_it_and_offers_it_as_a_download(web, page, db, monkeypatch, tmp_path):
    email = signed_up(page, web, "importer")
    workspace = personal_workspace(db, email)
    db.execute("insert into public.contact_lists (workspace_id, name) values (%s, 'Spring fair')", (workspace,))
    # The import pauses after its first batch until the page has shown that batch's progress.
    shown = threading.Event()
    real_commit = contacts_api._Import.commit

    def commit_then_wait(self, *, finish: bool = False):
        real_commit(self, finish=finish)
        if not finish:
            shown.wait(30)

    monkeypatch.setattr(contacts_api, "BATCH_ROWS", 2)
    monkeypatch.setattr(contacts_api._Import, "commit", commit_then_wait)

    path = tmp_path / "fair.csv"
    path.write_bytes(BAD_ROW_CSV.encode("utf-8"))
    page.goto(web.url("/contacts/import"))
    page.get_by_label("CSV file").set_input_files(str(path))
    # The preview: no column is recognised as the phone, and the page says so; the person chooses it.
    expect(page.get_by_role("table", name="What each column becomes")).to_be_visible()
    assert "No column looks like a phone number" in page.locator("#import-preview").inner_text()
    assert page.get_by_label("Import the column First name as").input_value() == "first_name"
    assert page.get_by_label("Import the column Plan as").input_value() == "custom.plan"
    assert "(415) 555-0111" in page.locator("#import-preview").inner_text()
    page.get_by_label("Import the column Handy as").select_option("phone")
    page.get_by_label("Import the column Tags as").select_option("")  # ignored

    page.get_by_label("How did these people agree to be texted?").fill("Spring fair sign-up sheet")
    page.get_by_label("Also add everyone to a list").select_option(label="Spring fair")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-progress")).to_contain_text("Importing: 2 rows read so far", timeout=20000)
    shown.set()

    result = page.locator("#import-result")
    expect(result).to_contain_text("Import finished", timeout=20000)
    assert "4 rows read: 3 new contacts, 0 updated, 3 added to the list, 1 rejected." in result.inner_text()
    rejected = page.get_by_role("table", name="Rejected rows").inner_text()
    assert "3\tnot a valid phone number (read with default country US)" in rejected

    with page.expect_download() as info:
        page.get_by_role("button", name="Download the rejected rows (CSV)").click()
    content = info.value.path().read_bytes().decode("utf-8-sig")
    assert content == (
        "line,reason,First name,Last name,Handy,Plan,Tags\r\n"
        "3,not a valid phone number (read with default country US),Bad,Number,12,silver,\r\n"
    )

    rows = db.execute(
        "select c.phone_e164, c.last_name, c.tags, c.custom_fields, c.consent_source, "
        "       exists (select 1 from public.contact_list_members m where m.contact_id = c.id) as listed "
        "  from public.contacts c where c.workspace_id = %s order by c.phone_e164",
        (workspace,),
    ).fetchall()
    assert rows == [
        {
            "phone_e164": "+12025550111",
            "last_name": "Tan, Jr.",
            "tags": [],
            "custom_fields": {"plan": "multi\nline"},
            "consent_source": "Spring fair sign-up sheet",
            "listed": True,
        },
        {
            "phone_e164": "+14155550111",
            "last_name": "Lee",
            "tags": [],
            "custom_fields": {"plan": "gold"},
            "consent_source": "Spring fair sign-up sheet",
            "listed": True,
        },
        {
            "phone_e164": "+14155550112",
            "last_name": "Ray",
            "tags": [],
            "custom_fields": {},
            "consent_source": "Spring fair sign-up sheet",
            "listed": True,
        },
    ]


def test_an_import_that_cannot_run_says_why_and_keeps_the_form(web, page, tmp_path):
    signed_up(page, web, "refused")
    path = tmp_path / "no-phone.csv"
    path.write_text("Name,City\r\nAnn,Leeds\r\n")
    page.goto(web.url("/contacts/import"))
    page.get_by_label("CSV file").set_input_files(str(path))
    expect(page.locator("#import-preview")).to_contain_text("No column looks like a phone number")
    page.get_by_label("How did these people agree to be texted?").fill("Paper forms")
    page.get_by_role("button", name="Import").click()
    alert = page.locator("#import-error")
    expect(alert).to_contain_text("No column is set to be the phone number.")
    assert page.get_by_label("How did these people agree to be texted?").input_value() == "Paper forms"
    # The refusal is the answer to the page's own request, in words on the page: not a console error.
    page.console_errors[:] = [
        e for e in page.console_errors if not ("status of 422" in e and "/contacts/import/upload" in e)
    ]


def test_without_javascript_the_import_is_a_plain_form_and_its_outcome_a_page(web, chromium, tmp_path):
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        signed_up(page, web, "nojs")
        path = tmp_path / "plain.csv"
        path.write_text("Phone,First name\r\n+14155550131,Ann\r\nnope,Bad\r\n")
        page.goto(web.url("/contacts/import"))
        page.get_by_label("CSV file").set_input_files(str(path))
        page.get_by_label("How did these people agree to be texted?").fill("Counter sign-up")
        page.get_by_role("button", name="Import").click()
        assert page.get_by_role("heading", name="Import finished").is_visible()
        assert page.get_by_role("status").inner_text() == "2 rows read: 1 new contact, 0 updated, 1 rejected."
        assert "3\tnot a valid phone number" in page.get_by_role("table", name="Rejected rows").inner_text()
    finally:
        context.close()
