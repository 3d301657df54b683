"""Every route of an app under a prefix, read from its url_map, so tests that must cover every
route (signature checks, authentication) also cover the routes added after them."""

from __future__ import annotations

import re
import uuid

PATH_PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})


def placeholder_path(rule: str) -> str:
    """The rule's path with a plausible value for each parameter (a UUID for uuid, 1 for int)."""

    def value(m):
        return {"uuid": str(uuid.uuid4()), "int": "1"}.get(m.group(1) or "", "placeholder")

    return PATH_PARAMETER.sub(value, rule)


def routes_under(app, prefix: str, *, skip_methods=SKIPPED_METHODS, skip_endpoints=()) -> list[tuple[str, str]]:
    """(path with placeholders, method) of every rule under `prefix`; fails when there is none."""
    found = sorted(
        {
            (placeholder_path(rule.rule), method)
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith(prefix) and rule.endpoint not in skip_endpoints
            for method in rule.methods - set(skip_methods)
        }
    )
    assert found, f"no routes under {prefix}"
    return found
