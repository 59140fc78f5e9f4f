"""Named SQL statements, each kept in its own file under ``sql/``, with named parameters.

A statement names its parameters ``:name`` (casts such as ``:limit::int`` are fine);
:func:`query` turns the text into asyncpg's ``$n`` form once, and the store passes values
by keyword, so a reader matches each value to its use by name (anchor: procrastinate's
``queries.sql``)::

    rows = await fetch(pool, "read_events", after_xid=..., limit=100)

A statement that fails gets a note naming it (``add_note``), so the traceback of any
error says which statement it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import asyncpg

from backchannel.store.database import DbConnection

#: A quoted string, a comment, or a ``:name`` parameter (not the second colon of ``::``).
_TOKEN = re.compile(r"('(?:[^']|'')*')|(--[^\n]*)|(?<![:\w]):([A-Za-z_]\w*)")

Database = asyncpg.Pool | DbConnection


@dataclass(frozen=True)
class Statement:
    """One SQL statement with its ``:name`` parameters replaced by ``$1``, ``$2``..."""

    name: str
    text: str
    #: The parameter names, in ``$n`` order.
    parameters: tuple[str, ...]

    def arguments(self, values: Mapping[str, object]) -> list[object]:
        """The values in ``$n`` order; every parameter must be given, and nothing else."""
        if values.keys() != set(self.parameters):
            missing = sorted(set(self.parameters) - values.keys())
            unknown = sorted(values.keys() - set(self.parameters))
            raise TypeError(
                f"statement {self.name}: missing parameters {missing}, unknown {unknown}"
            )
        return [values[name] for name in self.parameters]


def compile_statement(name: str, source: str) -> Statement:
    """``source`` with its ``:name`` parameters numbered in order of first use."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        parameter = match.group(3)
        if parameter is None:
            return match.group(0)
        return f"${numbers.setdefault(parameter, len(numbers) + 1)}"

    text = _TOKEN.sub(number, source)
    return Statement(name, text, tuple(numbers))


@cache
def source(name: str) -> str:
    """The text of ``sql/<name>.sql``, as written."""
    return files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


@cache
def query(name: str) -> Statement:
    """The statement in ``sql/<name>.sql``."""
    return compile_statement(name, source(name))


def _named(error: BaseException, statement: Statement) -> None:
    error.add_note(f"in SQL statement {statement.name}")


def _statement(name_or_statement: str | Statement) -> Statement:
    if isinstance(name_or_statement, Statement):
        return name_or_statement
    return query(name_or_statement)


async def fetch(
    database: Database, statement: str | Statement, **values: object
) -> list[asyncpg.Record]:
    s = _statement(statement)
    try:
        return await database.fetch(s.text, *s.arguments(values))
    except Exception as error:
        _named(error, s)
        raise


async def fetchrow(
    database: Database, statement: str | Statement, **values: object
) -> asyncpg.Record | None:
    s = _statement(statement)
    try:
        return await database.fetchrow(s.text, *s.arguments(values))
    except Exception as error:
        _named(error, s)
        raise


async def fetchval(database: Database, statement: str | Statement, **values: object) -> Any:
    s = _statement(statement)
    try:
        return await database.fetchval(s.text, *s.arguments(values))
    except Exception as error:
        _named(error, s)
        raise


async def execute(database: Database, statement: str | Statement, **values: object) -> str:
    s = _statement(statement)
    try:
        return await database.execute(s.text, *s.arguments(values))
    except Exception as error:
        _named(error, s)
        raise
