"""A local Twilio: the 2010-04-01 REST subset NumeraLoop uses, status callbacks, inbound traffic.

    from numeraloop_local.twilio_sandbox import SandboxServer, SandboxControl

    with SandboxServer() as server:              # 127.0.0.1, a free port
        control = SandboxControl(server.url)
        account = control.create_account()       # {"sid": "AC...", "auth_token": "..."}
        # point TWILIO_API_BASE_URL (numeraloop.twilio_client) at server.url

Modules: app (factory), rest (Twilio API), control (/_sandbox API), description (what it
serves of Twilio's API, as data), validation (requests checked and resources shaped from
it), messaging (send + delivery scenarios), inbound (injected SMS/calls), numbers
(inventory), webhooks (signing, dispatcher), state, resources, errors, ids, client, server.
"""

from .app import create_sandbox_app
from .client import SandboxControl, SandboxError
from .core import Sandbox, SandboxSettings
from .server import SandboxServer
from .state import SandboxState

__all__ = [
    "Sandbox",
    "SandboxControl",
    "SandboxError",
    "SandboxServer",
    "SandboxSettings",
    "SandboxState",
    "create_sandbox_app",
]
