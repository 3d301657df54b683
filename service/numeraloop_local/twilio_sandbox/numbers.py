"""Phone numbers for sale: a deterministic, fictional inventory.

Every number the sandbox sells is in the NANP 555-0100..555-0199 block, which is
reserved for fiction, so a sandbox number can never be a real person's. Searches are
deterministic (same query, same answer) and skip numbers already owned by any account.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import ids
from .errors import TwilioApiError, invalid_parameter
from .state import PhoneNumber, SandboxState

PLACES: dict[str, dict] = {
    "415": {
        "iso_country": "US",
        "locality": "San Francisco",
        "region": "CA",
        "postal_code": "94105",
        "lata": "722",
        "rate_center": "SNFC CNTL",
        "latitude": 37.7749,
        "longitude": -122.4194,
    },
    "212": {
        "iso_country": "US",
        "locality": "New York",
        "region": "NY",
        "postal_code": "10001",
        "lata": "132",
        "rate_center": "NWYRCYZN01",
        "latitude": 40.7128,
        "longitude": -74.006,
    },
    "312": {
        "iso_country": "US",
        "locality": "Chicago",
        "region": "IL",
        "postal_code": "60601",
        "lata": "358",
        "rate_center": "CHICAGO",
        "latitude": 41.8781,
        "longitude": -87.6298,
    },
    "512": {
        "iso_country": "US",
        "locality": "Austin",
        "region": "TX",
        "postal_code": "78701",
        "lata": "558",
        "rate_center": "AUSTIN",
        "latitude": 30.2672,
        "longitude": -97.7431,
    },
    "206": {
        "iso_country": "US",
        "locality": "Seattle",
        "region": "WA",
        "postal_code": "98101",
        "lata": "674",
        "rate_center": "SEATTLE",
        "latitude": 47.6062,
        "longitude": -122.3321,
    },
    "416": {
        "iso_country": "CA",
        "locality": "Toronto",
        "region": "ON",
        "postal_code": "M5H",
        "lata": None,
        "rate_center": "TORONTO",
        "latitude": 43.6532,
        "longitude": -79.3832,
    },
    "604": {
        "iso_country": "CA",
        "locality": "Vancouver",
        "region": "BC",
        "postal_code": "V6B",
        "lata": None,
        "rate_center": "VANCOUVER",
        "latitude": 49.2827,
        "longitude": -123.1207,
    },
}
TOLL_FREE_PREFIXES = ("800", "833", "844", "855", "866", "877", "888")
SUPPORTED_COUNTRIES = {"US", "CA"}
_KEYPAD = {
    c: d
    for d, letters in {
        "2": "ABC",
        "3": "DEF",
        "4": "GHI",
        "5": "JKL",
        "6": "MNO",
        "7": "PQRS",
        "8": "TUV",
        "9": "WXYZ",
    }.items()
    for c in letters
}


def _fictional(prefix: str) -> Iterator[str]:
    for line in range(100, 200):
        yield f"+1{prefix}5550{line:03d}"


def candidates(country: str, kind: str, area_code: str | None = None) -> Iterator[tuple[str, dict]]:
    """(E.164, place) pairs for a country and kind ('local' or 'toll-free'), in a fixed order."""
    if kind == "toll-free":
        prefixes = [p for p in TOLL_FREE_PREFIXES if area_code in (None, p)]
        for prefix in prefixes:
            for number in _fictional(prefix):
                yield number, {"iso_country": country}
        return
    if area_code is not None:
        place = PLACES.get(area_code)
        if place is None and country == "US" and re.fullmatch(r"[2-9]\d\d", area_code):
            place = {"iso_country": "US"}  # any NANP area code can be searched; we just know less about it
        prefixes = [area_code] if place and place["iso_country"] == country else []
    else:
        prefixes = [code for code, place in PLACES.items() if place["iso_country"] == country]
    for prefix in prefixes:
        place = PLACES.get(prefix, {"iso_country": country})
        for number in _fictional(prefix):
            yield number, place


def contains_pattern(raw: str) -> re.Pattern:
    """Twilio's Contains: digits, letters (read as keypad digits) and `*` for any one digit."""
    out = []
    for ch in raw.upper():
        if ch.isdigit():
            out.append(ch)
        elif ch == "*":
            out.append(r"\d")
        elif ch in _KEYPAD:
            out.append(_KEYPAD[ch])
        elif ch == "+" and not out:
            continue
        else:
            raise invalid_parameter(f"Invalid value for Contains: {raw!r}")
    return re.compile("".join(out))


def search(
    state: SandboxState, country: str, kind: str, area_code: str | None, contains: str | None, limit: int
) -> list[tuple[str, dict]]:
    pattern = contains_pattern(contains) if contains else None
    found = []
    with state.lock:
        owned = {n.phone_number for n in state.numbers.values()}
    for number, place in candidates(country, kind, area_code):
        if number in owned or (pattern and not pattern.search(number[1:])):
            continue
        found.append((number, place))
        if len(found) >= limit:
            break
    return found


def buy(
    state: SandboxState, account_sid: str, phone_number: str | None, area_code: str | None, settings: dict
) -> PhoneNumber:
    """IncomingPhoneNumbers create: a given number if free, else the first free one in AreaCode."""
    with state.lock:
        if phone_number:
            if not ids.is_e164(phone_number):
                raise invalid_parameter(f"The phone number {phone_number} is invalid.", 21421)
            if state.number_by_e164(phone_number) is not None:
                raise invalid_parameter(f"The phone number {phone_number} is not available.", 21422)
        elif area_code:
            if not re.fullmatch(r"[2-9]\d\d", area_code):
                raise invalid_parameter(f"AreaCode {area_code} is not a valid area code.", 21451)
            kind = "toll-free" if area_code in TOLL_FREE_PREFIXES else "local"
            country = PLACES.get(area_code, {"iso_country": "US"})["iso_country"]
            free = search(state, country, kind, area_code, None, 1)
            if not free:
                raise invalid_parameter(f"No phone numbers found in area code {area_code}.", 21452)
            phone_number = free[0][0]
        else:
            raise TwilioApiError(400, 21421, "A PhoneNumber or AreaCode is required.")
        kind = "toll-free" if phone_number[2:5] in TOLL_FREE_PREFIXES else "local"
        return state.add_number(account_sid, phone_number, kind, **settings)
