"""Reading a recipient's ``format_options``: typed values out, every problem gathered.

An option set to ``null`` counts as not set.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from backchannel.formatters._document_paths import FieldPath, parse_field_path
from backchannel.plugin import FieldProblem

OPTIONS_FIELD = "format_options"

#: Checks a text option's value: a description of what is wrong with it, or None.
TextCheck = Callable[[str], str | None]


class OptionReader:
    """Reads options one by one, noting each problem instead of stopping at the first."""

    def __init__(self, options: Mapping[str, Any], known_names: Collection[str]) -> None:
        self.problems: list[FieldProblem] = []
        self._options: Mapping[str, Any] = options if isinstance(options, Mapping) else {}
        if not isinstance(options, Mapping):
            self._problem(OPTIONS_FIELD, "must be an object")
            return
        known = ", ".join(sorted(known_names)) or "none"
        for name in options:
            if name not in known_names:
                self._problem(_field(name), f"unknown option (known options: {known})")

    def has(self, name: str) -> bool:
        return self._options.get(name) is not None

    def raw(self, name: str) -> Any:
        """The option's value as given (None when not set), for readers of their own."""
        return self._options.get(name)

    def problem(self, field: str, description: str) -> None:
        """Notes a problem with ``field``, a path under ``format_options`` (``rename.a``)."""
        self._problem(_field(field), description)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._options.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self._problem(_field(name), "must be true or false")
            return default
        return value

    def text(self, name: str, default: str, check: TextCheck) -> str:
        value = self._options.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self._problem(_field(name), "must be a string")
            return default
        problem = check(value)
        if problem is not None:
            self._problem(_field(name), problem)
            return default
        return value

    def field_paths(self, name: str) -> tuple[FieldPath, ...] | None:
        """A list of distinct dotted paths, or None when the option is not set."""
        value = self._options.get(name)
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            self._problem(_field(name), "must be a list of dotted field paths")
            return None
        if not value:
            self._problem(_field(name), "must name at least one field")
            return None
        paths: list[FieldPath] = []
        first_index: dict[FieldPath, int] = {}
        for index, item in enumerate(value):
            item_field = f"{_field(name)}[{index}]"
            path = parse_field_path(item) if isinstance(item, str) else None
            if path is None:
                self._problem(
                    item_field,
                    "must be a dotted path of names made of letters, digits and _ "
                    "(e.g. outcome.value)",
                )
            elif path in first_index:
                self._problem(item_field, f"repeats {name}[{first_index[path]}]")
            else:
                first_index[path] = index
                paths.append(path)
        return tuple(paths)

    def conflict(self, first: str, second: str) -> None:
        """Notes a problem when both options are set: they say the same thing."""
        if self.has(first) and self.has(second):
            self._problem(_field(second), f"is an alias of {first}; set only one of them")

    def _problem(self, field: str, description: str) -> None:
        self.problems.append(FieldProblem(field, description))


def _field(name: object) -> str:
    return f"{OPTIONS_FIELD}.{name}"
