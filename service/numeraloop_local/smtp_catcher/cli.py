"""`numeraloop smtp-catcher serve`: the local SMTP catcher in the foreground."""

from __future__ import annotations

from .server import DEFAULT_HOST, DEFAULT_HTTP_PORT, DEFAULT_SMTP_PORT


def add_commands(sub) -> None:
    catcher = sub.add_parser("smtp-catcher", help="the local SMTP catcher (receives the product's e-mail)")
    cmds = catcher.add_subparsers(dest="smtp_catcher_command", required=True)
    serve = cmds.add_parser("serve", help="receive mail over SMTP and show it over HTTP")
    serve.add_argument("--host", default=DEFAULT_HOST, help="bind address; keep it local (default %(default)s)")
    serve.add_argument("--smtp-port", type=int, default=DEFAULT_SMTP_PORT)
    serve.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT)
    serve.set_defaults(func=_serve)


def _serve(args, config=None) -> int:
    from .server import serve

    return serve(args.host, args.smtp_port, args.http_port)
