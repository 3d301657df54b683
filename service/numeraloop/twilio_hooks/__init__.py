"""Everything Twilio calls (/twilio/...): each request's X-Twilio-Signature is checked first.

The routes live with their capability (messaging/inbound.py, messaging/status.py, voice/...);
this package holds the blueprint and the signature check they share.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
