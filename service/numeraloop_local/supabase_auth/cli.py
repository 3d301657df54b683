"""`numeraloop auth-standin serve`: the local Supabase Auth stand-in in the foreground."""

from __future__ import annotations

import sys

from numeraloop.config import default_project_root

from .settings import DEFAULT_HOST, DEFAULT_PORT, SIGNING_ALGORITHMS


def add_commands(sub) -> None:
    standin = sub.add_parser("auth-standin", help="the local Supabase Auth (GoTrue) stand-in")
    cmds = standin.add_subparsers(dest="auth_standin_command", required=True)
    serve = cmds.add_parser("serve", help="run the stand-in (GoTrue's API under /auth/v1)")
    serve.add_argument("--host", default=DEFAULT_HOST, help="bind address; keep it local (default %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--signing",
        choices=[a.lower() for a in SIGNING_ALGORITHMS],
        help="how access tokens are signed (default: NUMERALOOP_AUTH_SIGNING, else what the "
        "service verifies: ES256 with SUPABASE_JWKS_URL, HS256 with only SUPABASE_JWT_SECRET)",
    )
    serve.add_argument("--public-url", help="where clients reach it (default SUPABASE_URL, else its own address)")
    serve.add_argument("--site-url", help="where e-mail links lead (default PUBLIC_BASE_URL: the web application)")
    serve.add_argument(
        "--confirm-email",
        action="store_true",
        help="require e-mail confirmation on sign-up (default: addresses are confirmed at once)",
    )
    serve.set_defaults(func=_serve)


def _serve(args, config) -> int:
    from .server import serve
    from .settings import settings_from_environment

    try:
        settings = settings_from_environment(
            config.database_url,
            config_toml=default_project_root() / "supabase" / "config.toml",
            signing=args.signing,
            public_url=args.public_url or None,
            site_url=args.site_url or config.public_base_url,
            autoconfirm=False if args.confirm_email else None,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.public_url:
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        settings.public_url = f"http://{host}:{args.port}"
    return serve(settings, args.host, args.port)
