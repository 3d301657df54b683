"""data_requests is per user (no workspace_id, so the cross-workspace check does not apply):
another user, even a co-member of every workspace, can neither read nor change someone's requests."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.database import acting_as, add_member


def test_data_requests_has_no_workspace_column(db):
    columns = {
        r["column_name"]
        for r in db.execute(
            "select column_name from information_schema.columns where table_schema = 'public' "
            "and table_name = 'data_requests'"
        )
    }
    assert "user_id" in columns and "workspace_id" not in columns


def test_another_user_cannot_read_or_change_a_users_requests(service, make_user, db, database_url):
    owner, colleague = make_user("owner"), make_user("colleague")
    add_member(db, owner.workspace_id, colleague, "admin")
    deletion_id = service.post("/api/v1/me/deletion", user=owner).json()["deletion"]["id"]
    assert service.get("/api/v1/me/export", user=owner).status_code == 200

    with acting_as(database_url, "authenticated", colleague.claims) as conn:
        assert conn.execute("select count(*) as n from public.data_requests").fetchone()["n"] == 0
    for statement in (
        "update public.data_requests set status = 'canceled' where user_id = %s",
        "delete from public.data_requests where user_id = %s",
        "insert into public.data_requests (user_id, kind, status) values (%s, 'export', 'completed')",
    ):
        with acting_as(database_url, "authenticated", colleague.claims) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, (owner.id,))

    # Through the API too: the colleague's own state is empty and cancelling touches only their own.
    assert service.get("/api/v1/me/deletion", user=colleague).json()["deletion"] is None
    assert service.delete("/api/v1/me/deletion", user=colleague).status_code == 404
    assert (
        db.execute("select status from public.data_requests where id = %s", (deletion_id,)).fetchone()["status"]
        == "scheduled"
    )
    assert (
        db.execute("select count(*) as n from public.data_requests where user_id = %s", (owner.id,)).fetchone()["n"]
        == 2
    )
