"""Adults only: until a user confirms they are 18 or older, /api/v1 refuses them anything in a
workspace (403 age_confirmation_required) and leaves them their own account (/api/v1/me...)."""

from __future__ import annotations

import pytest

from numeraloop.api import PREFIX
from numeraloop.api.openapi import document
from numeraloop.privacy import age
from tests.support import database as dbsupport
from tests.support.url_map import PATH_PARAMETER, placeholder_path


@pytest.fixture
def minor_or_unconfirmed(db):
    return dbsupport.create_user(db, "unconfirmed", adult=False)


def test_an_unconfirmed_user_is_refused_every_workspace_route(service, minor_or_unconfirmed, db):
    user = minor_or_unconfirmed
    refused = []
    rules = [
        (rule, method)
        for rule in service.app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX + "/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    for rule, method in rules:
        template = rule.rule[len(PREFIX) :]
        if template == "/openapi.json" or age.is_account_level(template):
            continue
        path = placeholder_path(rule.rule)
        r = service.request(method, path, user=user, json={"workspace_id": user.workspace_id})
        assert r.status_code == 403, f"{method} {path}: {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == "age_confirmation_required", f"{method} {path}"
        refused.append(PATH_PARAMETER.sub(r"{\2}", template))
    assert {"/messages", "/numbers", "/campaigns/{campaign_id}/launch", "/billing"} <= set(refused)
    # Refused before anything happened: nothing in the workspace changed, and the refusal is logged.
    assert (
        db.execute(
            "select count(*) as n from public.messages where workspace_id = %s", (user.workspace_id,)
        ).fetchone()["n"]
        == 0
    )
    assert db.execute(
        "select count(*) as n from public.access_log where user_id = %s and status = 403", (user.id,)
    ).fetchone()["n"] == len(refused)


def test_their_own_account_stays_open_and_confirming_opens_the_rest(service, minor_or_unconfirmed):
    user = minor_or_unconfirmed
    me = service.get("/api/v1/me", user=user)
    assert me.status_code == 200 and me.json()["profile"]["age_confirmed_at"] is None
    assert service.get("/api/v1/me/deletion", user=user).status_code == 200
    assert service.get("/api/v1/me/export", user=user).status_code == 200
    assert service.get("/api/v1/billing", user=user).json()["error"]["code"] == "age_confirmation_required"

    r = service.post("/api/v1/me/age-confirmation", user=user)
    assert r.status_code == 200, r.text
    confirmed_at = r.json()["age_confirmed_at"]
    assert service.get("/api/v1/me", user=user).json()["profile"]["age_confirmed_at"] == confirmed_at
    assert service.get("/api/v1/billing", user=user).status_code == 200
    # Confirming again keeps the first time.
    assert service.post("/api/v1/me/age-confirmation", user=user).json()["age_confirmed_at"] == confirmed_at


def test_confirming_for_a_deleted_account_is_a_clean_404(service, db):
    user = dbsupport.create_user(db, "gone", adult=False)
    db.execute("select private.delete_account(%s)", (user.id,))
    r = service.post("/api/v1/me/age-confirmation", user=user)
    assert r.status_code == 404 and r.json()["error"]["code"] == "account_not_found"


def test_the_description_marks_exactly_the_gated_operations():
    for template, item in document()["paths"].items():
        for method, op in item.items():
            codes = op["responses"].get("403", {}).get("description", "")
            gated = "`age_confirmation_required`" in codes
            expected = template != "/openapi.json" and not age.is_account_level(template)
            assert gated == expected, f"{method.upper()} {template}"
