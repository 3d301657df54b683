"""The `numeraloop` command: database, service, worker, key rotation, privacy, and installed extras."""

from __future__ import annotations

import argparse
import logging
import sys

from .config import Config, ConfigError

log = logging.getLogger("numeraloop.cli")


def _cmd_db_migrate(args, config: Config) -> int:
    from . import migrations

    url = args.database_url or config.database_url
    try:
        applied = migrations.migrate(url, config.migrations_dir)
    except migrations.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing from that file was applied; earlier files stay applied", file=sys.stderr)
        return 1
    except migrations.MigrationDrift as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            "nothing was applied. A development database can be rebuilt with `numeraloop db reset` "
            "(every row is deleted); a production one needs its own migration plan.",
            file=sys.stderr,
        )
        return 1
    if applied:
        for m in applied:
            print(f"applied {m.path.name}")
    else:
        print("database is up to date; nothing to apply")
    return 0


def _cmd_db_reset(args, config: Config) -> int:
    from psycopg.conninfo import conninfo_to_dict

    from . import migrations

    url = args.database_url or config.database_url
    dbname = conninfo_to_dict(url).get("dbname", "")
    if args.yes != dbname:
        print(
            f"error: this deletes every row of database {dbname!r}; to go ahead, run again with --yes {dbname}",
            file=sys.stderr,
        )
        return 2
    try:
        applied = migrations.reset(url, config.migrations_dir)
    except migrations.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"emptied {dbname} and applied {len(applied)} migration(s)")
    return 0


def _cmd_db_status(args, config: Config) -> int:
    import psycopg

    from . import migrations

    url = args.database_url or config.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        done = migrations.applied_versions(conn)
    files = migrations.discover(config.migrations_dir)
    for m in files:
        print(f"{'applied' if m.version in done else 'pending'}  {m.path.name}")
    return 0 if all(m.version in done for m in files) else 3


def _cmd_serve(args, config: Config) -> int:
    from .server import serve

    return serve(config, host=args.host, port=args.port or config.port, workers=args.workers)


def _cmd_worker(args, config: Config) -> int:
    from .worker import run_worker

    return run_worker(config, health_port=args.health_port)


def _cmd_rotate_key(args, config: Config) -> int:
    import os

    from .twilio import credentials

    new_key = os.environ.get("NUMERALOOP_NEW_ENCRYPTION_KEY", "")
    if len(new_key) < 16:
        print(
            "error: set NUMERALOOP_NEW_ENCRYPTION_KEY to the new key (at least 16 characters); "
            "keys are never taken from the command line, where other users could see them",
            file=sys.stderr,
        )
        return 2
    keyring = config.keyring()
    if not keyring:
        print("error: NUMERALOOP_ENCRYPTION_KEY (the current key) is not set", file=sys.stderr)
        return 2
    if str(args.new_version) in keyring and keyring[str(args.new_version)] != new_key:
        print(
            f"error: key version {args.new_version} is already the current key's version; pick a new one",
            file=sys.stderr,
        )
        return 2
    url = args.database_url or config.database_url
    before = credentials.key_versions(url)
    print(f"rotating to key version {args.new_version}; rows per key version now: {before or 'none'}")
    try:
        total = credentials.rotate(
            url,
            keyring,
            new_key,
            args.new_version,
            batch=args.batch,
            progress=lambda n: print(f"  re-encrypted {n} so far", flush=True),
        )
    except Exception as exc:  # a wrong old key, say: report it plainly, the finished rows stay finished
        print(
            f"error: rotation stopped: {getattr(getattr(exc, 'diag', None), 'message_primary', None) or exc}",
            file=sys.stderr,
        )
        print(
            "rows already re-encrypted keep the new key; fix the cause and run the same command again", file=sys.stderr
        )
        return 1
    print(f"done: {total} re-encrypted; rows per key version now: {credentials.key_versions(url)}")
    print(
        f"next: set NUMERALOOP_ENCRYPTION_KEY to the new key and NUMERALOOP_ENCRYPTION_KEY_VERSION={args.new_version}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="numeraloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    migrate = db_sub.add_parser("migrate", help="apply pending supabase/migrations in order")
    migrate.add_argument("--database-url", help="defaults to DATABASE_URL")
    migrate.set_defaults(func=_cmd_db_migrate)
    reset = db_sub.add_parser("reset", help="development only: empty the database and migrate it from scratch")
    reset.add_argument("--database-url", help="defaults to DATABASE_URL")
    reset.add_argument("--yes", metavar="DBNAME", default="", help="the database's name, to confirm every row goes")
    reset.set_defaults(func=_cmd_db_reset)
    status = db_sub.add_parser("status", help="list migrations and whether each is applied")
    status.add_argument("--database-url", help="defaults to DATABASE_URL")
    status.set_defaults(func=_cmd_db_status)

    serve = sub.add_parser("serve", help="run the service under gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="defaults to PORT (8000)")
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser("worker", help="run the background worker (outbound webhooks)")
    worker.add_argument(
        "--health-port",
        type=int,
        default=0,
        help="answer GET /healthz on 127.0.0.1:PORT while every loop runs (default: off)",
    )
    worker.set_defaults(func=_cmd_worker)

    rotate = sub.add_parser("rotate-key", help="re-encrypt every stored Twilio secret under a new key (resumable)")
    rotate.add_argument("--new-version", type=int, required=True, help="version number of the new key")
    rotate.add_argument("--batch", type=int, default=100, help="rows per transaction")
    rotate.add_argument("--database-url", help="defaults to DATABASE_URL")
    rotate.set_defaults(func=_cmd_rotate_key)

    from .privacy import cli as privacy_cli

    privacy_cli.add_commands(sub)

    _add_installed_commands(sub)
    return parser


COMMANDS_ENTRY_POINT = "numeraloop.commands"


def _add_installed_commands(sub) -> None:
    """Commands other installed packages add (the local stand-ins' `dev`, `sandbox`, ...).

    Each entry point names a function taking the subparsers; the product imports none of
    them directly, so a production install without the stand-ins has none of their commands.
    """
    from importlib.metadata import entry_points

    for entry in entry_points(group=COMMANDS_ENTRY_POINT):
        entry.load()(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from .request_log import configure_logging

    configure_logging(config.log_level)
    return args.func(args, config) or 0


if __name__ == "__main__":
    sys.exit(main())
