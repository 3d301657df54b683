"""The threaded WSGI server every stand-in runs in, and the error shape of their control APIs."""

from __future__ import annotations

import logging
import threading

from flask import Blueprint, Flask, jsonify
from werkzeug.serving import make_server

log = logging.getLogger("numeraloop_local")

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class BackgroundServer:
    """A threaded werkzeug server around a WSGI app; port 0 picks a free port.

    Tests run it in a thread (`with BackgroundServer(app) as server: server.url`);
    commands run it in the foreground with `serve_forever()`.
    """

    def __init__(
        self, app, host: str = "127.0.0.1", port: int = 0, name: str = "local-server", poll_interval: float = 0.05
    ):
        self.app = app
        self.name = name
        self._server = make_server(host, port, app, threaded=True)
        self.host, self.port = host, self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.poll_interval = poll_interval  # how often serve_forever checks for stop(): tests start many
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": self.poll_interval}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self.closed()

    def closed(self) -> None:
        """What a subclass releases once the server has stopped."""

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM."""
        if self.host not in LOCAL_HOSTS:
            # Control APIs have no authentication: anyone who can reach them can read everything.
            log.warning(
                "%s: binding to %s exposes its unauthenticated control API beyond this machine", self.name, self.host
            )
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()
            self.closed()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ControlError(Exception):
    """A refusal of a control API, answered as `{"error": {"code", "message"}}`, the service's shape."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def install_control_errors(bp: Blueprint) -> None:
    """ControlError and ValueError become JSON 4xx answers on a control-API blueprint."""

    @bp.errorhandler(ControlError)
    def _control_error(exc: ControlError):
        return jsonify(error_body(exc.code, exc.message)), exc.status

    @bp.errorhandler(ValueError)
    def _bad_value(exc: ValueError):
        return jsonify(error_body("invalid", str(exc))), 400


def http_error_body(exc) -> tuple[dict, int]:
    """A werkzeug HTTPException outside a stand-in's API prefix, in the control APIs' shape."""
    return error_body((exc.name or "error").lower().replace(" ", "_"), exc.description or exc.name), exc.code or 500


def new_app(import_name: str) -> Flask:
    app = Flask(import_name)
    app.json.sort_keys = False  # keep each resource's field order, as the real services answer
    return app
