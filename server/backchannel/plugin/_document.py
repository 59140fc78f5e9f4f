"""The canonical feedback document, as plugins receive it: typed, so a transport reads
``document.get("outcome", {}).get("value")`` and a type checker knows what is there."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, Required, TypedDict

FeedbackKind = Literal[
    "conversion", "return", "quality", "disposition", "attribution", "unspecified"
]


class Outcome(TypedDict, total=False):
    """What became of the lead: ``status`` as the caller words it (``converted``, ``sold``)."""

    status: str
    #: When it converted, RFC 3339 in UTC.
    conversion_date: str
    #: Money stays a Decimal, so no transport or formatter ever rounds it.
    value: Decimal
    #: ISO 4217 code of ``value``.
    currency: str
    product: str


class ReturnDetails(TypedDict, total=False):
    reason_code: str
    reason_text: str
    #: RFC 3339 in UTC.
    return_date: str


class Attribution(TypedDict, total=False):
    campaign: str
    creative: str
    keyword: str
    #: Affiliate sub-ids by name; they often carry click or user ids (personal data).
    sub_ids: dict[str, str]


class Consent(TypedDict, total=False):
    provider: str
    reference: str


class SubjectIdentifiers(TypedDict, total=False):
    """The lead's personal identifiers: present only for a recipient whose data policy
    allows them, each either as given or as the lower-case hex SHA-256 of its normalized
    form, as that policy says."""

    email: str
    phone: str
    first_name: str
    last_name: str
    postal_code: str
    country: str


#: The canonical document of one feedback record, as the host builds it for every formatter
#: and hands it to transports in ``OutboundMessage.document``. Only what is set is present:
#: an empty value ("", 0 money, no scores...) is left out at every level. Timestamps are
#: RFC 3339 text in UTC.
FeedbackDocument = TypedDict(
    "FeedbackDocument",
    {
        "feedback_id": str,
        "kind": Required[FeedbackKind],
        "lead_id": str,
        "source_id": str,
        "flow_id": str,
        "event_id": str,
        "click_id": str,
        "transaction_id": str,
        #: When the caller says the feedback happened.
        "feedback_date": str,
        #: When Backchannel accepted it; the same on every attempt.
        "accepted_at": str,
        "outcome": Outcome,
        "return": ReturnDetails,
        #: ``overall_score`` and any dimensions by name (``data_quality``...): whole scores
        #: are ints, others floats.
        "quality": dict[str, int | float],
        "attribution": Attribution,
        "consents": list[Consent],
        #: The lead's consent state per purpose: ``granted``, ``denied`` or ``unknown``.
        "consent_purposes": dict[str, str],
        #: The caller's own attributes: any JSON object.
        "attributes": dict[str, Any],
        #: Personal identifiers, only as the recipient's data policy allows (never by
        #: default).
        "subject": SubjectIdentifiers,
    },
    total=False,
)
