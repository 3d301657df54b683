"""Decoding Stripe's form encoding, as stripe-python writes it.

`metadata[workspace_id]=w`, `line_items[0][price]=p`, `line_items[0][quantity]=1`,
`subscription_data[metadata][k]=v`, `expand[0]=subscription` become nested dicts and lists.
"""

from __future__ import annotations

import re

_PART = re.compile(r"\[([^\[\]]*)\]")


def _split(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    parts = [head]
    if rest:
        parts += _PART.findall("[" + rest)
    return parts


def _listify(node):
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def decode(pairs) -> dict:
    """(key, value) pairs in request order → nested params. `a[]=x` appends, like Rack."""
    root: dict = {}
    for key, value in pairs:
        parts = _split(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[] — the next free index
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ValueError(f"conflicting parameter {key}")
    return _listify(root)
