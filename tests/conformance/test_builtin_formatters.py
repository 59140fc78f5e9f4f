"""The built-in formatters pass the same conformance suite as any outside formatter."""

from __future__ import annotations

import pytest

from backchannel.plugin import Formatter
from backchannel.plugin_host import load_plugins
from backchannel.testing import FormatterConformance

BUILTIN_FORMATTERS = ("json", "xml", "csv", "form")


class TestBuiltinFormatterConformance(FormatterConformance):
    distribution = "backchannel"

    @pytest.fixture(params=BUILTIN_FORMATTERS)
    def formatter(self, request: pytest.FixtureRequest) -> Formatter:
        return load_plugins().formatters[request.param]
