"""The distribution is installed, found through its entry point, and listed by
``backchannel plugins`` as an operator sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

#: The ``backchannel`` command of the environment these tests run in.
BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))


def listed_plugins(**environment: str) -> list[dict[str, Any]]:
    """What ``backchannel plugins --json`` says, with ``environment`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update(environment)
    run = subprocess.run(
        [BACKCHANNEL, "plugins", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed: list[dict[str, Any]] = json.loads(run.stdout)
    return listed


def test_plugin_is_installed_under_the_backchannel_entry_point_group() -> None:
    [entry_point] = [ep for ep in entry_points(group="backchannel") if ep.name == "slack"]
    assert entry_point.value == "backchannel_slack"


def test_backchannel_plugins_lists_the_slack_transport() -> None:
    [slack] = [p for p in listed_plugins() if p["distribution"] == "backchannel-slack"]
    assert (slack["state"], slack["transports"]) == ("loaded", ["slack"])


def test_a_disabled_distribution_is_not_imported() -> None:
    listed = listed_plugins(BACKCHANNEL_DISABLED_PLUGINS="backchannel-slack")
    [slack] = [p for p in listed if p["distribution"] == "backchannel-slack"]
    assert (slack["state"], slack["transports"]) == ("disabled", [])
