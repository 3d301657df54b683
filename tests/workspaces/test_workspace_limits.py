"""Free allowances cannot be multiplied: a user creates a bounded number of workspaces
(public.create_workspace, supabase/migrations/20261128000200_workspaces.sql), and one Twilio
account connects to one workspace (tests/twilio/test_connect.py)."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.support.database import acting_as

DEFAULT_LIMIT = 5


def create_workspace(database_url, user, name):
    """As PostgREST's rpc/create_workspace runs it, committed."""
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(user.claims),),
        )
        return str(conn.execute("select (public.create_workspace(%s)).id", (name,)).fetchone()[0])


def created(db, user) -> int:
    return db.execute("select count(*) as n from public.workspaces where created_by = %s", (user.id,)).fetchone()["n"]


def test_a_user_creates_at_most_five_workspaces_their_personal_one_included(make_user, db, database_url):
    user = make_user("founder")
    made = [create_workspace(database_url, user, f"Venture {i}") for i in range(DEFAULT_LIMIT - 1)]
    assert created(db, user) == DEFAULT_LIMIT

    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        create_workspace(database_url, user, "One too many")
    assert refused.value.diag.message_primary == (
        "you have created 5 workspaces, the most one account may; delete one to create another"
    )
    assert json.loads(refused.value.diag.message_detail) == {
        "code": "workspace_limit_reached",
        "limit_name": "created_workspaces",
        "limit": 5,
        "used": 5,
    }
    assert created(db, user) == DEFAULT_LIMIT

    # Deleting one (as its owner, through PostgREST) frees its slot.
    with acting_as(database_url, "authenticated", user.claims) as conn:
        assert conn.execute("delete from public.workspaces where id = %s", (made[0],)).rowcount == 1
        conn.execute("select public.create_workspace('Second wind')")


def test_handing_ownership_on_frees_no_slot(make_user, db, database_url):
    user, friend = make_user("founder"), make_user("friend")
    made = [create_workspace(database_url, user, f"Venture {i}") for i in range(DEFAULT_LIMIT - 1)]
    for ws in made:
        db.execute(
            "insert into public.workspace_members (workspace_id, user_id, role) values (%s, %s, 'owner')",
            (ws, friend.id),
        )
        db.execute("delete from public.workspace_members where workspace_id = %s and user_id = %s", (ws, user.id))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        create_workspace(database_url, user, "Fresh allowance")


def test_app_metadata_raises_one_users_limit(make_user, db, database_url):
    user, other = make_user("agency"), make_user("other")
    db.execute(
        "update auth.users set raw_app_meta_data = raw_app_meta_data || '{\"max_created_workspaces\": 7}' "
        "where id = %s",
        (user.id,),
    )
    for i in range(6):
        create_workspace(database_url, user, f"Client {i}")
    assert created(db, user) == 7
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        create_workspace(database_url, user, "Client 7")
    # Nobody else's limit moved.
    for i in range(DEFAULT_LIMIT - 1):
        create_workspace(database_url, other, f"Other {i}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        create_workspace(database_url, other, "Other 5")
