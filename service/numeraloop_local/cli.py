"""The stand-ins' commands on `numeraloop`: dev, sandbox, stripe-standin, auth-standin, smtp-catcher.

Registered through the `numeraloop.commands` entry point, so they exist only where this
package is installed; the product's own command knows nothing of them.
"""

from __future__ import annotations

from .smtp_catcher.cli import add_commands as add_smtp_catcher_commands
from .stripe_standin.cli import add_commands as add_stripe_standin_commands
from .supabase_auth.cli import add_commands as add_auth_standin_commands
from .twilio_sandbox.cli import add_commands as add_sandbox_commands


def add_commands(sub) -> None:
    dev = sub.add_parser("dev", help="run everything for local development (what `make dev` calls)")
    dev.set_defaults(func=_dev)
    add_sandbox_commands(sub)
    add_stripe_standin_commands(sub)
    add_auth_standin_commands(sub)
    add_smtp_catcher_commands(sub)


def _dev(args, config) -> int:
    from .dev import run_dev

    return run_dev(config)
