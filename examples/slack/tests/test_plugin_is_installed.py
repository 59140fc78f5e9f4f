"""The distribution is installed and found through its entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from backchannel.plugin_host import describe_plugins, load_plugins


def test_plugin_is_installed_under_the_backchannel_entry_point_group() -> None:
    [entry_point] = [ep for ep in entry_points(group="backchannel") if ep.name == "slack"]
    assert entry_point.value == "backchannel_slack"


def test_backchannel_plugins_lists_the_slack_transport() -> None:
    table = describe_plugins(load_plugins())
    [row] = [line for line in table.splitlines() if line.startswith("backchannel-slack ")]
    assert "loaded" in row and "transports: slack" in row


def test_a_disabled_distribution_is_not_imported() -> None:
    loaded = load_plugins(frozenset({"backchannel-slack"}))
    assert "slack" not in loaded.transports
    [info] = [info for info in loaded.plugins if info.distribution == "backchannel-slack"]
    assert info.state == "disabled"
