"""What SendFeedback checks in a feedback's personal identifiers and consent purposes.

Violations name the field, never its value: a subject is personal data, and an error
message ends up in callers' logs."""

from __future__ import annotations

import re

import phonenumbers
from backchannel_client.v1 import feedback_pb2

from backchannel.api.errors import Violations

#: A consent purpose, as feedback and recipients name it.
PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_PURPOSES = 32
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_MAX_NAME = 200
_MAX_POSTAL_CODE = 32
_CONSENT_STATES = frozenset(feedback_pb2.ConsentState.values())


def validate_subject(feedback: feedback_pb2.Feedback, v: Violations) -> None:
    if not feedback.HasField("subject"):
        return
    subject = feedback.subject
    path = "feedback.subject"
    if subject.email and not _EMAIL.fullmatch(subject.email.strip()):
        v.add(f"{path}.email", "is not an email address (local@domain)")
    if subject.country and not _COUNTRY.fullmatch(subject.country):
        v.add(f"{path}.country", "must be an ISO 3166-1 alpha-2 code, e.g. US")
    if subject.phone and not _phone_ok(subject.phone, subject.country):
        v.add(
            f"{path}.phone",
            "is not a phone number: give it in E.164 (+16505551234), or nationally with "
            "subject.country",
        )
    for name in ("first_name", "last_name"):
        if len(getattr(subject, name)) > _MAX_NAME:
            v.add(f"{path}.{name}", f"must be at most {_MAX_NAME} characters")
    if len(subject.postal_code) > _MAX_POSTAL_CODE:
        v.add(f"{path}.postal_code", f"must be at most {_MAX_POSTAL_CODE} characters")


def _phone_ok(text: str, country: str) -> bool:
    try:
        number = phonenumbers.parse(text, country.upper() or None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(number)


def validate_consent_purposes(feedback: feedback_pb2.Feedback, v: Violations) -> None:
    purposes = feedback.consent_purposes
    if len(purposes) > MAX_PURPOSES:
        v.add("feedback.consent_purposes", f"has {len(purposes)} entries; at most {MAX_PURPOSES}")
    seen: set[str] = set()
    for index, consent in enumerate(purposes):
        path = f"feedback.consent_purposes[{index}]"
        if not PURPOSE.fullmatch(consent.purpose):
            v.add(
                f"{path}.purpose",
                "must be 1 to 64 lower-case letters, digits and _, starting with a letter "
                "(e.g. ad_user_data)",
            )
        elif consent.purpose in seen:
            v.add(f"{path}.purpose", f"{consent.purpose!r} is given twice")
        seen.add(consent.purpose)
        if consent.state not in _CONSENT_STATES:
            v.add(f"{path}.state", f"{consent.state} is not a consent state")
