"""`numeraloop worker --health-port`: what `numeraloop dev` asks before the service is ready."""

from __future__ import annotations

import threading

import requests

from numeraloop.worker import _serve_liveness

from .conftest import free_port


def test_liveness_is_200_while_every_loop_runs_and_503_once_one_stopped():
    release = threading.Event()
    running = threading.Thread(target=release.wait, name="webhooks")
    finished = threading.Thread(target=lambda: None, name="campaigns")
    running.start()
    finished.start()
    finished.join()
    port = free_port()
    server = _serve_liveness(port, [running])
    try:
        url = f"http://127.0.0.1:{port}"
        r = requests.get(url + "/healthz", timeout=5)
        assert (r.status_code, r.json()) == (200, {"status": "ok", "loops": ["webhooks"]})
        server.shutdown()
        server.server_close()
        server = _serve_liveness(port, [running, finished])
        r = requests.get(url + "/healthz", timeout=5)
        assert (r.status_code, r.json()) == (503, {"status": "unavailable", "stopped": ["campaigns"]})
        r = requests.get(url + "/metrics", timeout=5)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    finally:
        server.shutdown()
        server.server_close()
        release.set()
        running.join()
