"""The one phone-number normalizer: used when storing group members and when looking them up.

`normalize_phone("+49 (151) 234-56789", region="DE") == "4915123456789"`: the digits of the E.164
number without "+", or None for text that is no (valid) phone number. Rules (docs/artists.md):

1. "+…" is international; the region does not matter.
2. Otherwise the text is parsed in the organization's region (national format with trunk prefix,
   "015123456789", or the region's international prefix, "0049…" in DE, "011…" in the US).
3. Digits that are not in national format are also tried as international digits without the
   "+" ("49-151-2345-6789", and WHAPI's own ids), and "00…" as "+…" where "00" is not the
   region's international prefix. When both readings are valid numbers and differ, the
   international one wins for a bare digit string (the form this function returns, so it is
   idempotent) and when the region writes its national numbers with a trunk prefix that the
   text lacks (a German number is never written without its 0); otherwise the national one
   wins (in the US "201-555-0123" is national).
4. Only numbers that libphonenumber considers valid are returned; anything else is None.
"""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

# Longer input is no phone number; bounding it keeps parsing cheap for arbitrary text.
MAX_INPUT_LENGTH = 64
# WhatsApp ids of real phone numbers; privacy ids ("…@lid") and groups have no phone number.
_PHONE_JID_DOMAINS = {"s.whatsapp.net", "c.us"}
# Text made only of digits and the punctuation people put into phone numbers.
_PLAIN_NUMBER = re.compile(r"[\d\s\-./()]+")


def normalize_phone(text: str, *, region: str | None = None) -> str | None:
    """Digits of the international number without "+", or None when `text` is no phone number."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > MAX_INPUT_LENGTH:
        return None
    if "@" in text:
        local, _, domain = text.partition("@")
        if domain.lower() not in _PHONE_JID_DOMAINS:
            return None
        text = local.split(":", 1)[0]  # "491511234567:12@s.whatsapp.net" is a device id
    region = (region or settings.DEFAULT_PHONE_REGION or "").upper() or None

    if text.startswith("+") or text.startswith("\uff0b"):
        number = _parse(text, None)
        return _digits(number) if number is not None else None

    national = _parse(text, region)
    international = None
    if _PLAIN_NUMBER.fullmatch(text):
        digits = phonenumbers.normalize_digits_only(text)
        if digits.startswith("00"):
            international = _parse("+" + digits[2:], None)
        elif not digits.startswith("0"):
            international = _parse("+" + digits, None)

    if national is None:
        number = international
    elif international is None or national == international:
        number = national
    elif text.isascii() and text.isdigit():
        # A bare digit string is how WhatsApp and this cache write numbers: reading it as
        # international keeps normalizing idempotent (our output is always read back as itself).
        number = international
    else:
        number = international if _lacks_trunk_prefix(national, text, region) else national
    return _digits(number) if number is not None else None


def normalize_whatsapp_id(wa_id: str) -> str | None:
    """A WHAPI participant id ("4915123456789", "…@s.whatsapp.net") → phone digits; None for
    privacy ids ("…@lid"). WhatsApp ids are international numbers, so no region applies."""
    wa_id = (wa_id or "").strip()
    if is_privacy_id(wa_id):
        return None
    local, _, domain = wa_id.partition("@")
    if domain and domain.lower() not in _PHONE_JID_DOMAINS:
        return None
    local = local.split(":", 1)[0].removeprefix("+")
    if not (local.isascii() and local.isdigit()):
        return None
    return normalize_phone("+" + local)


def is_privacy_id(member_id: str) -> bool:
    """WHAPI participant ids like "123456789012345@lid" hide the member's phone number."""
    return member_id.strip().lower().endswith("@lid")


def format_international(digits: str) -> str:
    """ "4915123456789" → "+49 151 23456789" for display; unparseable input is returned as is."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return digits
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def _parse(text: str, region: str | None) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    # Equality of two readings must not depend on how they were written.
    number.raw_input = None
    number.country_code_source = phonenumbers.CountryCodeSource.UNSPECIFIED
    number.extension = None
    return number


def _lacks_trunk_prefix(number: PhoneNumber, text: str, region: str | None) -> bool:
    """True when `number`'s national format starts with a trunk prefix that `text` omits."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region or "")
    prefix = metadata.national_prefix if metadata else None
    if not prefix:
        return False
    national = phonenumbers.normalize_digits_only(
        phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    )
    return national.startswith(prefix) and not phonenumbers.normalize_digits_only(text).startswith(
        prefix
    )


def _digits(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164).removeprefix("+")
