"""Reading a recipient's transport settings against what its transport declares.

A transport declares its settings once, as a ``TransportSettings`` model with its secret
settings marked. Here, and only here, a recipient's ``transport_settings`` and
``secret_settings`` are checked against it: each setting in its place (a secret never
among the plain ones), no unknown names, every value of its type and within its limits.
Every problem is reported at once, named by its path in the recipient
(``transport_settings.headers.X-Id``, ``secret_settings.signing_secrets[1]``), in words
that never hold a secret. What passes is the parsed, typed settings the transport is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from backchannel.plugin import FieldProblem, SettingError, Transport, TransportSettings
from backchannel.plugin._settings import ALLOWED_NETWORKS, GIVEN_AS_SECRET, declared_secrets
from backchannel.redaction import Redactor

#: Where plain settings are given in a recipient.
PLAIN = "transport_settings"
#: Where secret settings are given in a recipient.
SECRET = "secret_settings"


@dataclass(frozen=True)
class SettingsRead:
    """What became of one recipient's settings."""

    #: The parsed settings, or None when there is any problem.
    settings: TransportSettings | None
    problems: tuple[FieldProblem, ...]
    #: Masks the recipient's secrets in what its transport answers.
    redactor: Redactor

    def describe_problems(self) -> str:
        return "; ".join(f"{problem.field} {problem.description}" for problem in self.problems)


def read_settings(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> SettingsRead:
    """Checks ``settings`` (plain) and ``secrets`` against ``transport.settings_model``."""
    model = transport.settings_model
    # A setting given as null counts as not set, as a format option does.
    settings = {name: value for name, value in settings.items() if value is not None}
    secrets = {name: value for name, value in secrets.items() if value is not None}
    placed = _Placement(transport.name, model, settings, secrets)
    # A secret given among the plain settings is masked too: it is still a secret.
    misplaced = {name: settings[name] for name in placed.secret_only if name in settings}
    redactor = Redactor.for_settings(settings, {**secrets, **misplaced})
    problems = list(placed.problems)
    parsed: TransportSettings | None = None
    try:
        parsed = model.model_validate(
            placed.data,
            context={
                GIVEN_AS_SECRET: placed.given_as_secret,
                ALLOWED_NETWORKS: transport.context.allowed_networks,
            },
        )
    except ValidationError as error:
        for details in error.errors(include_url=False, include_input=False):
            problem = placed.problem(details)
            if problem is not None:
                problems.append(problem)
    return SettingsRead(
        settings=None if problems else parsed,
        problems=tuple(redactor.problems(problems)),
        redactor=redactor,
    )


class _Placement:
    """Which settings were given where, what is wrong with where they were given, and the
    data the model validates: one mapping of every name, plain and secret."""

    def __init__(
        self,
        transport: str,
        model: type[TransportSettings],
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
    ) -> None:
        self.model = model
        fields = model.model_fields
        declared = declared_secrets(model)
        self.secret_only = {name for name, marker in declared.items() if not marker.or_plain}
        self.where: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        #: Names whose own errors would repeat a problem already reported for them.
        self.ignored: set[str] = set()
        self.problems: list[FieldProblem] = []
        plain_names = sorted(name for name in fields if name not in self.secret_only)
        for name, value in settings.items():
            if name in self.secret_only:
                because = declared[name].because
                reason = f" ({because})" if because else ""
                self._refuse(PLAIN, name, f"is secret{reason}: give it in {SECRET}")
                if name not in secrets:
                    # Validated all the same, so that nothing is reported missing for want
                    # of it; its own errors would only repeat that it is misplaced.
                    self._take(PLAIN, name, value, ignored=True)
            elif name in fields:
                self._take(PLAIN, name, value)
            else:
                known = ", ".join(plain_names) or "none"
                self._refuse(
                    PLAIN, name, f"is not a setting of the {transport} transport (known: {known})"
                )
        for name, value in secrets.items():
            if name in self.secret_only or (name in declared and name not in settings):
                self._take(SECRET, name, value)
            elif name in declared:
                self._refuse(SECRET, name, f"give it once: here or in {PLAIN}.{name}, not both")
                self.ignored.add(name)
            elif name in fields:
                self._refuse(SECRET, name, f"is not secret: give it in {PLAIN}")
                if name not in settings:
                    self._take(SECRET, name, value, ignored=True)
            else:
                known = ", ".join(sorted(declared)) or "none"
                self._refuse(
                    SECRET,
                    name,
                    f"is not a secret setting of the {transport} transport (known: {known})",
                )
        self.given_as_secret = frozenset(
            name for name, place in self.where.items() if place == SECRET and name in declared
        )

    def _take(self, where: str, name: str, value: Any, *, ignored: bool = False) -> None:
        self.data[name] = value
        self.where[name] = where
        if ignored:
            self.ignored.add(name)

    def _refuse(self, where: str, name: str, description: str) -> None:
        self.problems.append(FieldProblem(f"{where}.{name}", description))

    def problem(self, error: ErrorDetails) -> FieldProblem | None:
        """The problem a validation error stands for, or None when it repeats one."""
        cause = (error.get("ctx") or {}).get("error")
        path = cause.path if isinstance(cause, SettingError) else tuple(error["loc"])
        if not path:
            return FieldProblem(PLAIN, _describe(error, self.model, None))
        name = str(path[0])
        if name in self.ignored:
            return None
        where = self.where.get(name) or (SECRET if name in self.secret_only else PLAIN)
        return FieldProblem(
            _path_text(f"{where}.{name}", path[1:], self.data.get(name)),
            _describe(error, self.model, name),
        )


def _path_text(prefix: str, rest: Sequence[str | int], value: Any) -> str:
    """``prefix`` and the parts of ``rest`` that name what was given: an index into a list,
    a key of a mapping. The others (a union member's tag, a single value given where a list
    is taken) are left out, so a path only ever names what the caller wrote."""
    text = prefix
    for part in rest:
        if isinstance(part, int) and isinstance(value, list | tuple) and 0 <= part < len(value):
            text, value = f"{text}[{part}]", value[part]
        elif isinstance(part, str) and isinstance(value, Mapping) and part in value:
            text, value = f"{text}.{part}", value[part]
        else:
            break
    return text


def _describe(error: ErrorDetails, model: type[TransportSettings], name: str | None) -> str:
    """Words for one validation error, made from its kind and limits only: pydantic's own
    messages may repeat the value given, and the value may be a secret."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and ctx.get("error") is not None:
        return str(ctx["error"])
    if kind == "missing":
        field = model.model_fields.get(name or "")
        about = field.description if field is not None else None
        return f"is required: {about}" if about else "is required"
    describe = _DESCRIPTIONS.get(kind)
    if describe is not None:
        return describe({key: _shown(value) for key, value in ctx.items()})
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _shown(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, float) else value


def _at_least_characters(ctx: Mapping[str, Any]) -> str:
    if str(ctx["min_length"]) == "1":
        return "must not be empty"
    return f"must be at least {ctx['min_length']} characters"


_DESCRIPTIONS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "bool_type": lambda _: "must be true or false",
    "string_type": lambda _: "must be a string",
    "string_too_short": _at_least_characters,
    "string_too_long": lambda ctx: f"must be at most {ctx['max_length']} characters",
    "string_pattern_mismatch": lambda _: "is not in the form this setting takes",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "enum": lambda ctx: f"must be one of {ctx['expected']}",
    "int_type": lambda _: "must be a whole number",
    "int_from_float": lambda _: "must be a whole number",
    "float_type": lambda _: "must be a number",
    "finite_number": lambda _: "must be a finite number",
    "greater_than": lambda ctx: f"must be above {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"must be at least {ctx['ge']}",
    "less_than": lambda ctx: f"must be below {ctx['lt']}",
    "less_than_equal": lambda ctx: f"must be at most {ctx['le']}",
    "list_type": lambda _: "must be a list",
    "dict_type": lambda _: "must be a mapping of names to values",
    "too_short": lambda ctx: f"must have at least {ctx['min_length']} items",
    "too_long": lambda ctx: f"must have at most {ctx['max_length']} items",
    "extra_forbidden": lambda _: "is not a known setting",
}
