"""docs/writing-a-transport-plugin.md shows code that runs as written: its conformance
test is exactly the one `backchannel plugins new acme` writes (which CI runs)."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from backchannel.scaffold import render

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-transport-plugin.md"
MARKER = "<!-- the tests/test_conformance.py `backchannel plugins new acme` writes; CI runs it -->"


def test_the_guides_conformance_test_is_the_one_the_scaffold_writes() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    block = re.search(re.escape(MARKER) + r"\n```python\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the guide lost its conformance test block"
    template = files("backchannel.scaffold").joinpath(
        "templates", "transport", "tests", "test_conformance.py"
    )
    assert block[1] == render(template.read_text(encoding="utf-8"), "acme")


def test_the_guide_starts_from_the_scaffold_command() -> None:
    assert "backchannel plugins new acme" in GUIDE.read_text(encoding="utf-8")
