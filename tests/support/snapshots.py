"""What a refused request must leave as it was: a workspace's rows in every table that holds
workspace rows (from the catalog, so a new table is covered), and what Twilio was asked."""

from __future__ import annotations

from psycopg import sql


def workspace_tables(db) -> list[str]:
    return [
        r["relname"]
        for r in db.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "join pg_attribute a on a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped "
            "where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1"
        )
    ]


def workspace_state(db, workspace_id: str, ignoring: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Per table: how many of the workspace's rows there are and a digest of all of them, so an
    insert, an update or a delete anywhere shows up (the workspace row itself included).
    Columns named in `ignoring` are left out of every row."""
    state = {}
    for table in ["workspaces", *workspace_tables(db)]:
        owner = "id" if table == "workspaces" else "workspace_id"
        row = db.execute(
            sql.SQL(
                "select count(*) as n, md5(coalesce(string_agg((to_jsonb(x) - %s::text[])::text, E'\\n' "
                "order by (to_jsonb(x) - %s::text[])::text), '')) as digest "
                "from public.{} x where x.{} = %s"
            ).format(sql.Identifier(table), sql.Identifier(owner)),
            (list(ignoring), list(ignoring), workspace_id),
        ).fetchone()
        state[table] = (row["n"], row["digest"])
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


def twilio_requests(sandbox, account_sid: str) -> int:
    """How many REST requests the sandbox has had for the account."""
    return len(sandbox.requests(account_sid))
