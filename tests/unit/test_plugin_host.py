"""The plugin host loads real entry points of throwaway distributions built in ``tmp_path``."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backchannel.plugin_host import (
    PluginConflictError,
    describe_plugins,
    load_plugins,
    plugins_as_json,
)

# Module-level source shared by the plugins below: a transport and a formatter whose name is
# chosen at registration time.
COMPONENTS = """
from backchannel.plugin import (
    DeliveryResult, Formatter, RenderedContent, Transport, TransportSettings, hookimpl,
)


class NoSettings(TransportSettings):
    pass


class NamedTransport(Transport):
    settings_model = NoSettings

    def __init__(self, name):
        self.name = name

    async def send(self, message, settings):
        return DeliveryResult(succeeded=True)


class NamedFormatter(Formatter):
    def __init__(self, name):
        self.name = name

    def render(self, document, options):
        return RenderedContent(body=b"", content_type="text/plain", file_extension="txt")
"""


def registers(transports: tuple[str, ...] = (), formatters: tuple[str, ...] = ()) -> str:
    """Source of a plugin module that registers transports and formatters by these names."""
    source = COMPONENTS
    if transports:
        source += "\n@hookimpl\ndef register_transports(register):\n"
        source += "".join(f"    register(NamedTransport({name!r}))\n" for name in transports)
    if formatters:
        source += "\n@hookimpl\ndef register_formatters(register):\n"
        source += "".join(f"    register(NamedFormatter({name!r}))\n" for name in formatters)
    return source


class Distributions:
    """Builds installed-looking distributions on a path entry of their own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Unique per test run, so modules never collide with another test's in sys.modules.
        self.prefix = f"bctest_{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []

    def add(self, suffix: str, module_source: str, version: str = "1.0.0") -> str:
        """Creates distribution ``<prefix>-<suffix>`` whose entry point ``plugin`` is a module
        with ``module_source``; returns the distribution name."""
        name = f"{self.prefix}-{suffix}"
        module = name.replace("-", "_")
        (self.root / f"{module}.py").write_text(textwrap.dedent(module_source))
        dist_info = self.root / f"{module}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        (dist_info / "entry_points.txt").write_text(f"[backchannel]\nplugin = {module}\n")
        self.names.append(name)
        importlib.invalidate_caches()
        return name

    def entry_points(self) -> list[importlib.metadata.EntryPoint]:
        """The real, discovered entry points of this test's distributions only."""
        return [
            entry_point
            for entry_point in importlib.metadata.entry_points(group="backchannel")
            if entry_point.dist is not None and entry_point.dist.name in self.names
        ]

    def module_of(self, name: str) -> str:
        return name.replace("-", "_")


@pytest.fixture
def distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Distributions]:
    monkeypatch.syspath_prepend(str(tmp_path))
    built = Distributions(tmp_path)
    yield built
    for module in [name for name in sys.modules if name.startswith(built.prefix)]:
        del sys.modules[module]
    importlib.invalidate_caches()


def test_a_good_plugins_transport_and_formatter_are_loaded_with_its_distribution_and_version(
    distributions: Distributions,
) -> None:
    good = distributions.add("good", registers(("carrier",), ("plain",)), version="2.3.4")

    loaded = load_plugins(entry_points=distributions.entry_points())

    assert loaded.transports["carrier"].name == "carrier"
    assert loaded.formatters["plain"].name == "plain"
    origin = loaded.origin_of_transport("carrier")
    assert (origin.distribution, origin.version, origin.state) == (good, "2.3.4", "loaded")
    assert loaded.origin_of_formatter("plain") == origin
    assert origin.hooks == ("register_formatters", "register_transports")


def test_installed_plugins_are_discovered_without_being_passed_in(
    distributions: Distributions,
) -> None:
    good = distributions.add("discovered", registers(("discovered-transport",)))

    loaded = load_plugins()

    assert loaded.origin_of_transport("discovered-transport").distribution == good
    assert any(
        info.distribution == "backchannel" and info.entry_point == "builtin_formatters"
        for info in loaded.plugins
    )


def test_a_plugin_that_fails_to_import_is_reported_by_distribution_and_the_others_still_load(
    distributions: Distributions,
) -> None:
    broken = distributions.add("broken", "import bctest_module_that_does_not_exist\n", "0.9")
    distributions.add("beside", registers(("beside",)))

    loaded = load_plugins(entry_points=distributions.entry_points())

    [failed] = loaded.failed
    assert (failed.distribution, failed.version, failed.state) == (broken, "0.9", "failed")
    assert failed.error is not None
    assert "ModuleNotFoundError" in failed.error
    assert "bctest_module_that_does_not_exist" in failed.error
    assert "beside" in loaded.transports


def test_a_hook_that_raises_is_reported_by_distribution_and_the_others_still_load(
    distributions: Distributions,
) -> None:
    raising = distributions.add(
        "raising",
        COMPONENTS
        + textwrap.dedent(
            """
            @hookimpl
            def register_transports(register):
                register(NamedTransport("half-registered"))
                raise ValueError("no configuration for the raising plugin")
            """
        ),
    )
    distributions.add("beside", registers(("beside",)))

    loaded = load_plugins(entry_points=distributions.entry_points())

    [failed] = loaded.failed
    assert failed.distribution == raising
    assert failed.error == "ValueError: no configuration for the raising plugin"
    assert "half-registered" not in loaded.transports
    assert "beside" in loaded.transports


def test_two_distributions_registering_one_transport_name_is_a_conflict_naming_both(
    distributions: Distributions,
) -> None:
    first = distributions.add("first", registers(transports=("webhook",)))
    second = distributions.add("second", registers(transports=("webhook",)))

    with pytest.raises(PluginConflictError) as raised:
        load_plugins(entry_points=distributions.entry_points())

    message = str(raised.value)
    assert "transport name 'webhook'" in message
    assert first in message
    assert second in message


def test_two_distributions_registering_one_formatter_name_is_a_conflict_naming_both(
    distributions: Distributions,
) -> None:
    first = distributions.add("first", registers(formatters=("csv",)))
    second = distributions.add("second", registers(formatters=("csv",)))

    with pytest.raises(PluginConflictError) as raised:
        load_plugins(entry_points=distributions.entry_points())

    [conflict] = raised.value.conflicts
    assert (conflict.kind, conflict.name) == ("formatter", "csv")
    assert {conflict.first.distribution, conflict.second.distribution} == {first, second}
    assert first in str(raised.value)
    assert second in str(raised.value)


def test_one_distribution_registering_a_name_twice_is_a_conflict(
    distributions: Distributions,
) -> None:
    twice = distributions.add("twice", registers(transports=("echo", "echo")))

    with pytest.raises(PluginConflictError) as raised:
        load_plugins(entry_points=distributions.entry_points())

    assert f"transport name 'echo' is registered twice by {twice}" in str(raised.value)


def test_an_object_that_is_not_a_transport_is_refused(distributions: Distributions) -> None:
    refused = distributions.add(
        "not-a-transport",
        COMPONENTS
        + textwrap.dedent(
            """
            class HalfTransport:
                name = "half"

                def check_settings(self, settings, secrets):
                    return []

            @hookimpl
            def register_transports(register):
                register(HalfTransport())
            """
        ),
    )

    loaded = load_plugins(entry_points=distributions.entry_points())

    info = loaded.plugins[0]
    assert (info.distribution, info.state) == (refused, "failed")
    assert info.error is not None
    assert "HalfTransport object is not a Transport" in info.error
    assert "send" in info.error
    assert "half" not in loaded.transports


def test_a_transport_with_a_synchronous_send_is_refused(distributions: Distributions) -> None:
    distributions.add(
        "sync-send",
        COMPONENTS
        + textwrap.dedent(
            """
            class SyncSend(NamedTransport):
                def send(self, message, settings):
                    return DeliveryResult(succeeded=True)

            @hookimpl
            def register_transports(register):
                register(SyncSend("sync"))
            """
        ),
    )

    loaded = load_plugins(entry_points=distributions.entry_points())

    [failed] = loaded.failed
    assert failed.error is not None
    assert "send() must be async" in failed.error
    assert "sync" not in loaded.transports


@pytest.mark.parametrize(
    ("declaration", "complaint"),
    [
        ("", "does not define settings_model"),
        ("settings_model = dict", "settings_model that is not a TransportSettings subclass"),
    ],
)
def test_a_transport_without_a_settings_model_is_refused(
    distributions: Distributions, declaration: str, complaint: str
) -> None:
    distributions.add(
        "no-model",
        COMPONENTS.replace("    settings_model = NoSettings", f"    {declaration}")
        + "\n@hookimpl\ndef register_transports(register):\n"
        + "    register(NamedTransport('unmodelled'))\n",
    )

    loaded = load_plugins(entry_points=distributions.entry_points())

    [failed] = loaded.failed
    assert failed.error is not None and complaint in failed.error
    assert "unmodelled" not in loaded.transports


@pytest.mark.parametrize("bad_name", ["", "Webhook", "9lives", "web hook", "web.hook"])
def test_a_transport_whose_name_is_not_a_lower_case_identifier_is_refused(
    distributions: Distributions, bad_name: str
) -> None:
    distributions.add("bad-name", registers(transports=(bad_name,)))

    loaded = load_plugins(entry_points=distributions.entry_points())

    [failed] = loaded.failed
    assert failed.error is not None
    assert f"transport name {bad_name!r}" in failed.error
    assert bad_name not in loaded.transports


def test_a_misspelt_hook_is_refused_rather_than_ignored(distributions: Distributions) -> None:
    distributions.add(
        "misspelt",
        COMPONENTS
        + textwrap.dedent(
            """
            @hookimpl
            def register_transport(register):
                register(NamedTransport("never"))
            """
        ),
    )

    loaded = load_plugins(entry_points=distributions.entry_points())

    [failed] = loaded.failed
    assert failed.error is not None
    assert "unknown hook(s) register_transport" in failed.error


def test_a_disabled_distribution_is_listed_but_never_imported(
    distributions: Distributions,
) -> None:
    disabled = distributions.add(
        "disabled", "raise RuntimeError('a disabled plugin was imported')\n", version="3.0"
    )
    distributions.add("enabled", registers(("enabled",)))

    loaded = load_plugins(
        # Spelt differently from the metadata: distribution names compare normalized.
        disabled_distributions=frozenset({disabled.upper().replace("-", "_")}),
        entry_points=distributions.entry_points(),
    )

    info = next(info for info in loaded.plugins if info.distribution == disabled)
    assert (info.version, info.state, info.error) == ("3.0", "disabled", None)
    assert distributions.module_of(disabled) not in sys.modules
    assert loaded.failed == ()
    assert "enabled" in loaded.transports


def test_describe_plugins_lists_each_distribution_version_and_state(
    distributions: Distributions,
) -> None:
    good = distributions.add("good", registers(("carrier",), ("plain",)), version="1.2.0")
    broken = distributions.add("broken", "raise ImportError('needs libfoo')\n", version="0.1.0")
    disabled = distributions.add("off", registers(("off",)), version="4.5.6")

    table = describe_plugins(
        load_plugins(
            disabled_distributions=frozenset({disabled}),
            entry_points=distributions.entry_points(),
        )
    )

    lines = table.splitlines()
    assert lines[0].split()[:3] == ["DISTRIBUTION", "VERSION", "STATE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows[good].split()[1:3] == ["1.2.0", "loaded"]
    assert "transports: carrier; formatters: plain" in rows[good]
    assert rows[broken].split()[1:3] == ["0.1.0", "failed"]
    assert "ImportError: needs libfoo" in rows[broken]
    assert rows[disabled].split()[1:3] == ["4.5.6", "disabled"]


def test_plugins_as_json_gives_one_object_per_entry_point(
    distributions: Distributions,
) -> None:
    good = distributions.add("good", registers(("carrier",)), version="1.2.0")

    [record] = plugins_as_json(load_plugins(entry_points=distributions.entry_points()))

    assert record == {
        "distribution": good,
        "version": "1.2.0",
        "entry_point": "plugin",
        "module": distributions.module_of(good),
        "state": "loaded",
        "transports": ["carrier"],
        "formatters": [],
        "hooks": ["register_transports"],
        "error": None,
    }


def test_the_loaded_transports_cannot_be_changed_afterwards(
    distributions: Distributions,
) -> None:
    distributions.add("good", registers(("carrier",)))

    loaded = load_plugins(entry_points=distributions.entry_points())

    with pytest.raises(TypeError):
        loaded.transports["other"] = loaded.transports["carrier"]  # type: ignore[index]
