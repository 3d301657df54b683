"""Password recovery, e-mail change and sign-up confirmation: mail through the SMTP catcher, then
the client's verify_otp / update_user / exchange_code_for_session, as the web app calls them."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from supabase import AuthApiError, AuthWeakPasswordError
from supabase_auth import SyncGoTrueClient

from .conftest import ANON_KEY, PASSWORD, SITE_URL, new_client

NEW_PASSWORD = "a much better passphrase"


def signed_up(server, email):
    client = new_client(server)
    client.auth.sign_up({"email": email, "password": PASSWORD})
    return client


def code_in(message: dict) -> str:
    return re.search(r"enter this code: (\d{6})", message["text"])[1]


def link_in(message: dict) -> str:
    return re.search(r'href="([^"]+)"', message["html"])[1].replace("&amp;", "&")


def test_password_recovery_mails_a_code_that_signs_in_to_set_a_new_password(standin, mail, email, db):
    signed_up(standin, email)
    browser = new_client(standin)
    browser.auth.reset_password_for_email(email, {"redirect_to": f"{SITE_URL}/reset-password"})

    message = mail.wait_for(to=email, subject="Reset your password")
    assert message["to"] == [email] and message["envelope"]["to"] == [email]
    link = urlsplit(link_in(message))
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{standin.url}/auth/v1/verify"
    assert parse_qs(link.query)["type"] == ["recovery"]
    assert parse_qs(link.query)["redirect_to"] == [f"{SITE_URL}/reset-password"]

    res = browser.auth.verify_otp({"email": email, "token": code_in(message), "type": "recovery"})
    assert res.session is not None and res.user.email == email
    assert [a["method"] for a in browser.auth.get_claims()["claims"]["amr"]] == ["otp"]

    browser.auth.update_user({"password": NEW_PASSWORD})

    assert new_client(standin).auth.sign_in_with_password({"email": email, "password": NEW_PASSWORD}).session
    with pytest.raises(AuthApiError) as old:
        new_client(standin).auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert old.value.code == "invalid_credentials"
    with pytest.raises(AuthApiError) as spent:
        new_client(standin).auth.verify_otp({"email": email, "token": code_in(message), "type": "recovery"})
    assert (spent.value.status, spent.value.code) == (403, "otp_expired")
    assert db.execute("select recovery_token from auth.users where email = %s", (email,)).fetchone() == {
        "recovery_token": ""
    }


def test_the_token_hash_of_the_link_verifies_as_well(es256_standin, mail, email):
    signed_up(es256_standin, email)
    new_client(es256_standin, flow_type="implicit").auth.reset_password_for_email(email)
    token_hash = parse_qs(urlsplit(link_in(mail.wait_for(to=email))).query)["token"][0]

    res = new_client(es256_standin).auth.verify_otp({"token_hash": token_hash, "type": "recovery"})

    assert res.user.email == email and res.session.refresh_token


def test_changing_the_password_signs_out_the_other_sessions_only(es256_standin, email):
    here = signed_up(es256_standin, email)
    elsewhere = new_client(es256_standin)
    elsewhere.auth.sign_in_with_password({"email": email, "password": PASSWORD})

    here.auth.update_user({"password": NEW_PASSWORD})

    assert here.auth.refresh_session().session is not None
    with pytest.raises(AuthApiError) as err:
        elsewhere.auth.refresh_session()
    assert err.value.code == "refresh_token_not_found"


def test_a_new_password_is_checked_like_a_sign_up_one(es256_standin, email):
    client = signed_up(es256_standin, email)
    with pytest.raises(AuthWeakPasswordError) as weak:
        client.auth.update_user({"password": "short"})
    assert (weak.value.status, weak.value.code) == (422, "weak_password")
    with pytest.raises(AuthApiError) as same:
        client.auth.update_user({"password": PASSWORD})
    assert (same.value.status, same.value.code) == (422, "same_password")


def test_recovery_for_an_unknown_address_answers_the_same_and_sends_nothing(es256_standin, mail):
    nobody = "nobody-at-all@example.test"
    new_client(es256_standin).auth.reset_password_for_email(nobody)
    assert mail.messages(to=nobody) == []


def test_recovery_mails_are_rate_limited_per_user(start_standin, mail, email):
    with start_standin("ES256", max_frequency=60) as server:
        signed_up(server, email)
        new_client(server).auth.reset_password_for_email(email)
        with pytest.raises(AuthApiError) as err:
            new_client(server).auth.reset_password_for_email(email)
        assert (err.value.status, err.value.code) == (429, "over_email_send_rate_limit")
        assert len(mail.messages(to=email)) == 1


def test_following_the_link_redirects_with_a_session_in_the_fragment(es256_standin, mail, email):
    signed_up(es256_standin, email)
    new_client(es256_standin, flow_type="implicit").auth.reset_password_for_email(
        email, {"redirect_to": f"{SITE_URL}/reset-password"}
    )
    link = link_in(mail.wait_for(to=email))

    r = requests.get(link, allow_redirects=False, timeout=5)  # a browser has no apikey to send

    assert r.status_code == 303
    target = urlsplit(r.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{SITE_URL}/reset-password"
    fragment = parse_qs(target.fragment)
    assert fragment["type"] == ["recovery"] and fragment["token_type"] == ["bearer"]
    restored = new_client(es256_standin)
    restored.auth.set_session(fragment["access_token"][0], fragment["refresh_token"][0])
    assert restored.auth.get_user().user.email == email

    again = urlsplit(requests.get(link, allow_redirects=False, timeout=5).headers["Location"])
    assert parse_qs(again.fragment)["error_code"] == ["otp_expired"]


def test_with_pkce_the_link_redirects_with_a_code_the_same_client_exchanges(es256_standin, mail, email):
    signed_up(es256_standin, email)
    browser = new_client(es256_standin)  # create_client's default flow is PKCE
    browser.auth.reset_password_for_email(email, {"redirect_to": f"{SITE_URL}/reset-password"})
    link = link_in(mail.wait_for(to=email))
    assert parse_qs(urlsplit(link).query)["token"][0].startswith("pkce_")

    location = urlsplit(requests.get(link, allow_redirects=False, timeout=5).headers["Location"])
    code = parse_qs(location.query)["code"][0]

    res = browser.auth.exchange_code_for_session({"auth_code": code})
    assert res.user.email == email
    with pytest.raises(AuthApiError) as wrong:
        new_client(es256_standin).auth.exchange_code_for_session({"auth_code": code, "code_verifier": "x" * 43})
    assert wrong.value.code == "flow_state_not_found"


def test_an_unlisted_redirect_falls_back_to_the_site(es256_standin, mail, email):
    signed_up(es256_standin, email)
    new_client(es256_standin).auth.reset_password_for_email(email, {"redirect_to": "https://evil.example/steal"})
    assert parse_qs(urlsplit(link_in(mail.wait_for(to=email))).query)["redirect_to"] == [SITE_URL]


def test_an_email_change_is_confirmed_from_the_new_address(standin, mail, email, db):
    client = signed_up(standin, email)
    new_address = "new-" + email

    pending = client.auth.update_user({"email": new_address}).user
    assert (pending.email, pending.new_email) == (email, new_address) and pending.email_change_sent_at
    message = mail.wait_for(to=new_address, subject="Confirm your new e-mail address")
    assert mail.messages(to=email) == [], "one confirmation, on the new address"

    res = client.auth.verify_otp({"email": new_address, "token": code_in(message), "type": "email_change"})

    assert res.user.email == new_address and res.user.new_email is None
    assert db.execute("select email from public.profiles where id = %s", (res.user.id,)).fetchone() == {
        "email": new_address
    }, "the profile follows auth.users"
    assert new_client(standin).auth.sign_in_with_password({"email": new_address, "password": PASSWORD}).session
    with pytest.raises(AuthApiError):
        new_client(standin).auth.sign_in_with_password({"email": email, "password": PASSWORD})


def test_an_email_change_to_a_taken_address_is_email_exists(es256_standin, email):
    signed_up(es256_standin, "taken-" + email)
    client = signed_up(es256_standin, email)
    with pytest.raises(AuthApiError) as err:
        client.auth.update_user({"email": "TAKEN-" + email})
    assert (err.value.status, err.value.code) == (422, "email_exists")


def test_with_confirmations_on_sign_up_waits_for_the_mailed_code(start_standin, mail, email):
    with start_standin("ES256", autoconfirm=False) as server:
        res = new_client(server).auth.sign_up({"email": email, "password": PASSWORD})
        assert res.session is None and res.user.confirmation_sent_at is not None
        with pytest.raises(AuthApiError) as err:
            new_client(server).auth.sign_in_with_password({"email": email, "password": PASSWORD})
        assert (err.value.status, err.value.code) == (400, "email_not_confirmed")
        message = mail.wait_for(to=email, subject="Confirm your e-mail address")

        confirmed = new_client(server).auth.verify_otp({"email": email, "token": code_in(message), "type": "signup"})

        assert confirmed.session is not None and confirmed.user.email_confirmed_at is not None
        assert new_client(server).auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
        # A second sign-up of a confirmed address reveals nothing and sends nothing.
        again = new_client(server).auth.sign_up({"email": email, "password": PASSWORD})
        assert again.session is None and again.user.id != confirmed.user.id
        assert len(mail.messages(to=email)) == 1


def test_project_templates_replace_the_built_in_mails(start_standin, mail, email):
    template = (
        "Your NumeraLoop code",
        '<p><a href="{{ .SiteURL }}/auth/confirm?token_hash={{ .TokenHash }}'
        '&type=recovery">Reset</a> or enter this code: {{ .Token }}</p>',
    )
    with start_standin("ES256", templates={"recovery": template}) as server:
        signed_up(server, email)
        new_client(server).auth.reset_password_for_email(email)
        message = mail.wait_for(to=email, subject="Your NumeraLoop code")
        link = urlsplit(link_in(message))
        assert f"{link.scheme}://{link.netloc}{link.path}" == f"{SITE_URL}/auth/confirm"
        token_hash = parse_qs(link.query)["token_hash"][0]
        assert new_client(server).auth.verify_otp({"token_hash": token_hash, "type": "recovery"}).user.email == email


def test_the_bare_gotrue_client_as_the_web_application_builds_it(standin, mail, email):
    """service/numeraloop/web/gotrue.py: SyncGoTrueClient, implicit flow, a new client per call."""

    def client():
        return SyncGoTrueClient(
            url=f"{standin.url}/auth/v1",
            auto_refresh_token=False,
            persist_session=False,
            headers={"apikey": ANON_KEY, "Authorization": f"Bearer {ANON_KEY}"},
        )

    client().sign_up({"email": email, "password": PASSWORD, "options": {"data": {"full_name": "Web"}}})
    session = client().sign_in_with_password({"email": email, "password": PASSWORD}).session
    session = client().refresh_session(session.refresh_token).session
    client().admin.sign_out(session.access_token, "local")
    with pytest.raises(AuthApiError) as ended:
        client().refresh_session(session.refresh_token)
    assert ended.value.code == "refresh_token_not_found"

    client().reset_password_for_email(email, {"redirect_to": f"{SITE_URL}/reset-password"})
    recovered = client().verify_otp({"email": email, "token": code_in(mail.wait_for(to=email)), "type": "recovery"})
    changer = client()
    changer.set_session(recovered.session.access_token, recovered.session.refresh_token)
    changer.update_user({"password": NEW_PASSWORD})
    assert client().sign_in_with_password({"email": email, "password": NEW_PASSWORD}).session
