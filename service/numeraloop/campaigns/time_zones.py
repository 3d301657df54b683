"""Recipients' time zones for quiet hours: phonenumbers' prefix -> time zones data, loaded into
private.phone_time_zones, where the claim looks each recipient's number up by its longest prefix.

The data is the phonenumbers package's (third-party, so never in a migration); each worker loads
the version it runs with once, and a database that already holds that version is left alone.
"""

from __future__ import annotations

import json
import logging
import threading

import phonenumbers
from phonenumbers.tzdata import TIMEZONE_DATA

from ..db import as_service

log = logging.getLogger(__name__)

_loaded: set[int] = set()
_lock = threading.Lock()


def ensure_loaded(pool) -> None:
    """Load phonenumbers' time-zone data into the database unless this version is already there."""
    with _lock:
        if id(pool) in _loaded:
            return
        with as_service(pool) as conn:
            rows = conn.execute(
                "select private.load_phone_time_zones(%s, %s::jsonb) as n",
                (phonenumbers.__version__, json.dumps({k: list(v) for k, v in TIMEZONE_DATA.items()})),
            ).fetchone()["n"]
        if rows:
            log.info("loaded %d number prefixes' time zones (phonenumbers %s)", rows, phonenumbers.__version__)
        _loaded.add(id(pool))
