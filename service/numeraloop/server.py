"""`numeraloop serve`: the service under gunicorn, configured from Config."""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from .config import Config, ConfigError


class _Gunicorn(BaseApplication):
    def __init__(self, config: Config, options: dict):
        self._config = config
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn 25.1+ opens one control socket per user ($HOME/.gunicorn/gunicorn.ctl): two
            # services on one machine (make dev beside a test run) would fight over it, and
            # nothing here uses it.
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from .app import create_app

        return create_app(self._config)


def serve(config: Config, host: str = "127.0.0.1", port: int = 8000, workers: int = 2) -> int:
    try:
        # Checked here too: create_app's refusal inside a gunicorn worker is a boot loop, not a message.
        config.require_servable()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": 4,
        "worker_class": "gthread",
        # Twilio gives a webhook 15 s; never let a request hang longer than that.
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": None,  # the app logs each request with its request id
        "errorlog": "-",
        "loglevel": config.log_level.lower(),
    }
    _Gunicorn(config, options).run()
    return 0
