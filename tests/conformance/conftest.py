"""The conformance suite reuses the real servers of the plugins' own tests."""

from __future__ import annotations

import sys
from pathlib import Path

_PLUGIN_FIXTURES = str(Path(__file__).resolve().parents[1] / "plugins")
if _PLUGIN_FIXTURES not in sys.path:
    sys.path.insert(0, _PLUGIN_FIXTURES)
