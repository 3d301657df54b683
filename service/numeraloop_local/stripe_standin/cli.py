"""`numeraloop stripe-standin serve`: the local Stripe stand-in in the foreground."""

from __future__ import annotations

import os
import sys

from .app import DEFAULT_API_KEY
from .server import DEFAULT_HOST, DEFAULT_PORT


def add_commands(sub) -> None:
    standin = sub.add_parser("stripe-standin", help="the local Stripe stand-in")
    cmds = standin.add_subparsers(dest="standin_command", required=True)
    serve = cmds.add_parser("serve", help="run the stand-in (Stripe /v1 API + /_standin control API)")
    serve.add_argument("--host", default=DEFAULT_HOST, help="bind address; keep it local (default %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--webhook-url", help="where events are POSTed (default PUBLIC_BASE_URL + /stripe/webhook)")
    serve.set_defaults(func=_serve)


def _serve(args, config=None) -> int:
    from .server import serve

    # Keys come from the environment (STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET), never the command line.
    api_key = (config.stripe_secret_key if config else "") or DEFAULT_API_KEY
    secret = (config.stripe_webhook_secret if config else "") or os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    if not api_key.startswith(("sk_test_", "rk_test_")):
        print("error: the stand-in only accepts a test-mode STRIPE_SECRET_KEY (sk_test_...)", file=sys.stderr)
        return 2
    url = args.webhook_url or (f"{config.public_base_url}/stripe/webhook" if config else None)
    if not secret:
        print("warning: STRIPE_WEBHOOK_SECRET is not set; events are recorded but not delivered", file=sys.stderr)
    return serve(args.host, args.port, api_key, url, secret)
