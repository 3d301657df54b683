"""Audit log writes: one call, never a secret in `details`."""

from __future__ import annotations

import json

import psycopg
from flask import g, has_request_context


def record(
    conn: psycopg.Connection,
    *,
    workspace_id: str | None,
    actor: str | None,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict | None = None,
) -> None:
    request_id = g.get("request_id") if has_request_context() else None
    conn.execute(
        "select private.write_audit_log(%s, %s, %s, %s, %s, %s::jsonb, %s)",
        (workspace_id, actor, action, target_type, target_id, json.dumps(details or {}), request_id),
    )
