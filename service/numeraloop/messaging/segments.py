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
    units: int     # septets (GSM-7) or UTF-16 code units (UCS-2)
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
