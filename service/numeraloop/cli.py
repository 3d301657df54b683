"""The `numeraloop` command: database, service, local development, sandbox, key rotation."""

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
    if applied:
        for m in applied:
            print(f"applied {m.path.name}")
    else:
        print("database is up to date; nothing to apply")
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


def _cmd_dev(args, config: Config) -> int:
    from .devrun import run_dev

    return run_dev(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="numeraloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    migrate = db_sub.add_parser("migrate", help="apply pending supabase/migrations in order")
    migrate.add_argument("--database-url", help="defaults to DATABASE_URL")
    migrate.set_defaults(func=_cmd_db_migrate)
    status = db_sub.add_parser("status", help="list migrations and whether each is applied")
    status.add_argument("--database-url", help="defaults to DATABASE_URL")
    status.set_defaults(func=_cmd_db_status)

    serve = sub.add_parser("serve", help="run the service under gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="defaults to PORT (8000)")
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(func=_cmd_serve)

    dev = sub.add_parser("dev", help="run everything for local development (what `make dev` calls)")
    dev.set_defaults(func=_cmd_dev)
    return parser


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
