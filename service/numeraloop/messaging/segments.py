"""How many SMS segments a body costs, and in which encoding.

GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table
(extension characters take two septets: an escape plus the character); UCS-2 otherwise.
A single segment holds 160 septets or 70 UCS-2 units; a concatenated message's segments
hold 153 and 67, because the user-data header takes the rest. An escape pair or a
surrogate pair is never split across two segments, as handsets require.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def _pack(unit_sizes: list[int], single: int, multi: int) -> int:
    total = sum(unit_sizes)
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in unit_sizes:
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def count(body: str) -> SegmentInfo:
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        sizes = [2 if c in GSM7_EXTENSION else 1 for c in body]
        return SegmentInfo("gsm7", sum(sizes), _pack(sizes, 160, 153))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in body]  # astral characters are surrogate pairs
    return SegmentInfo("ucs2", sum(sizes), _pack(sizes, 70, 67))


# Characters people type (or word processors insert) that force UCS-2, and the GSM-7 text
# that reads the same; sending the replacement keeps a message at 160 characters a segment.
GSM7_REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u2022": "-",
    "\u00e1": "a",
    "\u00ed": "i",
    "\u00f3": "o",
    "\u00fa": "u",
    "\u00e2": "a",
    "\u00ea": "e",
    "\u00ee": "i",
    "\u00f4": "o",
    "\u00fb": "u",
    "\u00e7": "c",
    "\u00e3": "a",
    "\u00f5": "o",
    "\u00eb": "e",
    "\u00ef": "i",
    "\u00c1": "A",
    "\u00cd": "I",
    "\u00d3": "O",
    "\u00da": "U",
    "\u00c2": "A",
    "\u00ca": "E",
    "\u00c8": "E",
}


def ucs2_characters(body: str) -> list[tuple[str, str | None]]:
    """Each distinct character that forces UCS-2, in order of appearance, with its GSM-7 replacement (or None)."""
    seen: dict[str, str | None] = {}
    for c in body:
        if c not in GSM7_BASIC and c not in GSM7_EXTENSION and c not in seen:
            seen[c] = GSM7_REPLACEMENTS.get(c)
    return list(seen.items())


def transliterate(body: str) -> str:
    """The body with every replaceable UCS-2 character swapped for its GSM-7 form."""
    return "".join(GSM7_REPLACEMENTS.get(c, c) for c in body)
