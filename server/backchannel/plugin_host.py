"""Finds, loads and vets the installed plugins once, at start-up.

Entry points of the ``backchannel`` group are loaded here, each in its own ``try``, rather
than with pluggy's ``load_setuptools_entrypoints``: one broken plugin is reported by its
distribution and does not stop the others, and two plugins claiming the same transport or
formatter name stop the service instead of one silently replacing the other.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import pluggy

from backchannel.plugin import PROJECT_NAME, Formatter, HookSpecs, Transport, TransportSettings

logger = logging.getLogger(__name__)

PluginState = Literal["loaded", "failed", "disabled"]
ComponentKind = Literal["transport", "formatter"]

_COMPONENT_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_UNKNOWN_DISTRIBUTION = "(unknown distribution)"


@dataclass(frozen=True)
class PluginInfo:
    """What became of one entry point of the ``backchannel`` group."""

    distribution: str
    version: str
    entry_point: str
    #: The entry point's target, ``module`` or ``module:attribute``.
    module: str
    state: PluginState
    transports: tuple[str, ...] = ()
    formatters: tuple[str, ...] = ()
    #: The hooks the plugin implements, by name.
    hooks: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class NameConflict:
    """A transport or formatter name that two registrations claim."""

    kind: ComponentKind
    name: str
    first: PluginInfo
    second: PluginInfo

    def describe(self) -> str:
        if self.first.distribution == self.second.distribution:
            return (
                f"{self.kind} name {self.name!r} is registered twice by "
                f"{_label(self.first)} (entry points {self.first.entry_point!r} and "
                f"{self.second.entry_point!r})"
            )
        return (
            f"{self.kind} name {self.name!r} is registered by both {_label(self.first)} "
            f"and {_label(self.second)}"
        )


class PluginConflictError(Exception):
    """Two registrations claim the same transport or formatter name: start-up cannot go on."""

    def __init__(self, conflicts: Iterable[NameConflict]) -> None:
        self.conflicts = tuple(conflicts)
        lines = [conflict.describe() for conflict in self.conflicts]
        super().__init__(
            "; ".join(lines) + ". Uninstall or disable one of the distributions involved."
        )


@dataclass(frozen=True)
class LoadedPlugins:
    """The outcome of :func:`load_plugins`: what can be used and where each part came from."""

    transports: Mapping[str, Transport[Any]]
    formatters: Mapping[str, Formatter]
    #: Every entry point found, loaded or not, ordered by distribution and entry point.
    plugins: tuple[PluginInfo, ...]

    @property
    def failed(self) -> tuple[PluginInfo, ...]:
        return tuple(info for info in self.plugins if info.state == "failed")

    def origin_of_transport(self, name: str) -> PluginInfo:
        """The plugin that registered transport ``name``; ``KeyError`` when none did."""
        return self._origin("transport", name)

    def origin_of_formatter(self, name: str) -> PluginInfo:
        """The plugin that registered formatter ``name``; ``KeyError`` when none did."""
        return self._origin("formatter", name)

    def _origin(self, kind: ComponentKind, name: str) -> PluginInfo:
        for info in self.plugins:
            names = info.transports if kind == "transport" else info.formatters
            if info.state == "loaded" and name in names:
                return info
        raise KeyError(f"no plugin registered the {kind} {name!r}")


def load_plugins(
    disabled_distributions: frozenset[str] = frozenset(),
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> LoadedPlugins:
    """Loads every plugin that is installed and not disabled, and vets what it registers.

    ``entry_points`` defaults to the installed entry points of the ``backchannel`` group.
    A plugin that cannot be imported, whose hook raises, or that registers something that is
    not a valid transport or formatter is reported as ``failed`` and contributes nothing.
    Distributions named in ``disabled_distributions`` are listed as ``disabled`` and never
    imported.

    Raises :class:`PluginConflictError` when two registrations claim the same name.
    """
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=PROJECT_NAME)
    disabled = frozenset(_normalize(name) for name in disabled_distributions)
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(HookSpecs)

    transports: dict[str, Transport[Any]] = {}
    formatters: dict[str, Formatter] = {}
    owners: dict[tuple[ComponentKind, str], PluginInfo] = {}
    conflicts: list[NameConflict] = []
    plugins: list[PluginInfo] = []

    for entry_point in sorted(entry_points, key=_sort_key):
        info, registrations = _load_one(manager, entry_point, disabled)
        plugins.append(info)
        for kind, name in registrations.order:
            owner = owners.get((kind, name))
            if owner is None:
                owners[(kind, name)] = info
            else:
                conflicts.append(NameConflict(kind, name, owner, info))
        transports.update(registrations.transports)
        formatters.update(registrations.formatters)

    if conflicts:
        raise PluginConflictError(conflicts)
    return LoadedPlugins(
        transports=MappingProxyType(transports),
        formatters=MappingProxyType(formatters),
        plugins=tuple(plugins),
    )


def describe_plugins(loaded: LoadedPlugins) -> str:
    """A table of every plugin found, for ``backchannel plugins``."""
    if not loaded.plugins:
        return "No backchannel plugins are installed."
    header = ("DISTRIBUTION", "VERSION", "STATE", "ENTRY POINT", "PROVIDES", "ERROR")
    rows = [header] + [
        (
            info.distribution,
            info.version,
            info.state,
            info.entry_point,
            _provides(info),
            " ".join((info.error or "").split()),
        )
        for info in loaded.plugins
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def plugins_as_json(loaded: LoadedPlugins) -> list[dict[str, Any]]:
    """Every plugin found, as JSON-ready objects, for ``backchannel plugins --json``."""
    return [
        {
            "distribution": info.distribution,
            "version": info.version,
            "entry_point": info.entry_point,
            "module": info.module,
            "state": info.state,
            "transports": list(info.transports),
            "formatters": list(info.formatters),
            "hooks": list(info.hooks),
            "error": info.error,
        }
        for info in loaded.plugins
    ]


@dataclass
class _Registrations:
    """What one plugin's hooks registered, held back until the plugin is known good."""

    transports: dict[str, Transport[Any]] = field(default_factory=dict)
    formatters: dict[str, Formatter] = field(default_factory=dict)
    #: Names in registration order, repeats included, so duplicates are not lost.
    order: list[tuple[ComponentKind, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add_transport(self, candidate: object) -> None:
        problem = _problem_with(candidate, Transport)
        if problem is not None:
            self.problems.append(f"register_transports: {problem}")
            return
        assert isinstance(candidate, Transport)
        self.transports.setdefault(candidate.name, candidate)
        self.order.append(("transport", candidate.name))

    def add_formatter(self, candidate: object) -> None:
        problem = _problem_with(candidate, Formatter)
        if problem is not None:
            self.problems.append(f"register_formatters: {problem}")
            return
        assert isinstance(candidate, Formatter)
        self.formatters.setdefault(candidate.name, candidate)
        self.order.append(("formatter", candidate.name))


def _load_one(
    manager: pluggy.PluginManager,
    entry_point: importlib.metadata.EntryPoint,
    disabled: frozenset[str],
) -> tuple[PluginInfo, _Registrations]:
    """Imports one entry point and runs its hooks; every failure becomes a ``failed`` record."""
    distribution, version = _distribution_of(entry_point)
    identity = (distribution, version, entry_point.name, entry_point.value)
    if _normalize(distribution) in disabled:
        return PluginInfo(*identity, state="disabled"), _Registrations()

    registrations = _Registrations()
    hooks: tuple[str, ...] = ()
    try:
        plugin = entry_point.load()
        manager.register(plugin, name=f"{distribution}:{entry_point.name}")
        try:
            hooks = _hooks_of(manager, plugin)
            _call_hooks(manager, plugin, registrations)
            if registrations.problems:
                raise _InvalidRegistration("; ".join(registrations.problems))
        except BaseException:
            manager.unregister(plugin)
            raise
    except Exception as error:
        logger.warning(
            "plugin %s %s (entry point %r) failed to load",
            distribution,
            version,
            entry_point.name,
            exc_info=not isinstance(error, _InvalidRegistration),
        )
        return (
            PluginInfo(*identity, state="failed", hooks=hooks, error=_error_text(error)),
            _Registrations(),
        )

    logger.info(
        "plugin %s %s loaded: transports %s, formatters %s",
        distribution,
        version,
        sorted(registrations.transports) or "none",
        sorted(registrations.formatters) or "none",
    )
    info = PluginInfo(
        *identity,
        state="loaded",
        transports=tuple(registrations.transports),
        formatters=tuple(registrations.formatters),
        hooks=hooks,
    )
    return info, registrations


class _InvalidRegistration(Exception):
    """A plugin registered something the host cannot use, or implements an unknown hook."""


def _hooks_of(manager: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    """The hooks ``plugin`` implements; a misspelt hook is an error, not a silent no-op."""
    callers = manager.get_hookcallers(plugin) or []
    unknown = [
        caller.name
        for caller in callers
        if caller.spec is None
        and any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls())
    ]
    if unknown:
        known = ", ".join(sorted(name for name in vars(HookSpecs) if not name.startswith("_")))
        raise _InvalidRegistration(
            f"implements unknown hook(s) {', '.join(sorted(unknown))}; the hooks are {known}"
        )
    return tuple(sorted(caller.name for caller in callers if caller.spec is not None))


def _call_hooks(
    manager: pluggy.PluginManager, plugin: object, registrations: _Registrations
) -> None:
    """Calls this one plugin's registration hooks, so each registration has a known origin."""
    others = [other for other in manager.get_plugins() if other is not plugin]
    manager.subset_hook_caller("register_transports", others)(register=registrations.add_transport)
    manager.subset_hook_caller("register_formatters", others)(register=registrations.add_formatter)


#: What a plugin's class must define itself; every other member has a default in the base.
_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "Transport": ("name", "settings_model", "send"),
    "Formatter": ("name", "render"),
}


def _problem_with(candidate: object, base: type[Transport[Any]] | type[Formatter]) -> str | None:
    """Why ``candidate`` cannot serve as a ``base`` (a subclass of it, with a valid name,
    its required members and async methods where the base's are), or ``None`` when it can."""
    kind = base.__name__
    what = f"a {type(candidate).__qualname__} object"
    missing = [name for name in _REQUIRED[kind] if not hasattr(candidate, name)]
    if not isinstance(candidate, base):
        lacking = f" (missing {', '.join(missing)})" if missing else ""
        return f"{what} is not a {kind}: subclass backchannel.plugin.{kind}{lacking}"
    if missing:
        return f"{what} is not a usable {kind}: it does not define {', '.join(missing)}"
    for member, expected in vars(base).items():
        if member.startswith("_") or not callable(expected):
            continue
        if inspect.iscoroutinefunction(expected) != inspect.iscoroutinefunction(
            getattr(candidate, member)
        ):
            should_be = "async" if inspect.iscoroutinefunction(expected) else "not async"
            return f"{what} is not a {kind}: {member}() must be {should_be}"
    name = candidate.name
    if not isinstance(name, str) or not _COMPONENT_NAME.fullmatch(name):
        return (
            f"{what} has {kind.lower()} name {name!r}; a name is lower-case letters, digits, "
            f"'_' and '-', starting with a letter"
        )
    model = getattr(candidate, "settings_model", None)
    if isinstance(candidate, Transport) and not (
        isinstance(model, type) and issubclass(model, TransportSettings)
    ):
        return f"{what} has a settings_model that is not a TransportSettings subclass"
    return None


def _distribution_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return _UNKNOWN_DISTRIBUTION, ""
    return dist.name, dist.version


def _normalize(distribution: str) -> str:
    """The PEP 503 form of a distribution name, so ``Foo_Bar`` and ``foo-bar`` match."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _sort_key(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    return _normalize(_distribution_of(entry_point)[0]), entry_point.name


def _error_text(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, _InvalidRegistration):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _label(info: PluginInfo) -> str:
    return f"{info.distribution} {info.version}".rstrip()


def _provides(info: PluginInfo) -> str:
    parts = []
    if info.transports:
        parts.append("transports: " + ", ".join(info.transports))
    if info.formatters:
        parts.append("formatters: " + ", ".join(info.formatters))
    return "; ".join(parts) or "-"


def unloaded_plugins(loaded: Iterable[object]) -> list[str]:
    """Installed plugin distributions (``name version``) that registered none of the
    ``loaded`` transports and formatters: installed after the server started (it loads
    plugins once, at start-up), or disabled. Read from the installed metadata now."""
    by_module = importlib.metadata.packages_distributions()
    serving = {
        _normalize(name)
        for component in loaded
        for name in by_module.get(type(component).__module__.partition(".")[0], [])
    }
    found: dict[str, str] = {}
    for entry_point in importlib.metadata.entry_points(group=PROJECT_NAME):
        distribution, version = _distribution_of(entry_point)
        if _normalize(distribution) not in serving and distribution != _UNKNOWN_DISTRIBUTION:
            found[_normalize(distribution)] = f"{distribution} {version}".rstrip()
    return sorted(found.values())
