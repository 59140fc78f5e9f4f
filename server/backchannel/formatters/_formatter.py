"""What every built-in formatter shares: one function reads its options, both to check them
and to render with them, and the field mapping (``drop``, ``rename``, ``constants``; see
:mod:`backchannel.formatters._field_mapping`) reshapes the document before it renders."""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from backchannel.formatters._field_mapping import (
    MAPPING_OPTION_NAMES,
    FieldMapping,
    apply_field_mapping,
    read_field_mapping,
)
from backchannel.formatters._options import OptionReader
from backchannel.formatters._options_memo import OptionsMemo
from backchannel.plugin import FeedbackDocument, FieldProblem, Formatter, RenderedContent

OptionsT = TypeVar("OptionsT")


class InvalidFormatOptionsError(ValueError):
    """``render`` was given options that ``check_options`` refuses: a bug in the caller."""

    def __init__(self, formatter: str, problems: Sequence[FieldProblem]) -> None:
        listed = "; ".join(f"{problem.field}: {problem.description}" for problem in problems)
        super().__init__(f"{formatter} formatter options were not checked before use: {listed}")
        self.problems = tuple(problems)


class BuiltinFormatter(Formatter, Generic[OptionsT]):
    """A :class:`~backchannel.plugin.Formatter` whose options read into an ``OptionsT``."""

    #: Every option name the formatter knows besides the field mapping's (``drop``,
    #: ``rename``, ``constants``, which every built-in formatter knows); others are problems.
    option_names: ClassVar[tuple[str, ...]]

    @abstractmethod
    def read_options(self, reader: OptionReader) -> OptionsT:
        """The options, with defaults for what is not set; problems go to ``reader``."""

    @abstractmethod
    def render_with(self, document: Mapping[str, Any], options: OptionsT) -> RenderedContent:
        """Renders the reshaped document with options that have no problems."""

    def check_with(self, options: OptionsT, mapping: FieldMapping, reader: OptionReader) -> None:
        """Further checks that need both the options and the field mapping (a template
        rendered against reshaped sample documents); problems go to ``reader``."""

    def check_options(self, options: Mapping[str, Any]) -> Sequence[FieldProblem]:
        return self._read(options)[1]

    def render(self, document: FeedbackDocument, options: Mapping[str, Any]) -> RenderedContent:
        # The host renders every delivery to one recipient revision with the same read-only
        # options mapping, so they are read once per revision, kept by identity.
        (read, mapping), problems = self._read_once(options, options)
        if problems:
            raise InvalidFormatOptionsError(self.name, problems)
        return self.render_with(apply_field_mapping(document, mapping), read)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled to run in a template worker: the memo of read options stays behind.
        state = dict(self.__dict__)
        state.pop("_read_once", None)
        return state

    @functools.cached_property
    def _read_once(
        self,
    ) -> OptionsMemo[tuple[tuple[OptionsT, FieldMapping], list[FieldProblem]]]:
        return OptionsMemo(lambda options, _same_options: self._read(options))

    def _read(
        self, options: Mapping[str, Any]
    ) -> tuple[tuple[OptionsT, FieldMapping], list[FieldProblem]]:
        reader = OptionReader(options, (*self.option_names, *MAPPING_OPTION_NAMES))
        mapping = read_field_mapping(reader)
        read = self.read_options(reader)
        self.check_with(read, mapping, reader)
        return (read, mapping), reader.problems
