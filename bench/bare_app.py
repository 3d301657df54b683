"""The baseline for bench.inbound_throughput: a bare Flask app with one POST route that
answers a static empty TwiML `<Response/>`, served by gunicorn exactly as `numeraloop serve`
serves the real service (numeraloop.server.serve: same gthread worker class, threads,
timeouts and log settings), so the ratio measures the service's own work: signature
check, database call, logging.

    python -m bench.bare_app --port 8123 --workers 2
"""

from __future__ import annotations

import argparse

from flask import Flask, Response

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def create_app() -> Flask:
    app = Flask("bare", static_folder=None)

    @app.post("/twilio/messaging/inbound")
    def inbound():
        return Response(TWIML, mimetype="text/xml")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from numeraloop import server
    from numeraloop.config import Config

    class _BareGunicorn(server._Gunicorn):
        def load(self):
            return create_app()

    # numeraloop.server.serve builds the gunicorn options; only the app it loads differs.
    server._Gunicorn = _BareGunicorn
    return server.serve(Config.from_env(), host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
