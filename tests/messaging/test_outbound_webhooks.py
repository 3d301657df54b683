"""Outbound webhooks: queued by the inbound/status path, delivered by the worker signed per the
Standard Webhooks specification (every delivery verified with the `standardwebhooks` library, one
also by an independent implementation of the spec), retried; no receiver can hold the worker up
(one deadline per delivery, a capped read, slots per endpoint and workspace), and no private
target is reached, however it is spelled."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import select
import socket
import threading
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from numeraloop.outbound_webhooks import worker as worker_module
from numeraloop.outbound_webhooks.worker import BlockedTarget, WebhookWorker, check_public_target, post
from tests.support.receiver import Receiver


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def worker(service):
    w = WebhookWorker(service.app.extensions["numeraloop.pool"], allow_private_targets=True)
    yield w
    w.close()


def add_endpoint(db, workspace_id, url, events=("message.received", "message.status")):
    return db.execute(
        "insert into public.webhook_endpoints (workspace_id, url, events) values (%s, %s, %s) returning id, secret",
        (workspace_id, url, list(events)),
    ).fetchone()


def drain(worker, rounds=5):
    claimed = 0
    for _ in range(rounds):
        claimed += worker.run_once()
        assert worker.wait_idle(60)
    return claimed


def test_message_received_is_delivered_signed_outside_the_twilio_request(inbox, sandbox, db, receiver, worker):
    endpoint = add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    receiver.secret = endpoint["secret"]
    drain(worker)  # nothing queued for this endpoint yet
    receiver.received.clear()
    assert sandbox.inject_sms("+16285559001", inbox.e164, "ping")["status"] == 200
    assert receiver.received == [], "the Twilio request never waits for outbound webhooks"
    assert drain(worker) >= 1
    hits = [h for h in receiver.received if h["headers"].get("NumeraLoop-Event") == "message.received"]
    assert len(hits) == 1
    hit = hits[0]
    assert hit["verified"] is True, hit["verified"]
    payload = Webhook(endpoint["secret"]).verify(hit["body"], hit["headers"])  # the library parses what it verified
    assert payload["type"] == "message.received" and payload["workspace_id"] == inbox.workspace_id
    assert "ping" in json.dumps(payload["data"])
    assert hit["headers"]["webhook-id"] == payload["id"], "the event's id, the receiver's de-duplication key"
    other = db.execute("select 'whsec_' || encode(extensions.gen_random_bytes(32), 'base64') as s").fetchone()["s"]
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(hit["body"], hit["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(hit["body"].replace(b"ping", b"pong"), hit["headers"])
    assert "NumeraLoop-Signature" not in hit["headers"]


def spec_verify(secret: str, body: bytes, headers: dict, now: int, tolerance: int = 300) -> bool:
    """The specification's verification, written from its text alone (no library): the key is the
    base64 after `whsec_`; the signed content is `<webhook-id>.<webhook-timestamp>.<body>`;
    `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256>` entries, any of which
    may match (compared in constant time); the timestamp is refused beyond the tolerance."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp, signatures = lower["webhook-id"], lower["webhook-timestamp"], lower["webhook-signature"]
    if abs(now - int(timestamp)) > tolerance:
        return False
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :], validate=True)
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for entry in signatures.split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(signature, validate=True), expected):
            return True
    return False


def test_a_receiver_implementing_the_specification_by_hand_verifies_the_delivery(inbox, sandbox, db, receiver, worker):
    endpoint = add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    receiver.secret = endpoint["secret"]
    drain(worker)
    receiver.received.clear()
    assert sandbox.inject_sms("+16285559005", inbox.e164, "interop")["status"] == 200
    drain(worker)
    [hit] = [h for h in receiver.received if b"interop" in h["body"]]
    assert hit["verified"] is True
    now = int(time.time())
    assert abs(now - int(hit["headers"]["webhook-timestamp"])) < 120, "signed at delivery time"
    assert spec_verify(endpoint["secret"], hit["body"], hit["headers"], now)
    assert not spec_verify(endpoint["secret"], hit["body"] + b" ", hit["headers"], now)
    assert not spec_verify(endpoint["secret"], hit["body"], hit["headers"], now + 3600), "a replay an hour later"
    # The secret itself is the specification's: whsec_ and the base64 of a 24 to 64-byte key.
    assert 24 <= len(base64.b64decode(endpoint["secret"][len("whsec_") :], validate=True)) <= 64


def test_a_rotated_secret_signs_the_next_delivery(inbox, sandbox, db, receiver, worker):
    endpoint = add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    drain(worker)
    with db.transaction():  # as the admin, committed
        db.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(inbox.user.claims),),
        )
        rotated = db.execute("select public.rotate_webhook_secret(%s) as s", (endpoint["id"],)).fetchone()["s"]
    assert rotated != endpoint["secret"] and 24 <= len(base64.b64decode(rotated[len("whsec_") :], validate=True))
    receiver.secret = rotated
    receiver.received.clear()
    sandbox.inject_sms("+16285559006", inbox.e164, "after rotation")
    drain(worker)
    [hit] = [h for h in receiver.received if b"after rotation" in h["body"]]
    assert hit["verified"] is True
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(hit["body"], hit["headers"])


def test_an_endpoint_whose_secret_cannot_sign_fails_its_delivery_in_words(service, db, make_user, receiver):
    workspace_id = make_user("badsecret").workspace_id
    endpoint = add_endpoint(db, workspace_id, receiver.url, ["message.received"])["id"]
    # Clients cannot set a secret; only the service (or an operator) could store one like this.
    db.execute("update public.webhook_endpoints set secret = 'whsec_' where id = %s", (endpoint,))
    delivery_id = enqueue(db, workspace_id)
    w = WebhookWorker(service.app.extensions["numeraloop.pool"], allow_private_targets=True)
    try:
        drain(w, rounds=2)
    finally:
        w.close()
        row = delivery(db, delivery_id)
        db.execute("delete from public.webhook_endpoints where id = %s", (endpoint,))
    assert row["delivered_at"] is None and row["last_error"].startswith("cannot sign:"), row
    assert receiver.received == [], "nothing unsigned leaves"


def test_failed_delivery_is_retried_later_with_backoff(inbox, sandbox, db, receiver, worker):
    receiver.secret = add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])["secret"]
    drain(worker)
    receiver.received.clear()
    receiver.status = 500
    sandbox.inject_sms("+16285559002", inbox.e164, "retry me")
    drain(worker)
    row = db.execute(
        "select attempts, delivered_at, dead, last_status_code, next_attempt_at > now() as later "
        "from public.webhook_deliveries where workspace_id = %s order by id desc limit 1",
        (inbox.workspace_id,),
    ).fetchone()
    assert row["attempts"] == 1 and row["delivered_at"] is None and not row["dead"]
    assert row["last_status_code"] == 500 and row["later"]
    # Due again (as if the backoff had passed): the endpoint recovered, delivery succeeds.
    receiver.status = 204
    db.execute(
        "update public.webhook_deliveries set next_attempt_at = now() where workspace_id = %s", (inbox.workspace_id,)
    )
    drain(worker)
    assert db.execute(
        "select delivered_at is not null as ok from public.webhook_deliveries where workspace_id = %s "
        "order by id desc limit 1",
        (inbox.workspace_id,),
    ).fetchone()["ok"]
    first, retry = [h for h in receiver.received if b"retry me" in h["body"]]
    assert first["verified"] is True and retry["verified"] is True
    assert first["headers"]["webhook-id"] == retry["headers"]["webhook-id"], "a retry is the same message"


def test_status_events_reach_subscribed_endpoints(service, inbox, db, receiver, worker, sandbox):
    receiver.secret = add_endpoint(db, inbox.workspace_id, receiver.url, ["message.status"])["secret"]
    drain(worker)
    receiver.received.clear()
    r = service.post(
        "/api/v1/messages",
        user=inbox.user,
        json={"workspace_id": inbox.workspace_id, "from": inbox.e164, "to": "+16285559003", "body": "hi"},
    )
    assert r.status_code == 201
    assert sandbox.wait_idle()
    statuses = []
    for _ in range(50):  # the last callback's event may be committed just after wait_idle returns
        drain(worker, rounds=1)
        statuses = [json.loads(h["body"])["data"]["message"]["status"] for h in receiver.received]
        if "delivered" in statuses:
            break
        time.sleep(0.05)
    assert "delivered" in statuses
    assert all(h["headers"]["NumeraLoop-Event"] == "message.status" for h in receiver.received)
    assert all(h["verified"] is True for h in receiver.received)


def test_private_targets_are_refused_unless_allowed(service, inbox, sandbox, db, receiver):
    add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    strict = WebhookWorker(service.app.extensions["numeraloop.pool"])  # production default
    try:
        sandbox.inject_sms("+16285559004", inbox.e164, "to a private address")
        drain(strict)
    finally:
        strict.close()
    assert receiver.received == []
    row = db.execute(
        "select last_error, delivered_at from public.webhook_deliveries where workspace_id = %s "
        "order by id desc limit 1",
        (inbox.workspace_id,),
    ).fetchone()
    assert row["delivered_at"] is None and row["last_error"].startswith("blocked:")


# -- receivers that misbehave -------------------------------------------------------------------
class RawServer:
    """A loopback TCP server handing each connection, once its request has been read, to `answer`."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.open = self.max_open = self.hung_up = 0
        self.threads: list[threading.Thread] = []

    def __enter__(self):
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(10)
        self.sock.close()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _handle(self, conn):
        with self.lock:
            self.open += 1
            self.max_open = max(self.max_open, self.open)
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            try:
                self.answer(conn)
            except (BrokenPipeError, ConnectionResetError):  # the client hung up while we were writing
                self._hung_up()
        except OSError:
            pass
        finally:
            with self.lock:
                self.open -= 1
            conn.close()

    def client_hung_up(self, conn, timeout: float) -> bool:
        """Whether the client closes the connection within `timeout` (it sends nothing more)."""
        readable, _, _ = select.select([conn], [], [], timeout)
        if not readable:
            return False
        try:
            gone = conn.recv(1) == b""
        except ConnectionResetError:
            gone = True
        if gone:
            self._hung_up()
        return gone

    def _hung_up(self):
        with self.lock:
            self.hung_up += 1


class TricklingServer(RawServer):
    """Answers one byte every `interval` seconds and never finishes: every single read the client
    makes succeeds within any per-operation timeout above `interval`."""

    def __init__(self, interval: float = 5.0):
        super().__init__()
        self.interval = interval

    def answer(self, conn):
        reply = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60000
        for i in range(len(reply)):
            conn.sendall(reply[i : i + 1])
            deadline = time.monotonic() + self.interval
            while not self.stop.is_set() and time.monotonic() < deadline:
                if self.client_hung_up(conn, 0.1):
                    return
            if self.stop.is_set():
                return


class HugeResponseServer(RawServer):
    """Answers 200 with a 10 MB body: the first 64 KB at once, the rest only to a client still
    reading after a long while (one that reads it all waits for it; one that stops hangs up)."""

    size = 10 * 1024 * 1024

    def __init__(self):
        super().__init__()
        self.sent_all = False

    def answer(self, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % self.size)
        conn.sendall(b"x" * 65536)
        if self.client_hung_up(conn, 20):
            return
        conn.sendall(b"x" * (self.size - 65536))
        self.sent_all = True


def enqueue(db, workspace_id) -> int:
    db.execute("select private.enqueue_webhook_event(%s, 'message.received', '{\"probe\": true}')", (workspace_id,))
    return db.execute(
        "select max(id) as id from public.webhook_deliveries where workspace_id = %s", (workspace_id,)
    ).fetchone()["id"]


def delivery(db, delivery_id) -> dict:
    return db.execute("select * from public.webhook_deliveries where id = %s", (delivery_id,)).fetchone()


def attempted(row) -> bool:
    return row["delivered_at"] is not None or row["last_error"] is not None


def wait_for(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_trickling_receiver_is_cut_at_the_deadline_and_holds_up_no_other_workspace(service, db, make_user, receiver):
    slow_ws, fast_ws = make_user("trickled").workspace_id, make_user("neighbour").workspace_id
    with TricklingServer(interval=5.0) as trickler:
        endpoints = [
            add_endpoint(db, slow_ws, trickler.url, ["message.received"])["id"],
            add_endpoint(db, fast_ws, receiver.url, ["message.received"])["id"],
        ]
        slow = [enqueue(db, slow_ws), enqueue(db, slow_ws)]
        fast = enqueue(db, fast_ws)  # queued after the slow ones
        worker = WebhookWorker(
            service.app.extensions["numeraloop.pool"],
            concurrency=4,
            per_endpoint=1,
            per_workspace=1,
            deadline_seconds=6,
            allow_private_targets=True,
        )
        stop = threading.Event()
        loop = threading.Thread(target=worker.run_forever, args=(stop, 0.05), daemon=True)
        loop.start()
        try:
            wait_for(lambda: delivery(db, fast)["delivered_at"] is not None)
            first = delivery(db, slow[0])
            assert first["attempts"] == 1 and first["last_error"] is None and first["delivered_at"] is None
            assert trickler.open == 1 and trickler.hung_up == 0, "the slow delivery is still in flight"

            later = enqueue(db, fast_ws)  # while the slow one is in flight, a new event lands too
            wait_for(lambda: delivery(db, later)["delivered_at"] is not None)
            assert delivery(db, slow[0])["last_error"] is None and trickler.hung_up == 0

            wait_for(lambda: delivery(db, slow[0])["last_error"] is not None)
            first = delivery(db, slow[0])
            assert first["last_error"].startswith("deadline exceeded") and first["delivered_at"] is None
            wait_for(lambda: trickler.hung_up >= 1)  # the worker cut the connection, not the receiver
            assert trickler.max_open == 1, "one slot for the endpoint, though two of its deliveries were due"
        finally:
            stop.set()
            trickler.stop.set()
            loop.join(30)
            worker.close()
            db.execute("delete from public.webhook_endpoints where id = any(%s)", (endpoints,))


def test_only_the_start_of_a_huge_response_is_read(service, db, make_user):
    workspace_id = make_user("verbose").workspace_id
    worker = WebhookWorker(service.app.extensions["numeraloop.pool"], allow_private_targets=True)
    with HugeResponseServer() as huge:
        endpoint = add_endpoint(db, workspace_id, huge.url, ["message.received"])["id"]
        delivery_id = enqueue(db, workspace_id)
        try:
            deadline = time.monotonic() + 60
            while not attempted(delivery(db, delivery_id)) and time.monotonic() < deadline:
                worker.run_once()
                assert worker.wait_idle(60)
            row = delivery(db, delivery_id)
            assert row["delivered_at"] is not None and row["last_status_code"] == 200, row
            assert row["last_response_excerpt"] == "x" * worker_module.RESPONSE_EXCERPT_BYTES
            wait_for(lambda: huge.hung_up >= 1)
            assert not huge.sent_all, "the worker hung up after the excerpt instead of reading 10 MB"
        finally:
            worker.close()
            db.execute("delete from public.webhook_endpoints where id = %s", (endpoint,))


# -- private targets, however spelled --------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254 (cloud metadata)
        "https://[64:ff9b::808:808]/hook",  # NAT64 even of a public address: the translator's network decides
        "https://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
        "https://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
        "https://[2002:808:808::1]/hook",  # 6to4
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
        "https://[::ffff:8.8.8.8]/hook",
        "https://[::127.0.0.1]/hook",  # IPv4-compatible
        "https://[::1]/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
    ],
)
def test_nat64_6to4_and_ipv4_in_ipv6_literals_are_refused(url):
    with pytest.raises(BlockedTarget):
        check_public_target(url)


def test_public_literals_pass_the_guard():
    check_public_target("https://8.8.8.8/hook")
    check_public_target("https://[2606:4700:4700::1111]/hook")


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in answers[host]
        ]

    monkeypatch.setattr(worker_module.socket, "getaddrinfo", getaddrinfo)


def test_a_name_resolving_to_nat64_or_6to4_is_refused(monkeypatch):
    fake_dns(
        monkeypatch,
        {
            "nat64.example.test": ["64:ff9b::a00:1"],
            "sixtofour.example.test": ["2002:a00:1::1"],
            "mixed.example.test": ["8.8.8.8", "64:ff9b::7f00:1"],
        },
    )
    for host in ("nat64.example.test", "sixtofour.example.test", "mixed.example.test"):
        with pytest.raises(BlockedTarget):
            check_public_target(f"https://{host}/hook")


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch, receiver):
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    url = f"http://hooks.example.test:{port}/hooks"
    with pytest.raises(BlockedTarget):
        post(url, b"{}", {"Content-Type": "application/json"})
    assert receiver.received == []
    status, _ = post(url, b"{}", {"Content-Type": "application/json"}, allow_private=True)  # local development
    assert status == 200 and receiver.received[0]["headers"]["Host"] == f"hooks.example.test:{port}"


def test_a_host_whose_dns_never_answers_fails_at_the_deadline(monkeypatch):
    answered = threading.Event()

    def never_answers(*args, **kwargs):
        answered.wait(30)
        raise socket.gaierror("gave up")

    monkeypatch.setattr(worker_module.socket, "getaddrinfo", never_answers)
    try:
        with pytest.raises(worker_module.DeadlineExceeded):
            post("https://slow-dns.example.test/hook", b"{}", {}, deadline_seconds=0.5)
    finally:
        answered.set()


def test_the_worker_records_a_nat64_target_as_blocked(service, db, make_user):
    workspace_id = make_user("nat64").workspace_id
    endpoint = add_endpoint(db, workspace_id, "https://[64:ff9b::7f00:1]/hook", ["message.received"])["id"]
    delivery_id = enqueue(db, workspace_id)
    strict = WebhookWorker(service.app.extensions["numeraloop.pool"])  # production default
    try:
        deadline = time.monotonic() + 60
        while not attempted(delivery(db, delivery_id)) and time.monotonic() < deadline:
            drain(strict, rounds=1)
    finally:
        strict.close()
        row = delivery(db, delivery_id)
        db.execute("delete from public.webhook_endpoints where id = %s", (endpoint,))
    assert row["delivered_at"] is None and row["last_error"].startswith("blocked:"), row


# -- the receiver snippet the settings page shows ---------------------------------------------------
def test_the_settings_pages_receiver_snippet_verifies_a_real_delivery(
    service, inbox, sandbox, db, receiver, worker, monkeypatch
):
    """The Python the settings page shows, run as a receiver would run it: it accepts what the
    worker sent, and refuses the same delivery altered or unsigned."""
    endpoint = add_endpoint(db, inbox.workspace_id, receiver.url, ["message.received"])
    drain(worker)
    receiver.received.clear()
    sandbox.inject_sms("+16285559007", inbox.e164, "snippet")
    drain(worker)
    [hit] = [h for h in receiver.received if b"snippet" in h["body"]]

    page = service.app.jinja_env.get_template("settings/_webhook_snippet.html").render(webhook_path="/hooks/numeraloop")
    code = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1))
    monkeypatch.setenv("NUMERALOOP_WEBHOOK_SECRET", endpoint["secret"])
    namespace: dict = {"__name__": "receiver_snippet"}
    exec(compile(code, "_webhook_snippet.html", "exec"), namespace)
    client = namespace["app"].test_client()
    headers = {k: v for k, v in hit["headers"].items() if k.lower().startswith("webhook-")}
    assert (
        client.post("/hooks/numeraloop", data=hit["body"], headers=headers, content_type="application/json").status_code
        == 204
    )
    assert (
        client.post(
            "/hooks/numeraloop",
            data=hit["body"].replace(b"snippet", b"snipped"),
            headers=headers,
            content_type="application/json",
        ).status_code
        == 401
    )
    assert client.post("/hooks/numeraloop", data=hit["body"], content_type="application/json").status_code == 401

    plain = service.app.jinja_env.get_template("settings/_webhook_snippet.html").render()
    assert '@app.post("/numeraloop/webhooks")' in html.unescape(plain), "a path of its own when given none"
    assert endpoint["secret"] not in page + plain, "the secret is shown once, elsewhere, never in the example"
