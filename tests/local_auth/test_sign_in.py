"""Sign-up, sign-in, tokens, refresh and sign-out through the `supabase` client, as the web app calls them."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests
from supabase import AuthApiError, AuthWeakPasswordError

from numeraloop.auth import TokenVerifier
from numeraloop.config import Config
from numeraloop.errors import ApiError
from tests.support.tokens import TEST_JWT_SECRET

from .conftest import ANON_KEY, PASSWORD, new_client


def sign_up(server, email, password=PASSWORD, **data):
    client = new_client(server)
    return client, client.auth.sign_up({"email": email, "password": password, "options": {"data": data}})


def verifier_for(server) -> TokenVerifier:
    """The service's own verifier, configured as the service would be against this stand-in."""
    base = Config.from_env(env={})
    if server.state.settings.signing == "ES256":
        return TokenVerifier(
            dataclasses.replace(base, supabase_jwks_url=server.jwks_url, jwt_algorithms=("ES256", "RS256"))
        )
    return TokenVerifier(dataclasses.replace(base, supabase_jwt_secret=TEST_JWT_SECRET, jwt_algorithms=("HS256",)))


def test_sign_up_stores_a_gotrue_user_and_the_trigger_gives_a_profile_and_workspace(es256_standin, email, db):
    _, res = sign_up(es256_standin, email, full_name="Ada Lovelace")

    assert res.session is not None, "autoconfirm is on by default, so sign-up signs in"
    assert res.user.email == email and res.user.email_confirmed_at is not None
    assert res.user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert res.user.user_metadata["full_name"] == "Ada Lovelace"
    assert [i.provider for i in res.user.identities] == ["email"]
    row = db.execute(
        "select encrypted_password, aud, role, instance_id::text from auth.users where id = %s", (res.user.id,)
    ).fetchone()
    assert row["encrypted_password"].startswith("$2a$10$"), "bcrypt as GoTrue stores it: $2a$, cost 10"
    assert (row["aud"], row["role"]) == ("authenticated", "authenticated")
    assert row["instance_id"] == "00000000-0000-0000-0000-000000000000"
    profile = db.execute("select email, full_name from public.profiles where id = %s", (res.user.id,)).fetchone()
    assert profile == {"email": email, "full_name": "Ada Lovelace"}
    owner = db.execute(
        "select w.is_personal, m.role from public.workspaces w join public.workspace_members m "
        "on m.workspace_id = w.id where m.user_id = %s",
        (res.user.id,),
    ).fetchall()
    assert owner == [{"is_personal": True, "role": "owner"}]


def test_access_tokens_carry_gotrue_claims_and_the_service_accepts_them(standin, email):
    sign_up(standin, email)
    client = new_client(standin)
    res = client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    session = res.session
    assert session.token_type == "bearer" and session.expires_in > 3500
    assert session.expires_at == jwt.decode(session.access_token, options={"verify_signature": False})["exp"]

    claims = verifier_for(standin).verify(session.access_token)

    assert claims["iss"] == f"{standin.url}/auth/v1"
    assert claims["sub"] == res.user.id
    assert (claims["aud"], claims["role"], claims["email"], claims["phone"]) == (
        "authenticated",
        "authenticated",
        email,
        "",
    )
    assert claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert claims["user_metadata"]["email_verified"] is True
    assert claims["aal"] == "aal1" and [a["method"] for a in claims["amr"]] == ["password"]
    assert claims["is_anonymous"] is False and claims["session_id"]
    assert claims["exp"] - claims["iat"] == 3600
    header = jwt.get_unverified_header(session.access_token)
    if standin.state.settings.signing == "ES256":
        keys = requests.get(standin.jwks_url, timeout=5).json()["keys"]  # open, as Supabase's is: no apikey
        assert header["alg"] == "ES256" and [k["kid"] for k in keys] == [header["kid"]]
        assert (keys[0]["kty"], keys[0]["crv"]) == ("EC", "P-256")
    else:
        assert header["alg"] == "HS256" and "kid" not in header


def test_a_token_is_refused_by_a_service_expecting_the_other_signing(es256_standin, hs256_standin, email):
    _, es = sign_up(es256_standin, email)
    with pytest.raises(ApiError) as refused:
        verifier_for(hs256_standin).verify(es.session.access_token)
    assert refused.value.status == 401


def test_the_client_reads_the_user_back_and_updates_its_metadata(standin, email):
    client, res = sign_up(standin, email, full_name="Grace")
    assert client.auth.get_user().user.id == res.user.id
    assert new_client(standin).auth.get_user(res.session.access_token).user.email == email

    updated = client.auth.update_user({"data": {"full_name": "Grace Hopper", "theme": "dark"}}).user

    assert updated.user_metadata["full_name"] == "Grace Hopper" and updated.user_metadata["theme"] == "dark"
    assert client.auth.get_user().user.user_metadata["theme"] == "dark"


def test_sign_up_with_a_registered_address_is_gotrues_user_already_exists(standin, email):
    sign_up(standin, email)
    with pytest.raises(AuthApiError) as err:
        sign_up(standin, email.upper())
    assert (err.value.status, err.value.code, err.value.message) == (
        422,
        "user_already_exists",
        "User already registered",
    )


def test_a_short_password_is_gotrues_weak_password(standin, email, db):
    with pytest.raises(AuthWeakPasswordError) as err:
        sign_up(standin, email, password="1234567")
    assert (err.value.status, err.value.code, err.value.reasons) == (422, "weak_password", ["length"])
    assert err.value.message == "Password should be at least 8 characters."
    assert db.execute("select 1 from auth.users where email = %s", (email,)).fetchone() is None


@pytest.mark.parametrize("password", ["wrong password", ""])
def test_a_wrong_password_or_unknown_address_is_invalid_credentials(standin, email, password):
    sign_up(standin, email)
    for who, secret in ((email, password or "x"), ("nobody-" + email, PASSWORD)):
        with pytest.raises(AuthApiError) as err:
            new_client(standin).auth.sign_in_with_password({"email": who, "password": secret})
        assert (err.value.status, err.value.code, err.value.message) == (
            400,
            "invalid_credentials",
            "Invalid login credentials",
        )


def test_signing_in_records_the_last_sign_in_on_the_profile(es256_standin, email, db):
    sign_up(es256_standin, email)
    user = new_client(es256_standin).auth.sign_in_with_password({"email": email, "password": PASSWORD}).user
    row = db.execute("select last_login_at from public.profiles where id = %s", (user.id,)).fetchone()
    assert row["last_login_at"] == user.last_sign_in_at


def test_refresh_tokens_rotate_and_reuse_of_a_spent_one_ends_the_session(standin, email):
    _, res = sign_up(standin, email)
    first = res.session.refresh_token

    second = new_client(standin).auth.refresh_session(first).session
    assert second.refresh_token != first
    assert (
        verifier_for(standin).verify(second.access_token)["session_id"]
        == verifier_for(standin).verify(res.session.access_token)["session_id"]
    )

    # GoTrue's allowance for a client that lost the answer: the token just replaced gives the current one back.
    again = new_client(standin).auth.refresh_session(first).session
    assert again.refresh_token == second.refresh_token

    third = new_client(standin).auth.refresh_session(second.refresh_token).session
    with pytest.raises(AuthApiError) as reused:
        new_client(standin).auth.refresh_session(first)
    assert (reused.value.status, reused.value.code) == (400, "refresh_token_already_used")

    # Reuse of an older token means it leaked: the whole session is gone, its newest token too.
    with pytest.raises(AuthApiError) as gone:
        new_client(standin).auth.refresh_session(third.refresh_token)
    assert (gone.value.status, gone.value.code) == (400, "refresh_token_not_found")
    with pytest.raises(AuthApiError) as ended:
        new_client(standin).auth.get_user(third.access_token)
    assert (ended.value.status, ended.value.code) == (403, "session_not_found")


def test_within_the_reuse_interval_a_spent_token_still_refreshes(start_standin, email):
    with start_standin("HS256", refresh_token_reuse_interval=3600) as server:
        _, res = sign_up(server, email)
        first = res.session.refresh_token
        second = new_client(server).auth.refresh_session(first).session
        new_client(server).auth.refresh_session(second.refresh_token)
        assert new_client(server).auth.refresh_session(first).session.refresh_token not in (first, second.refresh_token)


def test_a_made_up_refresh_token_is_refused(standin):
    for token, code in (("abcdefghijkl", "refresh_token_not_found"), ("not a token", "validation_failed")):
        with pytest.raises(AuthApiError) as err:
            new_client(standin).auth.refresh_session(token)
        assert (err.value.status, err.value.code) == (400, code)


def test_sign_out_revokes_every_session_of_the_user(standin, email):
    client, res = sign_up(standin, email)
    other = new_client(standin).auth.sign_in_with_password({"email": email, "password": PASSWORD}).session

    client.auth.sign_out()

    for session in (res.session, other):
        with pytest.raises(AuthApiError) as err:
            new_client(standin).auth.refresh_session(session.refresh_token)
        assert (err.value.status, err.value.code) == (400, "refresh_token_not_found")
        with pytest.raises(AuthApiError) as err:
            new_client(standin).auth.get_user(session.access_token)
        assert (err.value.status, err.value.code) == (403, "session_not_found")
    assert client.auth.get_session() is None


def test_a_local_sign_out_ends_only_that_session(standin, email):
    client, _ = sign_up(standin, email)
    other = new_client(standin)
    other.auth.sign_in_with_password({"email": email, "password": PASSWORD})

    client.auth.sign_out({"scope": "local"})

    assert other.auth.refresh_session().session is not None
    assert other.auth.get_user().user.email == email


def test_a_set_session_from_stored_tokens_signs_the_client_in(standin, email):
    _, res = sign_up(standin, email)
    restored = new_client(standin)
    restored.auth.set_session(res.session.access_token, res.session.refresh_token)
    assert restored.auth.get_user().user.id == res.user.id


def test_every_call_needs_the_projects_apikey(standin, email):
    url = f"{standin.url}/auth/v1"
    missing = requests.post(f"{url}/token?grant_type=password", json={"email": email, "password": PASSWORD}, timeout=5)
    assert missing.status_code == 401 and missing.json()["message"] == "No API key found in request"
    wrong = requests.get(f"{url}/settings", headers={"apikey": "sb_publishable_someone_else"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["message"] == "Invalid API key"
    assert requests.get(f"{url}/settings?apikey={ANON_KEY}", timeout=5).json()["external"]["email"] is True

    with pytest.raises(AuthApiError) as err:
        new_client(standin, key="sb_publishable_someone_else").auth.sign_up({"email": email, "password": PASSWORD})
    assert err.value.status == 401


def test_without_the_api_version_header_errors_keep_gotrues_first_shape(es256_standin, email):
    r = requests.post(
        f"{es256_standin.url}/auth/v1/token?grant_type=password",
        headers={"apikey": ANON_KEY},
        json={"email": email, "password": PASSWORD},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json() == {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}
    assert "X-Supabase-Api-Version" not in r.headers


@pytest.mark.parametrize(
    "request_",
    [
        ("post", "/signup", b"{not json"),
        ("post", "/token?grant_type=password", b"[]"),
        ("post", "/token?grant_type=magic", b"{}"),
        ("get", "/user", None),
        ("get", "/nowhere", None),
    ],
)
def test_bad_requests_get_gotrue_errors_never_a_crash(es256_standin, request_):
    method, path, data = request_
    r = requests.request(
        method,
        f"{es256_standin.url}/auth/v1{path}",
        data=data,
        timeout=5,
        headers={"apikey": ANON_KEY, "X-Supabase-Api-Version": "2024-01-01", "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) == {"code", "message"} and r.headers["X-Supabase-Api-Version"] == "2024-01-01"


def test_a_tampered_access_token_is_refused_by_the_standin(standin, email):
    _, res = sign_up(standin, email)
    head, body, signature = res.session.access_token.split(".")
    forged = jwt.encode(
        {**jwt.decode(res.session.access_token, options={"verify_signature": False}), "role": "service_role"},
        "some-other-secret-that-is-long-enough-0123456789",
        algorithm="HS256",
    )
    for token in (f"{head}.{body}.{signature[::-1]}", forged):
        with pytest.raises(AuthApiError) as err:
            new_client(standin).auth.get_user(token)
        assert (err.value.status, err.value.code) == (403, "bad_jwt")


def test_concurrent_sign_ups_of_one_address_make_one_user_and_refuse_the_rest(es256_standin, email, db):
    def attempt(_):
        try:
            return new_client(es256_standin).auth.sign_up({"email": email, "password": PASSWORD}).user.id
        except AuthApiError as exc:
            return (exc.status, exc.code)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(attempt, range(4)))

    created = [o for o in outcomes if isinstance(o, str)]
    assert len(created) == 1 and [o for o in outcomes if o not in created] == [(422, "user_already_exists")] * 3
    assert db.execute("select count(*) as n from auth.users where email = %s", (email,)).fetchone()["n"] == 1
