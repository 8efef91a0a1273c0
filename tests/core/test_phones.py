"""The one phone normalizer (artists_app.phones): the spellings the issue lists, and properties."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from whatsapp_crm.phones import (
    format_international,
    is_privacy_id,
    normalize_phone,
    normalize_whatsapp_id,
)

SAME_MEMBER = [
    "+49 151 2345 6789",
    "0049 151 23456789",
    "015123456789",
    "49-151-2345-6789",
    "+49 (151) 234-56789",
    "4915123456789",
    "+4915123456789",
    "0151/23456789",
    "0151 2345 6789",
    "4915123456789@s.whatsapp.net",
]
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@pytest.mark.parametrize("text", SAME_MEMBER)
def test_it_reads_every_spelling_of_one_number_in_germany(text):
    assert normalize_phone(text, region="DE") == "4915123456789"


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+49 151 2345 6789", "US", "4915123456789"),  # "+" makes the region irrelevant
        ("011 49 151 23456789", "US", "4915123456789"),  # the US international prefix
        ("0049 151 23456789", "US", "4915123456789"),  # "00" written abroad still means "+"
        ("(201) 555-0123", "US", "12015550123"),  # US national numbers have no trunk 0
        ("201-555-0123", "US", "12015550123"),
        ("0664 1234567", "AT", "436641234567"),
        ("06 12 34 56 78", "FR", "33612345678"),
        ("436641234567", "DE", "436641234567"),  # international digits from another country
    ],
)
def test_it_uses_the_region_only_for_national_spellings(text, region, expected):
    assert normalize_phone(text, region=region) == expected


def test_it_reads_a_bare_digit_string_as_international_when_it_is_valid_both_ways():
    # "2015550123" is a US number written nationally and +20 15550123 (Egypt). A bare digit
    # string is the form normalize_phone returns, so it must read it back as itself.
    assert normalize_phone("2015550123", region="US") == "2015550123"
    assert normalize_phone("(201) 555-0123", region="US") == "12015550123"


def test_it_reads_whatsapp_ids_as_international_numbers():
    assert normalize_whatsapp_id("4915123456789") == "4915123456789"
    assert normalize_whatsapp_id("4915123456789@s.whatsapp.net") == "4915123456789"
    assert normalize_whatsapp_id("4915123456789:3@s.whatsapp.net") == "4915123456789"
    assert normalize_whatsapp_id("24740000") == "24740000"  # never a national number
    assert normalize_whatsapp_id("123456789012345@lid") is None
    assert normalize_whatsapp_id("120363000000000101@g.us") is None
    assert normalize_whatsapp_id("12") is None


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "12", "+", "not a phone", "123456789012345@lid", "120363@g.us", "0" * 80],
)
def test_it_returns_none_for_text_that_is_no_phone_number(text):
    assert normalize_phone(text, region="DE") is None


def test_it_uses_the_default_region_when_none_is_given(settings):
    settings.DEFAULT_PHONE_REGION = "DE"
    assert normalize_phone("015123456789") == "4915123456789"
    settings.DEFAULT_PHONE_REGION = "AT"
    assert normalize_phone("0664 1234567") == "436641234567"


def test_it_recognises_privacy_ids_and_formats_for_display():
    assert is_privacy_id("123456789012345@lid")
    assert not is_privacy_id("4915123456789")
    assert format_international("4915123456789") == "+49 1512 3456789"
    assert format_international("nonsense") == "nonsense"


# --- properties ------------------------------------------------------------------------------


@st.composite
def valid_numbers(draw) -> tuple[phonenumbers.PhoneNumber, str]:
    """A valid number of some region (an example number with random last digits) + its region."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]))
    example_number = phonenumbers.example_number_for_type(region, kind)
    assume(example_number is not None)
    national = phonenumbers.national_significant_number(example_number)
    tail = min(4, len(national) - 1)
    digits = draw(st.text(alphabet="0123456789", min_size=tail, max_size=tail))
    number = phonenumbers.parse(f"+{example_number.country_code}{national[:-tail]}{digits}", None)
    assume(phonenumbers.is_valid_number(number))
    return number, phonenumbers.region_code_for_number(number)


def _spellings(number: phonenumbers.PhoneNumber) -> list[str]:
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    digits = e164[1:]
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return [
        e164,
        international,
        international.replace(" ", "-"),
        phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        "00" + digits,
        digits,
        "-".join(digits[i : i + 3] for i in range(0, len(digits), 3)),
    ]


@settings(max_examples=400, suppress_health_check=[HealthCheck.filter_too_much])
@given(valid_numbers())
def test_it_gives_one_result_for_every_spelling_of_a_number(drawn):
    number, region = drawn
    expected = phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
    for spelling in _spellings(number):
        assert normalize_phone(spelling, region=region) == expected, spelling


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(valid_numbers(), st.sampled_from(REGIONS))
def test_it_is_idempotent_for_numbers_in_any_region(drawn, region):
    number, _ = drawn
    for spelling in _spellings(number):
        once = normalize_phone(spelling, region=region)
        if once is not None:
            assert normalize_phone(once, region=region) == once
            assert normalize_phone("+" + once, region=region) == once


@settings(max_examples=500)
@given(
    st.one_of(st.text(max_size=80), st.from_regex(r"[+0-9 ()./\-]{0,30}", fullmatch=True)),
    st.sampled_from([*REGIONS, "", "XX", "de"]),
)
@example("+", "DE")
@example("00", "DE")
@example("\uff0b49 151 23456789", "DE")
@example("٠١٥١٢٣٤٥٦٧٨٩", "DE")
def test_it_never_crashes_and_is_idempotent_on_arbitrary_text(text, region):
    once = normalize_phone(text, region=region)
    assert once is None or (once.isdigit() and once.isascii())
    if once is not None:
        assert normalize_phone(once, region=region) == once
