"""`numeraloop privacy ...`: what an operator does about the privacy promises from a shell.

  status   each retention rule with its policy, the age of the oldest row it governs and how many
           rows are past it (public.retention_status); exits 3 when anything is overdue, so a
           monitoring check can run it as is.

The commands connect with DATABASE_URL (or --database-url) and act as service_role, the role
public.retention_status is granted to.
"""

from __future__ import annotations

import sys

from ..config import Config

EXIT_OVERDUE = 3


def add_commands(sub) -> None:
    """Adds the `privacy` command and its subcommands to the `numeraloop` parser's subparsers."""
    privacy = sub.add_parser("privacy", help="the privacy promises: retention status and data requests")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)

    status = privacy_sub.add_parser("status", help="each retention rule: policy, oldest row, rows overdue")
    status.add_argument("--database-url", help="defaults to DATABASE_URL")
    status.set_defaults(func=_cmd_status)


def service_connection(url: str):
    """An autocommit connection whose transactions run as service_role (`with conn.transaction()`)."""
    import psycopg
    from psycopg.rows import dict_row

    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def retention_status(url: str) -> list[dict]:
    with service_connection(url) as conn, conn.transaction():
        conn.execute("select set_config('role', 'service_role', true)")
        return conn.execute(
            "select rule, policy, oldest_age, overdue_rows from public.retention_status order by rule"
        ).fetchall()


def _age(value) -> str:
    if value is None:
        return "-"
    days = value.days
    if days >= 1:
        return f"{days} d"
    hours = value.seconds // 3600
    return f"{hours} h" if hours else f"{value.seconds // 60} min"


def _cmd_status(args, config: Config) -> int:
    rows = retention_status(args.database_url or config.database_url)
    header = ("rule", "policy", "oldest", "overdue")
    table = [header] + [(r["rule"], r["policy"], _age(r["oldest_age"]), str(r["overdue_rows"])) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    overdue = [r["rule"] for r in rows if r["overdue_rows"]]
    if overdue:
        print(
            f"overdue: {', '.join(overdue)} (their pg_cron jobs are not keeping up; see cron.job_run_details)",
            file=sys.stderr,
        )
        return EXIT_OVERDUE
    return 0
