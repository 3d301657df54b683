"""The SMTP catcher: what arrives over SMTP is listed, read and deleted through its JSON API."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
import requests

from numeraloop_local.smtp_catcher import CatcherClient, CatcherServer


@pytest.fixture
def fresh():
    with CatcherServer() as server:
        yield server, CatcherClient(server.url)


def send(server, to, subject="Hello", text="Plain words", html=None, login=None):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "NumeraLoop <noreply@numeraloop.localhost>", to, subject
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    with smtplib.SMTP(server.smtp.host, server.smtp.port, timeout=5) as smtp:
        if login:
            smtp.login(*login)
        smtp.send_message(msg)


def test_a_message_is_listed_newest_first_and_read_whole(fresh):
    server, client = fresh
    send(server, "ada@example.test", subject="First")
    send(server, "grace@example.test", subject="Second", html="<p>Rich <b>words</b></p>")

    listed = client.messages()
    assert [m["subject"] for m in listed] == ["Second", "First"]
    assert [m["subject"] for m in client.messages(to="ADA@example.test")] == ["First"]
    full = client.message(listed[0]["id"])
    assert full["to"] == ["grace@example.test"] and full["envelope"]["to"] == ["grace@example.test"]
    assert full["text"].strip() == "Plain words" and "<b>words</b>" in full["html"]
    raw = requests.get(f"{server.url}/api/messages/{full['id']}/raw", timeout=5)
    assert raw.headers["Content-Type"] == "message/rfc822" and b"Subject: Second" in raw.content


def test_any_credentials_are_accepted_so_any_smtp_url_lands_here(fresh):
    server, client = fresh
    send(server, "ada@example.test", login=("someone", "anything"))
    assert len(client.messages()) == 1


def test_messages_are_deleted_one_or_all(fresh):
    server, client = fresh
    send(server, "ada@example.test")
    send(server, "ada@example.test")
    first = client.messages()[-1]["id"]
    assert requests.delete(f"{server.url}/api/messages/{first}", timeout=5).status_code == 204
    assert len(client.messages()) == 1
    client.clear()
    assert client.messages() == []


def test_unknown_messages_and_bad_queries_are_json_errors(fresh):
    server, _ = fresh
    missing = requests.get(f"{server.url}/api/messages/999", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad = requests.get(f"{server.url}/api/messages?limit=none", timeout=5)
    assert bad.status_code == 400 and set(bad.json()["error"]) == {"code", "message"}
    assert requests.get(f"{server.url}/api/nothing", timeout=5).json()["error"]["code"] == "not_found"


def test_people_read_the_mail_on_html_pages(fresh):
    server, client = fresh
    send(server, "ada@example.test", subject="Reset <your> password", html="<p><a href='x'>Reset</a></p>")
    index = requests.get(server.url, timeout=5).text
    assert "Reset &lt;your&gt; password" in index
    page = requests.get(f"{server.url}/messages/{client.messages()[0]['id']}", timeout=5).text
    assert "<iframe sandbox" in page and "Plain words" in page


def test_waiting_for_a_message_that_never_comes_times_out(fresh):
    _, client = fresh
    with pytest.raises(TimeoutError):
        client.wait_for(to="nobody@example.test", timeout=0.2)
