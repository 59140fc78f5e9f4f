"""The ``meta_capi`` formatter: one server event of Meta's Conversions API, as the body of
``POST /{pixel_id}/events`` (``{"data": [event]}``).

The event: ``event_name`` (option, default ``Purchase``), ``event_time`` (Unix seconds of
the outcome's conversion date, else the feedback date), ``action_source`` (option, default
``system_generated``), ``event_id`` (the feedback id: Meta deduplicates on it),
``user_data`` and, when the outcome has a value, ``custom_data`` ``{value, currency}``.

``user_data`` holds the lead id unhashed (``lead_id``) and the subject's identifiers the
recipient's data policy lets through, always SHA-256 hashed as Meta normalizes them
(``em``, ``ph``, ``fn``, ``ln``, ``zp``, ``country``): a value that already is a hash (the
policy hashed it, ideally with META rules) is sent as it is, any other is normalized and
hashed here; nothing goes unhashed. With no policy allowing the subject, only ``lead_id``
is sent.

Meta's checks are made before anything is sent, and a failing one ends the delivery
failed, not retried, with the reason (:class:`~backchannel.plugin.ContentRefused`): the
event time in the future, a currency that is not three upper-case letters, a negative
value, no match key at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from backchannel.formatters._formatter import BuiltinFormatter
from backchannel.formatters._json import encode_json
from backchannel.formatters._options import OptionReader
from backchannel.personal_hashing import sha256_normalized
from backchannel.plugin import ContentRefused, RenderedContent

#: Meta's user_data keys for the subject's fields.
USER_DATA_KEYS = {
    "email": "em",
    "phone": "ph",
    "first_name": "fn",
    "last_name": "ln",
    "postal_code": "zp",
    "country": "country",
}
ACTION_SOURCES = (
    "email", "website", "app", "phone_call", "chat", "physical_store", "system_generated",
    "business_messaging", "other",
)  # fmt: skip
_HASHED = re.compile(r"[0-9a-f]{64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_ ]{1,100}")
#: Clock skew tolerated before an event time counts as in the future.
_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class _MetaOptions:
    event_name: str
    action_source: str


class MetaCapiFormatter(BuiltinFormatter[_MetaOptions]):
    """``application/json``: a Meta Conversions API event; options ``event_name`` and
    ``action_source``."""

    name = "meta_capi"
    option_names = ("event_name", "action_source")

    def read_options(self, reader: OptionReader) -> _MetaOptions:
        event_name = reader.raw("event_name")
        if event_name is None:
            event_name = "Purchase"
        elif not (isinstance(event_name, str) and _EVENT_NAME.fullmatch(event_name)):
            reader.problem("event_name", "must be 1 to 100 letters, digits, _ or spaces")
            event_name = "Purchase"
        source = reader.raw("action_source")
        if source is None:
            source = "system_generated"
        elif source not in ACTION_SOURCES:
            reader.problem("action_source", f"must be one of {', '.join(ACTION_SOURCES)}")
            source = "system_generated"
        return _MetaOptions(event_name, source)

    def render_with(self, document: Mapping[str, Any], options: _MetaOptions) -> RenderedContent:
        event = meta_event(document, options.event_name, options.action_source)
        body = encode_json({"data": [event]}, pretty=False).encode("utf-8")
        return RenderedContent(body=body, content_type="application/json", file_extension="json")


def meta_event(document: Mapping[str, Any], event_name: str, action_source: str) -> dict[str, Any]:
    """The event for ``document``; ContentRefused when Meta would refuse it."""
    outcome = document.get("outcome")
    outcome = outcome if isinstance(outcome, Mapping) else {}
    when = outcome.get("conversion_date") or document.get("feedback_date")
    if not isinstance(when, str):
        raise ContentRefused("the feedback has no conversion date or feedback date")
    moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if moment > datetime.now(UTC) + _SKEW:
        raise ContentRefused("the event time is in the future")
    event: dict[str, Any] = {
        "event_name": event_name,
        "event_time": int(moment.timestamp()),
        "action_source": action_source,
    }
    if document.get("feedback_id"):
        event["event_id"] = document["feedback_id"]
    event["user_data"] = _user_data(document)
    value = outcome.get("value")
    if value is not None:
        currency = outcome.get("currency")
        if not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
            raise ContentRefused("a value needs an ISO 4217 currency code of 3 upper-case letters")
        if Decimal(str(value)) < 0:
            raise ContentRefused("the value is negative")
        event["custom_data"] = {"value": value, "currency": currency}
    return event


def _user_data(document: Mapping[str, Any]) -> dict[str, Any]:
    user_data: dict[str, Any] = {}
    subject = document.get("subject")
    subject = subject if isinstance(subject, Mapping) else {}
    country = subject.get("country")
    region = country if isinstance(country, str) and not _HASHED.fullmatch(country) else ""
    for name, key in USER_DATA_KEYS.items():
        value = subject.get(name)
        if not isinstance(value, str) or not value:
            continue
        hashed = (
            value if _HASHED.fullmatch(value) else sha256_normalized(name, value, "meta", region)
        )
        if hashed is not None:
            user_data[key] = [hashed]
    lead_id = document.get("lead_id")
    if isinstance(lead_id, str) and lead_id:
        user_data["lead_id"] = lead_id
    if not user_data:
        raise ContentRefused("no match key: neither a lead id nor a usable identifier")
    return user_data
