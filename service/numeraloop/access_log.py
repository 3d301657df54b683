"""public.access_log: one row per authenticated /api/v1 request (who, which route, outcome,
from where), written after the response is decided. Writing it never fails the request."""

from __future__ import annotations

import ipaddress
import logging

from flask import Blueprint, g, request

from .db import as_service, current_pool

log = logging.getLogger(__name__)


def _client_ip() -> str | None:
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return None


def install(bp: Blueprint) -> None:
    @bp.after_request
    def _record(response):
        user_id = g.get("user_id")
        if not user_id:
            return response
        # The route's pattern, not the URL: concrete paths and query strings can carry numbers.
        route = request.url_rule.rule if request.url_rule is not None else request.path
        try:
            with as_service(current_pool()) as conn:
                conn.execute(
                    "select private.write_access_log(%s, %s, %s, %s, %s, %s, %s)",
                    (
                        user_id,
                        request.method,
                        route,
                        response.status_code,
                        _client_ip(),
                        (request.user_agent.string or None),
                        g.get("request_id"),
                    ),
                )
        except Exception:
            log.warning("could not write the access log for %s %s", request.method, route, exc_info=True)
        return response
