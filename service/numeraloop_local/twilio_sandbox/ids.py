"""Identifiers and formats as Twilio writes them: SIDs, RFC 2822 dates, E.164 numbers."""

from __future__ import annotations

import datetime as dt
import random
import re
import secrets
from email.utils import format_datetime

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
SID_PATTERN = {p: re.compile(rf"^{p}[0-9a-f]{{32}}$") for p in ("AC", "PN", "SM", "MM", "CA", "AP", "SK", "MG", "RE")}


# SIDs name things, they guard nothing: a generator seeded once from the OS, because os.urandom
# per message (a system call, slow on some machines) was a large share of the cost of a send.
_sid_random = random.Random(secrets.randbits(128))


def new_sid(prefix: str) -> str:
    """Two letters naming the resource type, then 32 lowercase hex digits."""
    return f"{prefix}{_sid_random.getrandbits(128):032x}"


def new_secret() -> str:
    """Auth tokens and API key secrets: 32 hex characters, like Twilio's."""
    return secrets.token_hex(16)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def rfc2822(value: dt.datetime | None) -> str | None:
    """Twilio's REST dates: 'Thu, 30 Jul 2015 20:00:00 +0000'."""
    if value is None:
        return None
    return format_datetime(value.astimezone(dt.UTC))


def is_e164(number: str | None) -> bool:
    return bool(number) and bool(E164.match(number))


def national_format(number: str) -> str:
    """Twilio's default friendly_name for a NANP number: '(415) 555-0100'."""
    if number.startswith("+1") and len(number) == 12:
        d = number[2:]
        return f"({d[:3]}) {d[3:6]}-{d[6:]}"
    return number


def country_of(number: str) -> str | None:
    """ISO country for the FromCountry/ToCountry webhook parameters (NANP only; else unknown)."""
    if number.startswith("+1") and len(number) == 12:
        # Canadian area codes the sandbox hands out; everything else in NANP reads as US.
        return "CA" if number[2:5] in {"204", "416", "514", "604", "613", "647", "778"} else "US"
    return None
