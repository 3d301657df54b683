"""`numeraloop privacy ...`: what an operator does about the privacy promises from a shell.

  status   each retention rule with its policy, the age of the oldest row it governs and how many
           rows are past it (public.retention_status); exits 3 when anything is overdue, so a
           monitoring check can run it as is.
  request  data-subject requests: `list` the open ones, soonest due first (exits 3 when one is
           overdue), `file` one received by e-mail, `verify` its requester's identity (or not),
           `close` it with its outcome.
  delete-minor USER
           deletes at once an account reported as a minor's (no grace period).
  restrict USER / lift-restriction USER
           restricts processing of an account on its owner's word, or lifts it (audited).
  notify --workspace ID ...
           e-mails every member of those workspaces about a breach, recorded and audited.
  publish-policy
           publishes a privacy policy or terms version; a material one 14 days ahead, after which
           users see it in the product and the worker e-mails each of them once.
  product-email
           sends a product e-mail (a newsletter) to the users who consented, and nobody else.

The commands connect with DATABASE_URL (or --database-url) and act as service_role, the role
public.retention_status is granted to.
"""

from __future__ import annotations

import sys
from datetime import UTC

from ..config import Config

EXIT_OVERDUE = 3


def add_commands(sub) -> None:
    """Adds the `privacy` command and its subcommands to the `numeraloop` parser's subparsers."""
    privacy = sub.add_parser("privacy", help="the privacy promises: retention status and data requests")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)

    status = privacy_sub.add_parser("status", help="each retention rule: policy, oldest row, rows overdue")
    status.add_argument("--database-url", help="defaults to DATABASE_URL")
    status.set_defaults(func=_cmd_status)
    _add_rights_commands(privacy_sub)


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


# ---------------------------------------------------------------------------------------
# Data-subject requests, minors, restriction, notices


def _add_rights_commands(privacy_sub) -> None:
    request = privacy_sub.add_parser("request", help="data-subject requests: list, file, verify, close")
    request_sub = request.add_subparsers(dest="request_command", required=True)
    listing = request_sub.add_parser("list", help="the open requests, soonest due first; exits 3 when one is overdue")
    listing.set_defaults(func=_cmd_request_list)
    filing = request_sub.add_parser("file", help="record a request received by e-mail")
    filing.add_argument("--email", required=True, help="the address it came from")
    filing.add_argument("--law", required=True, choices=("gdpr", "ccpa", "pipeda"))
    filing.add_argument(
        "--kind",
        required=True,
        help="gdpr: access, rectification, erasure, restriction, "
        "portability, objection, withdraw_consent; ccpa: know, delete, correct, limit; "
        "pipeda: access, correction",
    )
    filing.add_argument("--received", help="when the e-mail arrived (ISO 8601; default: now)")
    filing.add_argument("--description", help="what the requester asked, in their words")
    filing.set_defaults(func=_cmd_request_file)
    verify = request_sub.add_parser("verify", help="record the requester's identity check")
    verify.add_argument("request_id")
    verify.add_argument("--failed", action="store_true", help="their identity could not be verified: refuse it")
    verify.add_argument("--note", help="with --failed: why, for the requester")
    verify.set_defaults(func=_cmd_request_verify)
    close = request_sub.add_parser("close", help="answer a request")
    close.add_argument("request_id")
    close.add_argument("--outcome", required=True, help="what was done, or why it was refused, for the requester")
    close.add_argument("--refused", action="store_true")
    close.set_defaults(func=_cmd_request_close)
    for parser in (listing, filing, verify, close):
        parser.add_argument("--database-url", help="defaults to DATABASE_URL")

    minor = privacy_sub.add_parser("delete-minor", help="delete at once an account reported as a minor's")
    minor.add_argument("user", help="the account's id or e-mail address")
    minor.add_argument(
        "--yes", action="store_true", help="confirm: the account and the workspaces it alone owns go now"
    )
    minor.set_defaults(func=_cmd_delete_minor)

    restrict = privacy_sub.add_parser("restrict", help="restrict processing of an account, on its owner's word")
    restrict.add_argument("user", help="the account's id or e-mail address")
    restrict.set_defaults(func=_cmd_restrict)
    lift = privacy_sub.add_parser("lift-restriction", help="lift an account's restriction (audited)")
    lift.add_argument("user", help="the account's id or e-mail address")
    lift.set_defaults(func=_cmd_lift_restriction)

    notify = privacy_sub.add_parser("notify", help="e-mail every member of the workspaces about a breach")
    notify.add_argument("--workspace", action="append", required=True, help="a workspace id (repeat for more)")
    notify.add_argument("--subject", required=True)
    notify.add_argument("--body-file", required=True, help="the e-mail's text ('-' reads standard input)")
    notify.add_argument("--detected-at", help="when the breach was detected (ISO 8601), to report the 72 hours")
    notify.set_defaults(func=_cmd_notify)

    publish = privacy_sub.add_parser("publish-policy", help="publish a privacy policy or terms version")
    publish.add_argument("--document", required=True, choices=("privacy_policy", "terms_of_service"))
    publish.add_argument("--version", required=True)
    publish.add_argument("--effective", required=True, help="when it takes effect (ISO 8601)")
    publish.add_argument("--summary", required=True, help="what changes, in a few sentences")
    publish.add_argument("--url", help="where the full text is")
    publish.add_argument(
        "--material",
        action="store_true",
        help="a material change: users are told 14 days ahead, in the product and by e-mail",
    )
    publish.set_defaults(func=_cmd_publish_policy)

    product = privacy_sub.add_parser("product-email", help="send a product e-mail to the users who consented")
    product.add_argument("--subject", required=True)
    product.add_argument("--body-file", required=True, help="the e-mail's text ('-' reads standard input)")
    product.set_defaults(func=_cmd_product_email)
    for parser in (minor, restrict, lift, notify, publish, product):
        parser.add_argument("--database-url", help="defaults to DATABASE_URL")


def _url(args, config: Config) -> str:
    return args.database_url or config.database_url


def _as_service(url: str, sql: str, params=()):
    with service_connection(url) as conn, conn.transaction():
        conn.execute("select set_config('role', 'service_role', true)")
        return conn.execute(sql, params).fetchall()


def _refused(exc) -> int:
    """A database refusal, said plainly (its primary message), exit 1."""
    print(f"error: {getattr(getattr(exc, 'diag', None), 'message_primary', None) or exc}", file=sys.stderr)
    return 1


def _when(text: str | None):
    from datetime import datetime

    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _read(path: str) -> str:
    return sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()


def _user_id(url: str, who: str) -> str | None:
    """An account's id from its id or e-mail address."""
    import uuid

    try:
        return str(uuid.UUID(who))
    except ValueError:
        rows = _as_service(url, "select id::text from public.profiles where lower(email) = lower(%s)", (who.strip(),))
        return rows[0]["id"] if rows else None


def _print_table(header: tuple, rows: list[tuple]) -> None:
    table = [header] + rows
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _cmd_request_list(args, config: Config) -> int:
    rows = _as_service(_url(args, config), "select * from private.data_requests_open()")
    if not rows:
        print("no open requests")
        return 0
    _print_table(
        ("id", "law", "kind", "requester", "received", "due", "left", "identity", "status"),
        [
            (
                str(r["id"]),
                r["law"],
                r["kind"],
                r["requester"] or "-",
                r["received_at"].strftime("%Y-%m-%d"),
                r["due_at"].strftime("%Y-%m-%d"),
                "OVERDUE" if r["overdue"] else f"{r['days_left']} d",
                r["identity_verification"],
                r["status"],
            )
            for r in rows
        ],
    )
    overdue = sum(r["overdue"] for r in rows)
    if overdue:
        print(f"{overdue} request(s) overdue: answer them now", file=sys.stderr)
        return EXIT_OVERDUE
    return 0


def _cmd_request_file(args, config: Config) -> int:
    import psycopg

    try:
        [row] = _as_service(
            _url(args, config),
            "select * from private.file_emailed_data_request(%s, %s, %s, coalesce(%s, now()), %s)",
            (args.email, args.law, args.kind, _when(args.received), args.description),
        )
    except (psycopg.Error, ValueError) as exc:
        return _refused(exc)
    account = "the account with that address" if row["user_id"] else "no account has that address"
    print(
        f"recorded {row['id']}: {row['law']} {row['kind']} from {row['requester_email']} ({account}), "
        f"due {row['due_at']:%Y-%m-%d}; verify the requester's identity next"
    )
    return 0


def _cmd_request_verify(args, config: Config) -> int:
    import psycopg

    try:
        [row] = _as_service(
            _url(args, config),
            "select * from private.verify_data_request(%s, %s, %s)",
            (args.request_id, not args.failed, args.note),
        )
    except psycopg.Error as exc:
        return _refused(exc)
    print(
        f"{row['id']}: identity {row['identity_verification']}, {row['status']}"
        + (f": {row['outcome']}" if row["outcome"] else "")
    )
    return 0


def _cmd_request_close(args, config: Config) -> int:
    import psycopg

    try:
        [row] = _as_service(
            _url(args, config),
            "select * from private.close_data_request(%s, %s, %s)",
            (args.request_id, args.outcome, args.refused),
        )
    except psycopg.Error as exc:
        return _refused(exc)
    late = "" if row["completed_at"] <= row["due_at"] else " (after its due date)"
    print(f"{row['id']}: {row['status']}{late}")
    return 0


def _cmd_delete_minor(args, config: Config) -> int:
    import psycopg

    url = _url(args, config)
    user_id = _user_id(url, args.user)
    if user_id is None:
        print(f"error: no account is {args.user!r}", file=sys.stderr)
        return 1
    if not args.yes:
        print(
            "error: this deletes the account now, with the workspaces it alone owns; run again with --yes",
            file=sys.stderr,
        )
        return 2
    try:
        [row] = _as_service(url, "select private.delete_reported_minor(%s) as r", (user_id,))
    except psycopg.Error as exc:
        return _refused(exc)
    result = row["r"]
    if not result["deleted"]:
        print(f"error: the deletion failed ({result.get('error')}); the daily job retries it", file=sys.stderr)
        return 1
    others = result["run"]["completed"] - 1
    print(f"deleted account {user_id}" + (f" (and {others} other due deletion(s))" if others > 0 else ""))
    return 0


def _cmd_restrict(args, config: Config) -> int:
    import psycopg

    url = _url(args, config)
    user_id = _user_id(url, args.user)
    if user_id is None:
        print(f"error: no account is {args.user!r}", file=sys.stderr)
        return 1
    try:
        _as_service(url, "select private.restrict_processing(%s, 'operator')", (user_id,))
    except psycopg.Error as exc:
        return _refused(exc)
    print(f"processing of account {user_id} is restricted")
    return 0


def _cmd_lift_restriction(args, config: Config) -> int:
    url = _url(args, config)
    user_id = _user_id(url, args.user)
    if user_id is None:
        print(f"error: no account is {args.user!r}", file=sys.stderr)
        return 1
    [row] = _as_service(url, "select private.lift_processing_restriction(%s, null, 'operator') as lifted", (user_id,))
    print(f"restriction of account {user_id} lifted" if row["lifted"] else f"account {user_id} was not restricted")
    return 0


def _pool(url: str):
    from ..db import make_pool

    pool = make_pool(url, min_size=1, max_size=2)
    pool.open(wait=True, timeout=30)
    return pool


def _report_sent(result, what: str) -> int:
    print(f"{what}: {len(result.sent)} e-mailed" + (f", {len(result.failed)} refused" if result.failed else ""))
    for email, error in result.failed:
        print(f"  not sent to {email}: {error}", file=sys.stderr)
    return 1 if result.failed else 0


def _cmd_notify(args, config: Config) -> int:
    import psycopg

    from ..notifications.mail import MailConfigError
    from .notices import BREACH_NOTICE_HOURS, notify_breach

    pool = _pool(_url(args, config))
    try:
        result = notify_breach(
            pool, config, args.workspace, args.subject, _read(args.body_file), _when(args.detected_at)
        )
    except MailConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (psycopg.Error, ValueError, OSError) as exc:
        return _refused(exc)
    finally:
        pool.close()
    code = _report_sent(result, "breach notification")
    if result.hours_since_detection is not None:
        hours = result.hours_since_detection
        print(
            f"sent {hours:.0f} hours after the breach was detected"
            + ("" if hours <= BREACH_NOTICE_HOURS else f": later than the {BREACH_NOTICE_HOURS} hours")
        )
    return code


def _cmd_publish_policy(args, config: Config) -> int:
    import psycopg

    try:
        [row] = _as_service(
            _url(args, config),
            "select * from private.publish_policy_version(%s, %s, %s, %s, %s, %s)",
            (args.document, args.version, _when(args.effective), args.summary, args.material, args.url),
        )
    except (psycopg.Error, ValueError) as exc:
        return _refused(exc)
    print(
        f"published {row['document']} {row['version']}, effective {row['effective_at']:%Y-%m-%d %H:%M %Z}"
        + ("; users are told from 14 days before" if row["material"] else "")
    )
    return 0


def _cmd_product_email(args, config: Config) -> int:
    from ..notifications.mail import MailConfigError
    from .notices import send_product_email

    pool = _pool(_url(args, config))
    try:
        result = send_product_email(pool, config, args.subject, _read(args.body_file))
    except MailConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        pool.close()
    return _report_sent(result, "product e-mail")
