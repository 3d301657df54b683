"""The catcher's HTTP side: a JSON API over the received messages, and two pages for people.

    GET    /api/messages?to=<address>&limit=<n>   newest first: id, received_at, from, to, subject, size
    GET    /api/messages/<id>                     one message: also text, html, headers, envelope
    GET    /api/messages/<id>/raw                 as received (message/rfc822)
    DELETE /api/messages[/<id>]                   forget all of them, or one
    GET    /api/health
    GET    /, /messages/<id>                      the same, as HTML, to read mail while developing

Errors are `{"error": {"code", "message"}}` with a 4xx status, as every control API here.
"""

from __future__ import annotations

import html

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..http_server import ControlError, http_error_body, install_control_errors, new_app
from .store import MessageStore, detail, summary

api = Blueprint("smtp_catcher_api", __name__, url_prefix="/api")
pages = Blueprint("smtp_catcher_pages", __name__)
install_control_errors(api)


def store() -> MessageStore:
    return current_app.extensions["numeraloop_local.smtp_catcher"]


def _message(message_id: str) -> dict:
    message = store().get(message_id)
    if message is None:
        raise ControlError(404, "not_found", f"No message {message_id!r}: it never arrived or was deleted.")
    return message


@api.get("/health")
def health():
    return jsonify({"status": "ok"})


@api.get("/messages")
def list_messages():
    limit = request.args.get("limit")
    if limit is not None and (not limit.isdigit() or int(limit) < 1):
        raise ControlError(400, "invalid_limit", "limit must be a positive whole number")
    found = store().list(to=request.args.get("to") or None, limit=int(limit) if limit else None)
    return jsonify({"messages": [summary(m) for m in found]})


@api.get("/messages/<message_id>")
def get_message(message_id: str):
    return jsonify(detail(_message(message_id)))


@api.get("/messages/<message_id>/raw")
def raw_message(message_id: str):
    return Response(_message(message_id)["raw"], mimetype="message/rfc822")


@api.delete("/messages")
def delete_messages():
    store().delete()
    return "", 204


@api.delete("/messages/<message_id>")
def delete_message(message_id: str):
    if not store().delete(message_id):
        raise ControlError(404, "not_found", f"No message {message_id!r}.")
    return "", 204


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:15px system-ui,sans-serif;margin:2rem}}td,th{{padding:.3rem .8rem;text-align:left}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:1rem}}
iframe{{width:100%;height:28rem;border:1px solid #ccc}}</style>
</head><body>{body}</body></html>"""


@pages.get("/")
def index():
    rows = "".join(
        f"<tr><td>{html.escape(m['received_at'])}</td><td>{html.escape(', '.join(m['to']))}</td>"
        f'<td><a href="/messages/{m["id"]}">{html.escape(m["subject"] or "(no subject)")}</a></td></tr>'
        for m in store().list(limit=200)
    )
    body = (
        "<h1>SMTP catcher</h1><p>Mail sent to this machine's catcher, newest first. Nothing here leaves it.</p>"
        f"<table><tr><th>Received</th><th>To</th><th>Subject</th></tr>{rows}</table>"
        if rows
        else "<h1>SMTP catcher</h1><p>No mail yet.</p>"
    )
    return _PAGE.format(title="SMTP catcher", body=body)


@pages.get("/messages/<message_id>")
def show(message_id: str):
    message = store().get(message_id)
    if message is None:
        return _PAGE.format(title="Not found", body="<p>No such message. <a href='/'>All mail</a></p>"), 404
    # The HTML part is shown sandboxed: no scripts, no requests on the page's behalf.
    frame = f'<iframe sandbox srcdoc="{html.escape(message["html"], quote=True)}"></iframe>' if message["html"] else ""
    body = (
        f'<p><a href="/">All mail</a></p><h1>{html.escape(message["subject"] or "(no subject)")}</h1>'
        f"<p>From {html.escape(message['from'])} to {html.escape(', '.join(message['to']))}, "
        f"{html.escape(message['received_at'])}</p>{frame}<pre>{html.escape(message['text'])}</pre>"
    )
    return _PAGE.format(title=html.escape(message["subject"]), body=body)


def create_catcher_app(messages: MessageStore) -> Flask:
    app = new_app("numeraloop_local.smtp_catcher")
    app.extensions["numeraloop_local.smtp_catcher"] = messages
    app.register_blueprint(api)
    app.register_blueprint(pages)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        body, status = http_error_body(exc)
        return jsonify(body), status

    return app
