"""The built-in formatters pass the same conformance suite as any outside formatter."""

from __future__ import annotations

from typing import Any

import pytest

from backchannel.plugin import Formatter
from backchannel.plugin_host import load_plugins
from backchannel.testing import FormatterConformance

BUILTIN_FORMATTERS = (
    "json", "xml", "csv", "form", "template", "postback", "meta_capi", "google_ads_csv",
)  # fmt: skip

#: Options the sample documents are rendered with: the field mapping everywhere, and each
#: format's own options where it has some worth exercising.
_MAPPING: dict[str, Any] = {
    "drop": ["attributes"],
    "rename": {"lead_id": "lead.id"},
    "constants": {"partner": "acme"},
}
WORKING_OPTIONS: dict[str, dict[str, Any]] = {
    "json": _MAPPING,
    "xml": _MAPPING,
    "csv": {**_MAPPING, "columns": ["lead.id", "outcome.value", "partner"]},
    "form": _MAPPING,
    "template": {
        **_MAPPING,
        "template": "{{ lead.id }} {{ kind }} {{ outcome.value }} {{ partner }}\n",
        "content_type": "text/html",
    },
    "postback": {
        "template": "tid={transaction_id}&amount={value}&s1={sub1}&lead={lead_id}",
        "return_template": "tid={transaction_id}&reversal=1&lead={lead_id}",
    },
    # Meta matches on lead_id: renaming it away leaves no match key.
    "meta_capi": {"drop": ["attributes"], "event_name": "Lead", "action_source": "phone_call"},
    # Google matches on a click id or a hashed email or phone: the samples give a click id.
    "google_ads_csv": {"constants": {"click_id": "gclid-1"}, "conversion_name": "Sale"},
}


class TestBuiltinFormatterConformance(FormatterConformance):
    distribution = "backchannel"

    @pytest.fixture(params=BUILTIN_FORMATTERS)
    def formatter(self, request: pytest.FixtureRequest) -> Formatter:
        return load_plugins().formatters[request.param]

    @pytest.fixture
    def working_options(self, formatter: Formatter) -> dict[str, Any]:
        return WORKING_OPTIONS[formatter.name]
