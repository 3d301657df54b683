"""/api/v1: the web client's calls that need a server-side secret. Bearer = Supabase access token."""

from __future__ import annotations

from flask import Blueprint

from .. import access_log
from ..auth import authenticate_request

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Every /api/v1 route runs for a verified user (g.claims, g.user_id); none is public.
bp.before_request(authenticate_request)
access_log.install(bp)
