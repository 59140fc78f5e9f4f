"""``backchannel plugins new``: a new plugin distribution from Backchannel's templates,
every name replaced, ready to ``pip install -e`` and test.

The templates (``templates/transport``, ``templates/formatter``) are working plugins named
``myplugin``: CI renders each, installs it and runs its conformance suite, so what a team
starts from is known to pass.
"""

from __future__ import annotations

import re
from importlib.resources import as_file, files
from pathlib import Path
from typing import Literal

PluginKind = Literal["transport", "formatter"]

#: A transport or formatter name, as the host accepts it.
NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_PLACEHOLDER = "myplugin"
_SKIPPED = ("__pycache__", ".egg-info", ".pyc")


class ScaffoldError(Exception):
    """The plugin cannot be made (a bad name, a folder already there)."""


def camel_case(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


def replacements(name: str) -> list[tuple[str, str]]:
    """What the template's names become, longest first."""
    module = name.replace("-", "_")
    camel = camel_case(name)
    return [
        ("backchannel-myplugin", f"backchannel-{name}"),
        ("backchannel_myplugin", f"backchannel_{module}"),
        ("MyTransport", f"{camel}Transport"),
        ("MySettings", f"{camel}Settings"),
        ("MyFormatter", f"{camel}Formatter"),
        (_PLACEHOLDER, name),
    ]


def render(text: str, name: str) -> str:
    for old, new in replacements(name):
        text = text.replace(old, new)
    return text


def new_plugin(name: str, kind: PluginKind, parent: Path) -> Path:
    """Writes the distribution ``backchannel-<name>`` into ``parent``; returns its folder."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: lower-case letters, digits, '-' and '_', "
            "starting with a letter"
        )
    target = parent / f"backchannel-{name}"
    if target.exists():
        raise ScaffoldError(f"{target} already exists")
    with as_file(files(__package__).joinpath("templates", kind)) as template:
        for source in sorted(template.rglob("*")):
            relative = source.relative_to(template)
            if source.is_dir() or any(part in str(relative) for part in _SKIPPED):
                continue
            destination = target / render(str(relative), name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(render(source.read_text(encoding="utf-8"), name))
    return target
