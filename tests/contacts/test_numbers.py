"""contacts.numbers.NumberReader answers exactly as phones.to_e164 (phonenumbers' parse,
is_valid_number and format): every region's example numbers of every type, written in E.164,
international and national format, with a digit changed, one too many or too few, with
international and national prefixes in front, read with default countries whose prefixes and
rules differ."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from numeraloop import phones
from numeraloop.contacts import numbers
from numeraloop.contacts.numbers import NumberReader

TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)
# Default countries with different international prefixes (011, 00, 8~10), national prefixes
# (1, 0, 8), transform rules (AR, MX), shared calling codes (US/CA, RU/KZ, GB/JE) and Italian
# leading zeros (IT).
DEFAULT_COUNTRIES = ("US", "CA", "JE", "DE", "IT", "AR", "MX", "KZ")


def sample() -> list[str]:
    rng = random.Random(20261201)
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for fmt in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL):
                text = phonenumbers.format_number(example, fmt)
                digits = [i for i, c in enumerate(text) if c.isdigit()]
                changed = list(text)
                changed[rng.choice(digits)] = str(rng.randrange(10))
                out += [text, rng.choice(["".join(changed), text + str(rng.randrange(10)), text[:-1]])]
            nsn, code = phonenumbers.national_significant_number(example), str(example.country_code)
            out += rng.sample(
                [
                    nsn,
                    "0" + nsn,
                    "1" + nsn,
                    "8" + nsn,
                    code + nsn,
                    "00" + code + nsn,
                    "011" + code + nsn,
                    "810" + code + nsn,
                    f"+{code}0{nsn}",
                    f"+{code} ({nsn[:3]}) {nsn[3:]}",
                    f"{code}.{nsn}",
                ],
                4,
            )
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        out.append(f"+{code}" + "".join(str(rng.randrange(10)) for _ in range(rng.randrange(4, 13))))
    # Not plain digits: the reader hands these to phonenumbers, and must still agree.
    out += [
        "1-800-FLOWERS",
        "+1 415 555 2671 ext. 12",
        "+44 (0)20 7946 0958",
        "(+1) 415 555 2671",
        "+",
        "+1",
        "12",
        "",
        " ",
        "+1 415 555 2671 #5",
        "٠١٢٣٤٥٦٧٨٩",
        "＋１ ４１５ ５５５ ２６７１",
        "tel:+1-415-555-2671",
    ]
    return out


CASES = sample()


@pytest.mark.parametrize("region", DEFAULT_COUNTRIES)
def test_the_reader_answers_as_phonenumbers_does(region):
    reader = NumberReader(region)
    answers = ((raw, reader.to_e164(raw), phones.to_e164(raw, region)) for raw in CASES)
    differ = [answer for answer in answers if answer[1] != answer[2]]
    assert differ == [], f"{len(differ)} of {len(CASES)} differ, e.g. {differ[:5]}"


def test_plain_numbers_take_the_fast_path_and_others_go_to_phonenumbers(monkeypatch):
    asked, to_e164 = [], phones.to_e164
    monkeypatch.setattr(numbers.phones, "to_e164", lambda raw, region: asked.append(raw) or to_e164(raw, region))
    reader = NumberReader("US")
    assert [reader.to_e164(n) for n in ("(415) 555-2671", "+1 415.555.2671", "4155552671")] == ["+14155552671"] * 3
    assert asked == []
    assert reader.to_e164("1-800-FLOWERS") == "+18003569377"
    assert asked == ["1-800-FLOWERS"]
