"""Finding secret values where they must never be."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from backchannel.plugin import DeliveryResult, FieldProblem, ProbeStep

#: Values this short (``"1"``, ``"yes"``) would match by accident; they are not looked for.
MIN_SECRET_CHARS = 4


def secret_values(*secrets: Mapping[str, Any]) -> list[str]:
    """Every text in the secret settings (nested lists and mappings included), longest first."""
    found = {value for mapping in secrets for value in _texts(mapping)}
    return sorted((v for v in found if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", errors="replace")
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _texts(item)


def result_texts(result: DeliveryResult) -> list[str]:
    """Every text a result carries."""
    return [
        result.response_excerpt,
        result.remote_id or "",
        *result.details.keys(),
        *result.details.values(),
    ]


def step_texts(steps: Iterable[ProbeStep]) -> list[str]:
    return [text for step in steps for text in (step.name, step.detail)]


def problem_texts(problems: Iterable[FieldProblem]) -> list[str]:
    return [text for problem in problems for text in (problem.field, problem.description)]


def leaked_secrets(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The secrets that appear in any of ``texts`` (shown by length only, never in full)."""
    joined = "\n".join(texts)
    return [f"a secret of {len(secret)} characters" for secret in secrets if secret in joined]
