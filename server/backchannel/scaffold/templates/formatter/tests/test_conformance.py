"""Backchannel's conformance suite for formats."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

from backchannel.plugin import Formatter
from backchannel.testing import FormatterConformance, installed_formatter


def test_plugin_is_installed() -> None:
    names = [ep.name for ep in entry_points(group="backchannel")]
    assert "myplugin" in names


class TestMyFormatterConformance(FormatterConformance):
    distribution = "backchannel-myplugin"

    @pytest.fixture
    def formatter(self) -> Formatter:
        return installed_formatter("myplugin")

    @pytest.fixture
    def working_options(self) -> dict[str, Any]:
        return {"separator": ": "}
