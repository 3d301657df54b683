"""`numeraloop sandbox ...`: run the sandbox, or send it inbound traffic from a terminal."""

from __future__ import annotations

import json
import sys

from .server import DEFAULT_HOST, DEFAULT_PORT

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def add_commands(sub) -> None:
    """Register `sandbox serve|sms|call` on the top-level subparsers."""
    sandbox = sub.add_parser("sandbox", help="the local Twilio sandbox")
    cmds = sandbox.add_subparsers(dest="sandbox_command", required=True)

    serve = cmds.add_parser("serve", help="run the sandbox (Twilio API + /_sandbox control API)")
    serve.add_argument("--host", default=DEFAULT_HOST, help="bind address; keep it local (default %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--seed-account",
        action="append",
        default=[],
        metavar="SID:TOKEN",
        help="create this account at start (repeatable), e.g. the demo seed's",
    )
    serve.set_defaults(func=_serve)

    sms = cmds.add_parser("sms", help="deliver an inbound SMS/MMS to an owned number's SmsUrl")
    sms.add_argument("--from", dest="from_", required=True)
    sms.add_argument("--to", required=True)
    sms.add_argument("--body", default="")
    sms.add_argument("--media", action="append", default=[], metavar="URL", help="media URL (repeatable)")
    sms.add_argument("--sandbox-url", default=DEFAULT_URL)
    sms.set_defaults(func=_sms)

    call = cmds.add_parser("call", help="ring an owned number: its VoiceUrl answers with TwiML")
    call.add_argument("--from", dest="from_", required=True)
    call.add_argument("--to", required=True)
    call.add_argument("--duration", type=int, help="then complete the call after this many seconds of talk")
    call.add_argument("--sandbox-url", default=DEFAULT_URL)
    call.set_defaults(func=_call)


def _serve(args, config=None) -> int:
    from .server import serve

    seeds = []
    for item in args.seed_account:
        sid, sep, token = item.partition(":")
        if not sep or not sid or not token:
            print(f"error: --seed-account wants SID:TOKEN, got {item!r}", file=sys.stderr)
            return 2
        seeds.append((sid, token))
    return serve(args.host, args.port, seeds)


def _sms(args, config=None) -> int:
    return _report(lambda c: c.inject_sms(args.from_, args.to, args.body, args.media), args.sandbox_url)


def _call(args, config=None) -> int:
    return _report(lambda c: c.inject_call(args.from_, args.to, args.duration), args.sandbox_url)


def _report(action, url: str) -> int:
    """Print what the application answered; exit 0 only if it answered 2xx."""
    import requests

    from .client import SandboxControl, SandboxError

    try:
        result = action(SandboxControl(url))
    except SandboxError as exc:
        print(f"error: {json.dumps(exc.body)}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(
            f"error: no sandbox at {url} ({type(exc).__name__}); start it with `numeraloop sandbox serve`",
            file=sys.stderr,
        )
        return 1
    sid = result.get("message_sid") or result.get("call_sid")
    print(f"{sid} -> {result.get('url') or '(no webhook configured)'}")
    if result.get("error"):
        print(f"error: {result['error']}", file=sys.stderr)
        return 1
    print(f"HTTP {result['status']}")
    if result.get("body"):
        print(result["body"])
    return 0 if 200 <= result["status"] < 300 else 1
