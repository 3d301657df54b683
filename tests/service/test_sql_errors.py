"""One table turns the database's refusals into the API's errors (errors.SQLSTATE_ERRORS), for every
route: status and code by SQLSTATE, the database's own message, a plan limit's numbers from its
DETAIL, and a logged 500 that says nothing for any SQLSTATE the caller cannot act on."""

from __future__ import annotations

import logging

import psycopg
import pytest
from flask import Flask

from numeraloop.errors import SQLSTATE_ERRORS, register_error_handlers, sql_error
from tests.support.database import add_member

from ..campaigns.conftest import add_contacts, create_campaign


def raised(database_url, statement: str) -> psycopg.Error:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(statement)
    return caught.value


def raise_sql(sqlstate: str, message: str, detail: str | None = None) -> str:
    using = f"errcode = '{sqlstate}'" + (f", detail = '{detail}'" if detail else "")
    return f"do $$ begin raise exception '{message}' using {using}; end $$"


@pytest.mark.parametrize("sqlstate", sorted(SQLSTATE_ERRORS))
def test_every_listed_sqlstate_is_its_status_and_code_with_the_databases_message(database_url, sqlstate):
    error = sql_error(raised(database_url, raise_sql(sqlstate, "the thing cannot be done")))
    assert (error.status, error.code) == SQLSTATE_ERRORS[sqlstate]
    assert error.message == "The thing cannot be done." and error.extra == {}


def test_the_statuses_callers_rely_on():
    assert SQLSTATE_ERRORS["P0402"] == (402, "plan_limit_reached")
    assert SQLSTATE_ERRORS["42501"] == (403, "forbidden")
    assert SQLSTATE_ERRORS["P0002"][0] == 404
    assert SQLSTATE_ERRORS["23505"] == (409, "conflict")
    assert SQLSTATE_ERRORS["55000"] == (409, "wrong_state")
    assert SQLSTATE_ERRORS["22023"] == (422, "invalid_parameter")
    assert {SQLSTATE_ERRORS[s][0] for s in ("23503", "23514", "22001", "22P02")} == {400}


def test_errors_postgresql_raises_itself(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("create temporary table t (id int primary key, short varchar(3), n int check (n > 0))")
        conn.execute("insert into t values (1, 'abc', 1)")
        cases = {
            "insert into t values (1, 'abc', 1)": (409, "conflict"),
            "insert into t values (2, 'abcd', 1)": (400, "value_too_long"),
            "insert into t values (3, 'abc', 0)": (400, "check_violation"),
            "select 'not-a-uuid'::uuid": (400, "invalid_value"),
        }
        for statement, expected in cases.items():
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(statement)
            error = sql_error(caught.value)
            assert (error.status, error.code) == expected, statement
            assert "Key (" not in error.message  # the DETAIL, which can hold the row's values, is never shown


def test_a_plan_limit_carries_limit_used_and_plan_from_its_detail(database_url):
    detail = '{"limit_name": "seats", "limit": 2, "used": 2, "plan": "free", "secret": "x"}'
    error = sql_error(raised(database_url, raise_sql("P0402", "the Free plan allows 2 seats", detail)))
    assert (error.status, error.code, error.message) == (402, "plan_limit_reached", "The Free plan allows 2 seats.")
    assert error.extra == {"limit": 2, "used": 2, "plan": "free"}


def test_a_detail_may_name_the_code(database_url):
    error = sql_error(raised(database_url, raise_sql("P0409", "they opted out", '{"code": "recipient_opted_out"}')))
    assert (error.status, error.code) == (409, "recipient_opted_out")
    # Not JSON, or not a code: the table's code stays.
    assert sql_error(raised(database_url, raise_sql("P0409", "x", "plain words"))).code == "conflict"
    assert sql_error(raised(database_url, raise_sql("P0409", "x", '{"code": "Not A Code"}'))).code == "conflict"


def test_sqlstates_the_caller_cannot_act_on_are_not_in_the_table(database_url):
    assert sql_error(raised(database_url, raise_sql("P0001", "internal detail"))) is None
    assert sql_error(raised(database_url, "select 1/0")) is None
    assert sql_error(raised(database_url, "select * from no_such_table")) is None


@pytest.fixture
def app(database_url):
    """A bare application with the service's error handlers and one route that runs the SQL it is given."""
    app = Flask("sql-errors-test")
    register_error_handlers(app)

    @app.get("/run/<name>")
    def run(name):
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(STATEMENTS[name])
        return "ran"

    return app.test_client()


STATEMENTS = {
    "limit": raise_sql(
        "P0402",
        "the Free plan allows 2 phone numbers; upgrade to add more",
        '{"limit_name": "phone_numbers", "limit": 2, "used": 2, "plan": "free"}',
    ),
    "forbidden": raise_sql("42501", "not a member of this workspace"),
    "unknown": raise_sql("XX123", "a stack of internals"),
    "division": "select 1/0",
}


def test_the_handler_answers_json_for_every_route(app):
    r = app.get("/run/limit")
    assert r.status_code == 402
    assert r.get_json() == {
        "error": {
            "code": "plan_limit_reached",
            "message": "The Free plan allows 2 phone numbers; upgrade to add more.",
            "limit": 2,
            "used": 2,
            "plan": "free",
        }
    }
    r = app.get("/run/forbidden")
    assert (r.status_code, r.get_json()["error"]) == (
        403,
        {"code": "forbidden", "message": "Not a member of this workspace."},
    )


@pytest.mark.parametrize("name", ["unknown", "division"])
def test_anything_else_is_a_logged_500_that_says_nothing(app, caplog, name):
    with caplog.at_level(logging.ERROR, logger="numeraloop.errors"):
        r = app.get(f"/run/{name}")
    assert r.status_code == 500
    assert r.get_json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side. It has been logged."}
    }
    assert any(rec.exc_info for rec in caplog.records), "the error itself goes to the log"


def test_a_route_answers_by_the_table(service, inbox, db, database_url, make_user):
    # An agent pausing a campaign: the database's 42501 is the route's 403 forbidden, in the database's words.
    agent = make_user("agent")
    add_member(db, inbox.workspace_id, agent, "agent")
    add_contacts(db, inbox.workspace_id, 1, tags=["sql-errors"])
    draft = create_campaign(
        database_url,
        inbox.user,
        workspace_id=inbox.workspace_id,
        name="Table",
        phone_number_id=inbox.number["id"],
        body="Hi",
        include_tags=["sql-errors"],
    )
    r = service.post(f"/api/v1/campaigns/{draft}/pause", user=agent)
    assert r.status_code == 403
    assert r.json()["error"] == {
        "code": "forbidden",
        "message": "This needs the admin role in this workspace; you are agent.",
    }
