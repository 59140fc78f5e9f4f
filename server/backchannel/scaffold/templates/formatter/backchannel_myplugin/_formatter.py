"""The ``myplugin`` format.

This skeleton is a working format — one ``key=value`` line per field of the feedback
document, nested keys joined with dots — so the conformance suite passes from the first
run. Replace it with your format and keep the suite green.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from backchannel.plugin import FeedbackDocument, FieldProblem, Formatter, RenderedContent

#: TODO: the options recipients may give your format in ``format_options``.
OPTIONS = ("separator",)


class MyFormatter(Formatter):
    name = "myplugin"  # TODO: lower-case letters, digits, '-' and '_'

    def check_options(self, options: Mapping[str, Any]) -> Sequence[FieldProblem]:
        problems = [
            FieldProblem(f"format_options.{option}", f"is not an option of {self.name}")
            for option in options
            if option not in OPTIONS
        ]
        separator = options.get("separator", "=")
        if not isinstance(separator, str) or not separator or "\n" in separator:
            problems.append(FieldProblem("format_options.separator", "must be a one-line string"))
        return problems

    def render(self, document: FeedbackDocument, options: Mapping[str, Any]) -> RenderedContent:
        separator = options.get("separator", "=")
        lines = [f"{key}{separator}{value}" for key, value in _fields(document, "")]
        return RenderedContent(
            body=("\n".join(lines) + "\n").encode(),
            content_type="text/plain; charset=utf-8",
            file_extension="txt",
        )


def _fields(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _fields(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _fields(item, f"{prefix}{index}.")
    else:
        yield prefix.rstrip("."), value
