"""Phone numbers as NumeraLoop stores them: E.164, read with a default country when the
input is national ("(415) 555-0100"). One place, so the send API, the CSV import and
browser calls agree on what a valid number is."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str, default_region: str | None = None) -> str | None:
    """E.164 for a valid number, else None."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str | None:
    """The ISO country of an E.164 number (to read national numbers dialled from it)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None
