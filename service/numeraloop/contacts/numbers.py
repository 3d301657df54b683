"""Phone numbers of a CSV import read as phones.to_e164 reads them, about ten times faster.

phones.to_e164 (phonenumbers' parse, is_valid_number and format) costs 50-130 microseconds a
number, a minute or two for a million-row file on its own. A column of phone numbers is almost
always plain: digits with spaces, dashes, dots or brackets, perhaps a leading +. For those,
NumberReader follows phonenumbers' own steps (country calling code, international and national
prefixes, the region's patterns) with the region's patterns compiled once per number length,
and gives the same answer; anything else (letters, extensions, other scripts) goes to
phones.to_e164 itself. tests/contacts/test_numbers.py holds the two to the same answers over
every region's example numbers written every way.
"""

from __future__ import annotations

import re

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers import phonenumberutil as pu

from .. import phones

# Digits with the separators people type, and a + only in front.
PLAIN = re.compile(r"\+?[0-9 ().\-]*[0-9][0-9 ().\-]*")
NOT_DIGIT = re.compile(r"[^0-9]")
NON_GEO = pu.REGION_CODE_FOR_NON_GEO_ENTITY
_NOT_VIABLE_AFTER_STRIP = (
    pu.ValidationResult.TOO_SHORT,
    pu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    pu.ValidationResult.INVALID_LENGTH,
)
_MISSING = object()

# phonenumbers' internal steps this reader calls; without them (another phonenumbers) every
# number goes to phones.to_e164.
_STEPS = (
    "_extract_country_code",
    "_maybe_strip_national_prefix_carrier_code",
    "_test_number_length",
    "_match_national_number",
    "region_code_for_country_code",
    "country_code_for_valid_region",
)
AVAILABLE = all(hasattr(pu, name) for name in _STEPS)


class _Patterns:
    """One region's (or non-geographic entity's) metadata, with what validity needs compiled."""

    def __init__(self, metadata):
        self.metadata = metadata
        self.general = metadata.general_desc
        types = [
            metadata.premium_rate,
            metadata.toll_free,
            metadata.shared_cost,
            metadata.voip,
            metadata.personal_number,
            metadata.pager,
            metadata.uan,
            metadata.voicemail,
            metadata.fixed_line,
        ]
        if not metadata.same_mobile_and_fixed_line_pattern:
            types.append(metadata.mobile)
        self.types = [t for t in types if t is not None and t.national_number_pattern]
        self.leading = re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None
        iddp = metadata.international_prefix
        self.idd = re.compile(iddp) if iddp is not None else None
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self._by_length: dict[int, tuple[re.Pattern, re.Pattern] | None] = {}
        self._length_results: dict[int, int] = {}

    def length_result(self, national: str) -> int:
        """phonenumbers' _test_number_length(national, metadata): it depends on the length alone."""
        n = len(national)
        found = self._length_results.get(n)
        if found is None:
            found = self._length_results[n] = pu._test_number_length(national, self.metadata)
        return found

    def strip_national_prefix(self, number: str) -> str:
        """The number after _maybe_strip_national_prefix_carrier_code, which leaves it as it is
        unless the region's national prefix pattern matches its start."""
        if self.national_prefix is None or not number or not self.national_prefix.match(number):
            return number
        return pu._maybe_strip_national_prefix_carrier_code(number, self.metadata)[1]

    @staticmethod
    def _fits(desc, length: int) -> bool:
        return not desc.possible_length or length in desc.possible_length

    def valid(self, nsn: str) -> bool:
        """phonenumbers' _number_type_helper(nsn, metadata) != UNKNOWN."""
        n = len(nsn)
        patterns = self._by_length.get(n, _MISSING)
        if patterns is _MISSING:
            patterns = None
            general = self.general
            if general is not None and general.national_number_pattern and self._fits(general, n):
                types = [t.national_number_pattern for t in self.types if self._fits(t, n)]
                if types:
                    patterns = (
                        re.compile(general.national_number_pattern),
                        re.compile("|".join(f"(?:{p})" for p in types)),
                    )
            self._by_length[n] = patterns
        return (
            patterns is not None and patterns[0].fullmatch(nsn) is not None and patterns[1].fullmatch(nsn) is not None
        )


_regions: dict[tuple[int, str], _Patterns | None] = {}
_countries: dict[int, tuple[bool, list[tuple[_Patterns, bool]]]] = {}


def _patterns_for(country_code: int, region: str) -> _Patterns | None:
    """The patterns of PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)."""
    key = (country_code, region)
    if key not in _regions:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        _regions[key] = _Patterns(metadata) if metadata is not None else None
    return _regions[key]


def _regions_of(country_code: int) -> tuple[bool, list[tuple[_Patterns, bool]]]:
    """Whether the calling code has one region, and its regions that have metadata in phonenumbers'
    order, each with its patterns and whether is_valid_number_for_region may accept it for this code."""
    found = _countries.get(country_code)
    if found is None:
        regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
        known = []
        for region in regions:
            patterns = _patterns_for(country_code, region.upper())
            if patterns is not None:
                known.append((patterns, region == NON_GEO or country_code == pu.country_code_for_valid_region(region)))
        found = _countries[country_code] = (len(regions) == 1, known)
    return found


def _is_valid(country_code: int, nsn: str) -> bool:
    """phonenumbers.is_valid_number for (country_code, national significant number): the region is
    the only one of the code, or the first whose leading digits or patterns take the number; then
    the number must match that region's patterns."""
    single, regions = _regions_of(country_code)
    if single:
        return bool(regions) and regions[0][1] and regions[0][0].valid(nsn)
    for patterns, allowed in regions:
        if patterns.leading is not None:
            if patterns.leading.match(nsn):
                return allowed and patterns.valid(nsn)
        elif patterns.valid(nsn):
            return allowed
    return False


class NumberReader:
    """to_e164(raw) for one default region, as phones.to_e164(raw, default_region) answers."""

    def __init__(self, default_region: str):
        self.region = default_region
        metadata = PhoneMetadata.metadata_for_region(default_region.upper(), None)
        self.default = _Patterns(metadata) if metadata is not None and AVAILABLE else None

    def to_e164(self, raw: str) -> str | None:
        if self.default is None or len(raw) > 64 or not PLAIN.fullmatch(raw):
            return phones.to_e164(raw, self.region)
        digits = NOT_DIGIT.sub("", raw)
        if len(digits) < 3:
            return phones.to_e164(raw, self.region)
        found = self._split(digits, raw[0] == "+")
        if found is None:
            return phones.to_e164(raw, self.region)
        country_code, national, patterns = found
        if len(national) < pu._MIN_LENGTH_FOR_NSN:
            return None
        # The national prefix (and carrier code) go if what is left still has a possible length.
        potential = patterns.strip_national_prefix(national)
        if potential is not national and patterns.length_result(potential) not in _NOT_VIABLE_AFTER_STRIP:
            national = potential
        if not pu._MIN_LENGTH_FOR_NSN <= len(national) <= pu._MAX_LENGTH_FOR_NSN:
            return None
        # phonenumbers keeps leading zeros as "Italian" zeros: the significant number is the digits as written.
        return f"+{country_code}{national}" if _is_valid(country_code, national) else None

    def _split(self, digits: str, plus: bool):
        """(country calling code, national number, patterns of the metadata it is read with), as parse() finds them;
        None where this reader does not follow parse() (it then gives the number to phonenumbers)."""
        default = self.default
        if not plus:
            match = default.idd.match(digits) if default.idd is not None else None
            if match is not None and not digits[match.end() : match.end() + 1] == "0":
                plus, digits = True, digits[match.end() :]  # an international prefix: as if it were a +
        if plus:
            if len(digits) <= pu._MIN_LENGTH_FOR_NSN:
                return None
            country_code, national = pu._extract_country_code(digits)
            if country_code == 0:
                return None
        else:
            # Written with the default region's own country code in front, without a +?
            metadata = default.metadata
            code = str(metadata.country_code)
            country_code = 0
            if digits.startswith(code):
                potential = default.strip_national_prefix(digits[len(code) :])
                if (
                    not pu._match_national_number(digits, metadata.general_desc, False)
                    and pu._match_national_number(potential, metadata.general_desc, False)
                ) or default.length_result(digits) == pu.ValidationResult.TOO_LONG:
                    country_code, national = metadata.country_code, potential
            if country_code == 0:
                return metadata.country_code, digits, default
        number_region = pu.region_code_for_country_code(country_code)
        if number_region == self.region:
            return country_code, national, default
        patterns = _patterns_for(country_code, number_region)
        if patterns is None:
            return None
        return country_code, national, patterns
