"""The conformance suite every formatter passes: built-in and third-party alike."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from backchannel.plugin import FieldProblem, Formatter, RenderedContent
from backchannel.plugin_host import load_plugins
from backchannel.testing._samples import SAMPLE_DOCUMENTS
from backchannel.testing._transport_suite import (
    _COMPONENT_NAME,
    UNKNOWN_SETTING,
    normalize_distribution,
)

SAMPLE_NAMES = sorted(SAMPLE_DOCUMENTS)


class FormatterConformance:
    """Subclass this (as ``TestMyFormatterConformance``), provide a ``formatter`` fixture and
    set ``distribution``. An optional ``working_options`` fixture gives the options the
    sample documents are rendered with (default: none, ``{}``)."""

    #: The distribution whose ``backchannel`` entry point registers the formatter.
    distribution: ClassVar[str]

    def test_is_registered_through_its_distributions_entry_point(
        self, formatter: Formatter
    ) -> None:
        loaded = load_plugins()
        assert formatter.name in loaded.formatters, (
            f"no installed plugin registers a formatter named {formatter.name!r}"
        )
        origin = loaded.origin_of_formatter(formatter.name)
        assert normalize_distribution(origin.distribution) == normalize_distribution(
            self.distribution
        )
        assert type(loaded.formatters[formatter.name]) is type(formatter)

    def test_subclasses_formatter(self, formatter: Formatter) -> None:
        assert isinstance(formatter, Formatter)
        assert not inspect.iscoroutinefunction(formatter.render)
        assert not inspect.iscoroutinefunction(formatter.check_options)

    def test_name_is_lower_case_letters_digits_dashes_and_underscores(
        self, formatter: Formatter
    ) -> None:
        assert isinstance(formatter.name, str)
        assert _COMPONENT_NAME.fullmatch(formatter.name), formatter.name

    def test_check_options_accepts_no_options(self, formatter: Formatter) -> None:
        assert list(formatter.check_options({})) == []

    def test_check_options_reports_garbage_options(self, formatter: Formatter) -> None:
        problems = formatter.check_options({UNKNOWN_SETTING: object()})
        assert problems, "an unknown option was accepted"
        assert all(isinstance(problem, FieldProblem) for problem in problems)
        assert any(UNKNOWN_SETTING in problem.field for problem in problems), problems

    @pytest.mark.parametrize("sample", SAMPLE_NAMES)
    def test_renders_each_sample_document_to_labelled_bytes(
        self, request: pytest.FixtureRequest, formatter: Formatter, sample: str
    ) -> None:
        rendered = formatter.render(SAMPLE_DOCUMENTS[sample], _options(request))
        assert isinstance(rendered, RenderedContent)
        assert isinstance(rendered.body, bytes) and rendered.body
        assert isinstance(rendered.content_type, str) and "/" in rendered.content_type
        assert isinstance(rendered.file_extension, str) and rendered.file_extension
        assert not rendered.file_extension.startswith(".")

    @pytest.mark.parametrize("sample", SAMPLE_NAMES)
    def test_renders_each_sample_document_deterministically(
        self, request: pytest.FixtureRequest, formatter: Formatter, sample: str
    ) -> None:
        options = _options(request)
        first = formatter.render(SAMPLE_DOCUMENTS[sample], options)
        again = formatter.render(copy.deepcopy(SAMPLE_DOCUMENTS[sample]), options)
        assert first == again

    def test_rendering_leaves_the_document_unchanged(
        self, request: pytest.FixtureRequest, formatter: Formatter
    ) -> None:
        document = copy.deepcopy(SAMPLE_DOCUMENTS["unicode"])
        formatter.render(document, _options(request))
        assert document == SAMPLE_DOCUMENTS["unicode"]


def _options(request: pytest.FixtureRequest) -> Mapping[str, Any]:
    try:
        options: Mapping[str, Any] = request.getfixturevalue("working_options")
    except pytest.FixtureLookupError:
        options = {}
    return options
