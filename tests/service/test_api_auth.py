"""/api/v1 accepts only valid Supabase access tokens, and works as the caller under RLS."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from numeraloop.app import create_app
from numeraloop.auth import TokenVerifier, expected_issuer
from numeraloop_local import demo_seed
from tests.support.database import add_member
from tests.support.live_server import serve
from tests.support.tokens import TEST_ISSUER, TEST_SUPABASE_URL, access_token
from tests.support.url_map import routes_under


def assert_401(response, code=None):
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code


def test_valid_token_sees_own_profile_and_workspaces(service, make_user, db):
    alice, bob = make_user("alice"), make_user("bob")
    add_member(db, alice.workspace_id, bob, "agent")
    r = service.get("/api/v1/me", user=bob)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["profile"]["id"] == bob.id
    assert {w["id"] for w in body["workspaces"]} == {bob.workspace_id, alice.workspace_id}
    assert {w["id"]: w["role"] for w in body["workspaces"]}[alice.workspace_id] == "agent"


def test_missing_token(service):
    assert_401(service.get("/api/v1/me"), "missing_token")
    assert_401(service.get("/api/v1/me", headers={"Authorization": "Basic abc"}), "missing_token")


def test_expired_token(service, make_user):
    user = make_user()
    assert_401(service.get("/api/v1/me", token=access_token(user.id, expires_in=-120)), "token_expired")


def test_token_signed_with_another_key(service, make_user):
    user = make_user()
    assert_401(
        service.get("/api/v1/me", token=access_token(user.id, secret="another-secret-key-0123456789-abcdefghijkl")),
        "invalid_token",
    )


def test_wrong_audience(service, make_user):
    user = make_user()
    assert_401(service.get("/api/v1/me", token=access_token(user.id, aud="someone-else")), "invalid_token")
    assert_401(service.get("/api/v1/me", token=access_token(user.id, aud=None)), "invalid_token")


def test_alg_none(service, make_user):
    user = make_user()
    now = int(time.time())
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(
        json.dumps({"sub": user.id, "aud": "authenticated", "role": "authenticated", "exp": now + 600}).encode()
    ).rstrip(b"=")
    assert_401(service.get("/api/v1/me", token=f"{header.decode()}.{payload.decode()}."), "invalid_token")


def test_missing_sub_and_anon_role(service):
    now = int(time.time())
    from tests.support.tokens import TEST_JWT_SECRET

    no_sub = jwt.encode({"aud": "authenticated", "exp": now + 600}, TEST_JWT_SECRET, algorithm="HS256")
    assert_401(service.get("/api/v1/me", token=no_sub), "invalid_token")
    assert_401(service.get("/api/v1/me", token="not.a.jwt"), "invalid_token")


def test_anon_key_is_not_a_user(service):
    from tests.support.tokens import TEST_ISSUER, TEST_JWT_SECRET

    anon = jwt.encode(
        {"role": "anon", "aud": "authenticated", "sub": "anon", "exp": int(time.time()) + 600, "iss": TEST_ISSUER},
        TEST_JWT_SECRET,
        algorithm="HS256",
    )
    assert_401(service.get("/api/v1/me", token=anon), "anonymous_user")


@pytest.mark.parametrize(
    "claims",
    [{"is_anonymous": True}, {"is_anonymous": "true"}, {"role": "anon"}, {"is_anonymous": True, "role": "anon"}],
)
def test_anonymous_sign_ins_are_refused_with_their_own_code(service, make_user, claims):
    """GoTrue's anonymous sign-ins carry role authenticated and is_anonymous: true; neither is a user here."""
    user = make_user()
    for path in ("/api/v1/me", f"/api/v1/billing?workspace_id={user.workspace_id}"):
        r = service.get(path, token=access_token(user.id, **claims))
        assert_401(r, "anonymous_user")
        assert "anonymous" in r.json()["error"]["message"].lower()
    assert service.get("/api/v1/me", token=access_token(user.id, is_anonymous=False)).status_code == 200


@pytest.mark.parametrize(
    "iss",
    [
        "https://another-project.supabase.co/auth/v1",
        TEST_SUPABASE_URL,
        TEST_SUPABASE_URL + "/auth/v1/",
        TEST_SUPABASE_URL.upper() + "/auth/v1",
        "supabase",
        "",
        None,
    ],
)
def test_tokens_not_issued_by_this_projects_auth_are_refused(service, make_user, iss):
    user = make_user()
    assert_401(service.get("/api/v1/me", token=access_token(user.id, iss=iss)), "invalid_token")


def test_the_issuer_is_supabase_urls_auth_endpoint(service_config, make_user):
    """SUPABASE_URL with or without a trailing slash gives <SUPABASE_URL>/auth/v1; without SUPABASE_URL, iss
    is not checked (a token without one is accepted)."""
    user = make_user()
    project = "https://abcdefghijklmnop.supabase.co"
    for supabase_url, iss, status in [
        (project, f"{project}/auth/v1", 200),
        (project + "/", f"{project}/auth/v1", 200),
        (project, TEST_ISSUER, 401),
        ("", None, 200),
        ("", "anything", 200),
    ]:
        app = create_app(dataclasses.replace(service_config, supabase_url=supabase_url))
        try:
            with serve(app) as base:
                r = requests.get(
                    base + "/api/v1/me",
                    timeout=10,
                    headers={"Authorization": f"Bearer {access_token(user.id, iss=iss)}"},
                )
                assert r.status_code == status, (supabase_url, iss, r.text)
        finally:
            app.extensions["numeraloop.pool"].close()


@pytest.fixture
def jwks_server():
    """A JWKS endpoint on loopback, as Supabase publishes one for asymmetric signing keys."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="test-key-1", alg="ES256", use="sig")
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = json.dumps({"keys": [jwk]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/auth/v1/.well-known/jwks.json", key, hits
    server.shutdown()


def test_jwks_es256_tokens_and_caching(service_config, jwks_server, make_user):
    url, key, hits = jwks_server
    user = make_user()
    config = dataclasses.replace(
        service_config, supabase_jwks_url=url, jwt_algorithms=("ES256", "RS256"), supabase_jwt_secret=""
    )
    app = create_app(config)
    try:
        with serve(app) as base:
            good = access_token(user.id, secret=key, algorithm="ES256", headers={"kid": "test-key-1"})
            for _ in range(3):
                r = requests.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {good}"}, timeout=10)
                assert r.status_code == 200, r.text
            assert len(hits) == 1, "the key set is fetched once and cached"

            other = ec.generate_private_key(ec.SECP256R1())
            forged = access_token(user.id, secret=other, algorithm="ES256", headers={"kid": "test-key-1"})
            assert_401(requests.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {forged}"}, timeout=10))

            # An HS256 token is refused outright: the configured algorithms do not include it.
            hs = access_token(user.id)
            assert_401(requests.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {hs}"}, timeout=10))
    finally:
        app.extensions["numeraloop.pool"].close()


@pytest.mark.parametrize("supabase_url", ["", "https://abcdefghijklmnop.supabase.co"])
def test_the_demo_token_make_dev_prints_passes_the_same_checks(service_config, supabase_url):
    config = dataclasses.replace(service_config, supabase_url=supabase_url)
    claims = TokenVerifier(config).verify(demo_seed.demo_access_token(config))
    assert claims["sub"] == demo_seed.DEMO_USER_ID and claims.get("iss") == expected_issuer(config)


# Public by design, registered outside the authenticated /api/v1 surface (numeraloop/blueprints.py).
PUBLIC_API_ENDPOINTS = {"api_description.openapi_json"}


def test_every_api_route_and_method_needs_a_token(service, make_user):
    """Walks the app's url_map (every method, HEAD and OPTIONS included), so a route added later cannot be
    reachable without a token."""
    public = {
        rule.endpoint: rule.methods
        for rule in service.app.url_map.iter_rules()
        if rule.endpoint in PUBLIC_API_ENDPOINTS
    }
    assert set(public) == PUBLIC_API_ENDPOINTS, "a public endpoint is gone: drop it from PUBLIC_API_ENDPOINTS"
    assert all(methods <= {"GET", "HEAD", "OPTIONS"} for methods in public.values()), "public routes stay read-only"
    user = make_user()
    routes = routes_under(service.app, "/api/v1/", skip_methods=(), skip_endpoints=PUBLIC_API_ENDPOINTS)
    assert len(routes) > 20, routes
    for path, method in routes:
        for headers in (
            {},
            {"Authorization": "Basic YWRtaW46YWRtaW4="},
            {"Authorization": "Bearer "},
            {"X-Workspace-Id": user.workspace_id},
        ):
            r = service.request(method, path, headers=headers, json={"workspace_id": user.workspace_id})
            assert r.status_code == 401, f"{method} {path} {headers}: {r.status_code} {r.text}"
            if method != "HEAD":
                assert r.json()["error"]["code"] == "missing_token", f"{method} {path}"
