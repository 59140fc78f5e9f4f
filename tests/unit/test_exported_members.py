"""The public plugin API is backchannel.plugin, backchannel.plugin_support (with its aiohttp
helpers) and backchannel.testing: what each exports is pinned here, so it changes only on
purpose; every public name a module has is one it exports; and plugins import nothing else
of Backchannel."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

import backchannel.plugin
import backchannel.plugin_support
import backchannel.plugin_support.aiohttp
import backchannel.testing

PUBLIC_API = {
    backchannel.plugin: [
        "PROJECT_NAME",
        "Attribution",
        "CompanionFile",
        "Consent",
        "ContentRefused",
        "DeliveryResult",
        "Destination",
        "FeedbackDocument",
        "FeedbackKind",
        "FieldProblem",
        "Formatter",
        "HookSpecs",
        "IPNetwork",
        "OutboundFile",
        "OutboundMessage",
        "Outcome",
        "ProbeStep",
        "RegisterFormatter",
        "RegisterTransport",
        "RenderedContent",
        "ReturnDetails",
        "Secret",
        "SettingError",
        "TemplateFailed",
        "Transport",
        "TransportContext",
        "TransportSettings",
        "hookimpl",
        "hookspec",
    ],
    backchannel.plugin_support: [
        "EXCERPT_CHARS",
        "MASK",
        "MAX_FACTOR",
        "MAX_RANGE",
        "MAX_RETRY_AFTER_SECONDS",
        "SPAN_FACTS",
        "AllowedDestination",
        "ConnectTimeoutSeconds",
        "DestinationRefused",
        "HeaderName",
        "HeaderValue",
        "HostName",
        "IPAddress",
        "NoControlCharacters",
        "PemCertificates",
        "Port",
        "SentBytes",
        "address_literal",
        "connection_facts",
        "embedded_ipv4",
        "excerpt",
        "http_client_facts",
        "in_template_worker",
        "is_allowlisted",
        "is_retryable_status",
        "looks_like_address_literal",
        "mask",
        "number_above_zero",
        "one_line",
        "one_or_more",
        "parse_retry_after",
        "redacted_url",
        "refusal_reason",
        "remote_id",
        "template_amplifier",
        "web_url",
        "whole_number",
        "with_facts",
    ],
    backchannel.plugin_support.aiohttp: [
        "GuardedResolver",
        "Unanswered",
        "describe_unanswered",
        "destination_refusal",
        "read_bounded",
        "refuse_address_literal",
    ],
    backchannel.testing: [
        "SAMPLE_DOCUMENTS",
        "Arrival",
        "FormatterConformance",
        "ReceivedPayloads",
        "TransportConformance",
        "installed_formatter",
        "installed_transport",
        "loopback_context",
        "parsed_settings",
        "prepare_recipient",
        "sample_content",
        "sample_file",
        "sample_message",
        "secret_values",
        "settings_problems",
        "unused_port",
    ],
}
MODULES = list(PUBLIC_API)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_the_exported_names_change_only_on_purpose(module: types.ModuleType) -> None:
    assert module.__all__ == PUBLIC_API[module]


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_every_exported_name_exists(module: types.ModuleType) -> None:
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


@pytest.mark.parametrize(
    "module",
    [backchannel.plugin, backchannel.plugin_support, backchannel.testing],
    ids=lambda module: module.__name__,
)
def test_a_package_facade_has_no_public_name_it_does_not_export(module: types.ModuleType) -> None:
    # The implementation lives in private modules; the package only re-exports.
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert public == set(module.__all__)


PUBLIC_MODULES = {module.__name__ for module in MODULES}
ROOT = Path(__file__).resolve().parents[2]
#: Code built exactly as an outside plugin is: the built-in transports, the examples and
#: the templates of `backchannel plugins new`.
PLUGIN_CODE = sorted(
    path
    for pattern in (
        "plugins/*/backchannel_*/*.py",
        "examples/*/backchannel_*/*.py",
        "examples/*/tests/*.py",
        "server/backchannel/scaffold/templates/*/backchannel_*/*.py",
        "server/backchannel/scaffold/templates/*/tests/*.py",
    )
    for path in ROOT.glob(pattern)
)


def backchannel_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "backchannel" or name.startswith("backchannel.")}


def test_plugins_and_examples_import_only_the_public_modules() -> None:
    assert PLUGIN_CODE, "no plugin code found"
    private = {
        str(path.relative_to(ROOT)): sorted(backchannel_imports(path) - PUBLIC_MODULES)
        for path in PLUGIN_CODE
    }
    assert {path: names for path, names in private.items() if names} == {}
