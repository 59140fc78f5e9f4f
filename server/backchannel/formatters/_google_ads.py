"""The ``google_ads_csv`` formatter: a Google Ads offline conversion import file, one
conversion per file, for scheduled file imports over SFTP or HTTPS. The click columns are
those of Google's click-conversion upload template (help article 7014069); ``Email`` and
``Phone Number`` follow its enhanced-conversions-for-leads variant, not checked here
against a template downloaded from an account.

Columns, in the template's order: ``Google Click ID`` (the lead's ``click_id``),
``Conversion Name`` (option ``conversion_name``: the conversion action's name in Google
Ads; default ``Converted lead``), ``Conversion Time`` (``yyyy-mm-dd hh:mm:ss+00:00``: the
conversion date, else the feedback date, in UTC, the zone written in the cell so no
``Parameters`` row is needed), ``Conversion Value``, ``Conversion Currency``, ``Order ID``
(the feedback id: Google deduplicates on it), ``Email`` and ``Phone Number``. Email and
phone are always SHA-256 hashed as Google normalizes them (email trimmed and lower-cased,
the dots of a gmail.com / googlemail.com local part removed; phone E.164): a value the
recipient's data policy already hashed (ideally with GOOGLE rules) is written as it is,
any other is hashed here; with no policy allowing the subject, both cells stay empty.

What Google's import would reject is refused before sending
(:class:`~backchannel.plugin.ContentRefused`, the delivery failed and not retried, with
the reason): a conversion time in the future, a currency that is not three upper-case
letters, a negative value, neither a click id nor an email or phone to match on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from backchannel.formatters._formatter import BuiltinFormatter
from backchannel.formatters._options import OptionReader
from backchannel.formatters._scalars import scalar_text
from backchannel.personal_hashing import sha256_normalized
from backchannel.plugin import ContentRefused, RenderedContent

COLUMNS = (
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
    "Order ID",
    "Email",
    "Phone Number",
)
_HASHED = re.compile(r"[0-9a-f]{64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
#: Letters, digits, spaces and a few marks: never a formula, never a line break.
_CONVERSION_NAME = re.compile(r"[\w][\w .()/&-]{0,99}")
_SKEW = timedelta(minutes=5)
#: Set ``conversion_name`` to the conversion action's name in Google Ads; this default
#: only matches an action of that name.
DEFAULT_CONVERSION_NAME = "Converted lead"


@dataclass(frozen=True)
class _GoogleAdsOptions:
    conversion_name: str


class GoogleAdsCsvFormatter(BuiltinFormatter[_GoogleAdsOptions]):
    """``text/csv``: a Google Ads offline conversion import; option ``conversion_name``."""

    name = "google_ads_csv"
    option_names = ("conversion_name",)

    def read_options(self, reader: OptionReader) -> _GoogleAdsOptions:
        name = reader.raw("conversion_name")
        if name is None:
            name = DEFAULT_CONVERSION_NAME
        elif not (isinstance(name, str) and _CONVERSION_NAME.fullmatch(name)):
            reader.problem(
                "conversion_name",
                "must be 1 to 100 letters, digits, spaces or . ( ) / & -, starting with a "
                "letter or digit",
            )
            name = DEFAULT_CONVERSION_NAME
        return _GoogleAdsOptions(name)

    def render_with(
        self, document: Mapping[str, Any], options: _GoogleAdsOptions
    ) -> RenderedContent:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(COLUMNS)
        writer.writerow(conversion_row(document, options.conversion_name))
        return RenderedContent(
            body=text.getvalue().encode("utf-8"),
            content_type="text/csv; charset=utf-8",
            file_extension="csv",
        )


def conversion_row(document: Mapping[str, Any], conversion_name: str) -> list[str]:
    """The row for ``document``; ContentRefused when Google would reject it."""
    outcome = document.get("outcome")
    outcome = outcome if isinstance(outcome, Mapping) else {}
    when = outcome.get("conversion_date") or document.get("feedback_date")
    if not isinstance(when, str):
        raise ContentRefused("the feedback has no conversion date or feedback date")
    moment = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(UTC)
    if moment > datetime.now(UTC) + _SKEW:
        raise ContentRefused("the conversion time is in the future")
    value, currency = outcome.get("value"), outcome.get("currency")
    if value is not None:
        if not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
            raise ContentRefused("a value needs an ISO 4217 currency code of 3 upper-case letters")
        if Decimal(str(value)) < 0:
            raise ContentRefused("the value is negative")
    click_id = document.get("click_id")
    click_id = click_id if isinstance(click_id, str) else ""
    email, phone = _hashed(document, "email"), _hashed(document, "phone")
    if not (click_id or email or phone):
        raise ContentRefused("no match key: neither a click id nor a usable email or phone")
    return [
        click_id,
        conversion_name,
        moment.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "" if value is None else scalar_text(value),
        str(currency) if value is not None else "",
        str(document.get("feedback_id") or ""),
        email,
        phone,
    ]


def _hashed(document: Mapping[str, Any], name: str) -> str:
    subject = document.get("subject")
    subject = subject if isinstance(subject, Mapping) else {}
    value = subject.get(name)
    if not isinstance(value, str) or not value:
        return ""
    if _HASHED.fullmatch(value):
        return value
    country = subject.get("country")
    region = country if isinstance(country, str) and not _HASHED.fullmatch(country) else ""
    return sha256_normalized(name, value, "google", region) or ""
