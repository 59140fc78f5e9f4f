"""The ``backchannel`` pytest plugin (entry point group ``pytest11``).

It puts the installed Backchannel plugins in the test report's header, marks every test of
a conformance suite ``backchannel_conformance`` (``pytest -m backchannel_conformance`` runs
only those), and offers the ``backchannel_plugins`` fixture. The suites themselves are the
base classes in :mod:`backchannel.testing`; they work with or without this plugin.
"""

from __future__ import annotations

import pytest

from backchannel.plugin_host import LoadedPlugins, PluginConflictError, load_plugins
from backchannel.testing._formatter_suite import FormatterConformance
from backchannel.testing._transport_suite import TransportConformance

MARKER = "backchannel_conformance"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a test of Backchannel's transport or formatter conformance suite"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"backchannel plugins: {installed_plugins_summary()}"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, TransportConformance | FormatterConformance):
            item.add_marker(MARKER)


@pytest.fixture(scope="session")
def backchannel_plugins() -> LoadedPlugins:
    """Every installed Backchannel plugin, loaded as the server loads them."""
    return load_plugins()


def installed_plugins_summary() -> str:
    """One line naming each installed Backchannel plugin and its state."""
    try:
        loaded = load_plugins()
    except PluginConflictError as error:
        return f"conflict: {error}"
    if not loaded.plugins:
        return "none installed"
    return ", ".join(
        f"{info.distribution} {info.version} ({info.state})".replace(" ()", "")
        for info in loaded.plugins
    )
