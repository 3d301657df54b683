"""/api/v1: the web client's calls that need a server-side secret. Bearer = Supabase access token."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import me  # noqa: E402,F401  (routes register on import)
