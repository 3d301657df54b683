"""Every authenticated /api/v1 call leaves an access_log row the user (only) can read."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.support.database import acting_as


def rows_for(db, user):
    return db.execute(
        "select method, route, status, host(ip) as ip, user_agent, request_id "
        "from public.access_log where user_id = %s order by id",
        (user.id,),
    ).fetchall()


def test_calls_are_logged_with_the_route_pattern_not_the_url(service, make_user, db):
    user = make_user()
    assert service.get("/api/v1/me", user=user, headers={"User-Agent": "numeraloop-tests/1"}).status_code == 200
    missing = service.delete(f"/api/v1/numbers/{uuid.uuid4()}?mode=release", user=user)
    assert missing.status_code == 404
    rows = rows_for(db, user)
    assert [(r["method"], r["route"], r["status"]) for r in rows] == [
        ("GET", "/api/v1/me", 200),
        ("DELETE", "/api/v1/numbers/<number_id>", 404),
    ]
    assert rows[0]["ip"] == "127.0.0.1" and rows[0]["user_agent"] == "numeraloop-tests/1"
    assert rows[0]["request_id"]


def test_unauthenticated_calls_write_nothing(service, db):
    before = db.execute("select count(*) as n from public.access_log").fetchone()["n"]
    assert service.get("/api/v1/me", token="not-a-token").status_code == 401
    assert db.execute("select count(*) as n from public.access_log").fetchone()["n"] == before


def test_users_read_only_their_own_access_log(service, make_user, database_url):
    alice, bob = make_user("alice"), make_user("bob")
    service.get("/api/v1/me", user=alice)
    service.get("/api/v1/me", user=bob)
    with acting_as(database_url, "authenticated", alice.claims) as conn:
        owners = {str(r["user_id"]) for r in conn.execute("select user_id from public.access_log")}
        assert owners == {alice.id}
    with acting_as(database_url, "authenticated", alice.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from public.access_log")
    with acting_as(database_url, "authenticated", alice.claims) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "insert into public.access_log (user_id, method, route, status) values (%s, 'GET', '/x', 200)",
                (alice.id,),
            )


def test_old_rows_are_purged_after_12_months(db, make_user, service):
    user = make_user()
    service.get("/api/v1/me", user=user)
    service.get("/api/v1/me", user=user)
    first, second = (
        r["id"]
        for r in db.execute("select id from public.access_log where user_id = %s order by id", (user.id,)).fetchall()
    )
    db.execute("update public.access_log set created_at = now() - interval '12 months 1 day' where id = %s", (first,))
    db.execute("update public.access_log set created_at = now() - interval '11 months' where id = %s", (second,))
    assert db.execute("select private.purge_expired_access_log() as n").fetchone()["n"] >= 1
    assert [r["id"] for r in db.execute("select id from public.access_log where user_id = %s", (user.id,))] == [second]
    job = db.execute("select schedule from cron.job where jobname = 'numeraloop-access-log-retention'").fetchone()
    assert job["schedule"] == "27 3 * * *"
