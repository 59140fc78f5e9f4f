"""Normalizing and SHA-256 hashing personal identifiers the way ad platforms match them.

Ad platforms accept contact data only normalized and hashed, and a hash matches only if
both sides normalized alike. The rules, by identifier (the last name of the field's path:
``email``, ``phone``, ``first_name``, ``last_name``, ``postal_code``, ``country``):

- email: leading and trailing spaces removed, lower-cased; under ``google`` rules the dots
  of the local part of a gmail.com or googlemail.com address removed too (Google Ads
  enhanced conversions and Campaign Manager 360).
- phone: E.164 (``+16505551212``), parsed with libphonenumber (the subject's country is
  the region a national number is read in); under ``meta`` rules the digits only
  (``16505551212``: Meta's Conversions API wants no "+").
- first and last name: lower-cased, punctuation removed, spaces trimmed (letters outside
  a-z are kept, UTF-8 encoded, as Meta's examples show: ``Valéry`` -> ``valéry``).
- postal code: lower-cased, spaces and dashes removed.
- country and anything else: spaces trimmed, lower-cased.

A value that normalizes to nothing (an unparseable phone, a blank name) has no hash: the
caller leaves the field out rather than send it unhashed or hash garbage.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Literal

import phonenumbers

HashRules = Literal["normalized", "google", "meta"]
HASH_RULES: tuple[HashRules, ...] = ("normalized", "google", "meta")

_GMAIL_DOMAINS = frozenset(("gmail.com", "googlemail.com"))


def normalized(identifier: str, value: str, rules: HashRules, country: str = "") -> str | None:
    """``value`` of the identifier named ``identifier`` normalized under ``rules``; None
    when nothing usable is left."""
    text = value.strip()
    if not text:
        return None
    if identifier == "email":
        return _email(text, rules)
    if identifier == "phone":
        return _phone(text, rules, country)
    if identifier in ("first_name", "last_name"):
        return _name(text)
    if identifier == "postal_code":
        return "".join(c for c in text.lower() if c not in " -") or None
    return text.lower()


def sha256_normalized(
    identifier: str, value: str, rules: HashRules, country: str = ""
) -> str | None:
    """The lower-case hex SHA-256 of the normalized value; None when there is none."""
    text = normalized(identifier, value, rules, country)
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _email(text: str, rules: HashRules) -> str:
    email = text.lower()
    if rules == "google":
        local, at, domain = email.rpartition("@")
        if at and domain in _GMAIL_DOMAINS:
            email = local.replace(".", "") + "@" + domain
    return email


def _phone(text: str, rules: HashRules, country: str) -> str | None:
    region = country.strip().upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164.removeprefix("+") if rules == "meta" else e164


def _name(text: str) -> str | None:
    kept = "".join(c for c in text.lower() if not unicodedata.category(c).startswith("P"))
    return " ".join(kept.split()) or None
