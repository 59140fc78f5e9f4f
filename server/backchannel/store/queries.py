"""Named SQL statements, each kept in its own file under ``sql/``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def sql(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
