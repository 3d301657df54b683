"""Segment counting: GSM-7 (with double-width extension characters) and UCS-2."""

import pytest

from numeraloop.messaging.segments import count


@pytest.mark.parametrize(
    "body,encoding,units,segments",
    [
        ("", "gsm7", 0, 1),
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("€" * 80, "gsm7", 160, 1),  # extension characters count double
        ("€" * 81, "gsm7", 162, 2),
        ("a" * 152 + "€" + "a" * 10, "gsm7", 164, 2),  # the escape pair moves whole to segment 2
        ("Ünïcödé? no: ï is not GSM", "ucs2", 25, 1),
        ("é" * 160, "gsm7", 160, 1),  # é is in the GSM alphabet
        ("ê" * 70, "ucs2", 70, 1),
        ("ê" * 71, "ucs2", 71, 2),
        ("ê" * 134, "ucs2", 134, 2),
        ("ê" * 135, "ucs2", 135, 3),
        ("😀" * 35, "ucs2", 70, 1),  # each emoji is a surrogate pair
        ("😀" * 36, "ucs2", 72, 2),
        ("a" * 66 + "😀", "ucs2", 68, 1),
        ("a" * 66 + "😀" + "a" * 66, "ucs2", 134, 3),  # the pair cannot straddle segments 1 and 2
    ],
)
def test_count(body, encoding, units, segments):
    info = count(body)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
