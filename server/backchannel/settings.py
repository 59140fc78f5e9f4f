"""Every setting of the server, declared once: its default, how its text is read and what
it means, together as one field of :class:`Settings`. Values come from ``BACKCHANNEL_*``
environment variables and an optional TOML file, and are validated at start-up with every
problem listed.

The file (``BACKCHANNEL_CONFIG_FILE`` or ``serve --config``) uses the same names in lower
case without the prefix, e.g. ``listen = "0.0.0.0:50051"``; lists may be TOML arrays; the
environment wins over it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from backchannel.certificate_grants import parse_certificate_grants
from backchannel.model import Grant
from backchannel.outbound_allowlist import AllowedDestination, parse_allowlist
from backchannel.sealing.key_ring import KeyRing, KeyRingError, parse_key_ring

PREFIX = "BACKCHANNEL_"
CONFIG_FILE_VARIABLE = PREFIX + "CONFIG_FILE"

DEFAULT_RETRY_SCHEDULE = (
    0.0,
    5.0,
    300.0,
    1800.0,
    7200.0,
    18000.0,
    36000.0,
    50400.0,
    72000.0,
    86400.0,
)

T = TypeVar("T")
Number = TypeVar("Number", int, float)


class SettingsError(Exception):
    """One or more settings are invalid; the message lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _positive(kind: Callable[[str], Number]) -> Callable[[str], Number]:
    def parse(text: str) -> Number:
        value = kind(text)
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    return parse


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _count_or_auto(text: str) -> int | Literal["auto"]:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError("expected auto or a number of processes, e.g. 1")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError("must be a fraction above 0 and at most 1, e.g. 0.5")
    return value


def _schedule(text: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError("expected comma-separated non-negative seconds, e.g. 0,5,300")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.strip().lower() not in allowed and text.strip().upper() not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return text.strip()

    return parse


def _client_auth(text: str) -> str:
    value = text.strip().lower()
    if value == "optional":
        # grpc's Python server either requires a verified client certificate or does not
        # ask for one (dynamic_ssl_server_credentials takes a bool; grpc/grpc#16547).
        raise ValueError(
            "optional is not available: gRPC's Python server either requires a client "
            "certificate or does not ask for one; use require, or none (callers then "
            "authenticate with bearer tokens)"
        )
    if value not in ("", "none", "require"):
        raise ValueError("expected none or require")
    return value


def _listen(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:50051")
    return text


def _key_ring(text: str) -> KeyRing:
    try:
        return parse_key_ring(text, "BACKCHANNEL_SECRET_KEYS")
    except KeyRingError as error:
        raise ValueError(str(error)) from None


def _setting(
    default: T, parse: Callable[[str], T], doc: str, *, table: bool = False, secret: bool = False
) -> T:
    """A field of :class:`Settings`: its default, the parser of its text (from the
    environment, or the file's value as text; a ``table`` setting's TOML table is given
    as JSON) and its meaning, for ``--help``. A ``secret`` one is never shown: not in a
    problem with its value, not in a repr."""
    return field(
        default=default,
        repr=not secret,
        metadata={"parse": parse, "doc": doc, "table": table, "secret": secret},
    )


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting(
        "", str, "Postgres to use; when empty, an embedded Postgres is started in data_dir."
    )
    data_dir: str = _setting("backchannel-data", str, "Folder for the embedded Postgres.")
    listen: str = _setting("127.0.0.1:50051", _listen, "host:port the gRPC server listens on.")
    tls_cert_file: str = _setting(
        "",
        str,
        "PEM certificate chain the gRPC listener serves TLS with (with tls_key_file); empty: "
        "plaintext. Reloaded on SIGHUP and when the files change; connections already open "
        "keep theirs.",
    )
    tls_key_file: str = _setting("", str, "PEM private key of tls_cert_file (unencrypted).")
    tls_client_ca_file: str = _setting(
        "",
        str,
        "PEM bundle of the CAs whose client certificates the listener accepts (mTLS); "
        "reloaded with the certificate.",
    )
    tls_client_auth: str = _setting(
        "",
        _client_auth,
        "Client certificates: require (a certificate signed by tls_client_ca_file, else the "
        "handshake fails) or none (not asked for); empty: require when tls_client_ca_file "
        "is set, else none.",
    )
    tls_reload_check_seconds: float = _setting(
        1.0,
        _non_negative,
        "How often the TLS files are checked for changes, seconds; 0: only on SIGHUP.",
    )
    database_pool_size: int = _setting(10, _positive(int), "Connections in the database pool.")
    dispatcher_enabled: bool = _setting(
        True, _bool, "Deliver feedback (run the dispatcher); false: accept only."
    )
    delivery_processes: int | Literal["auto"] = _setting(
        "auto",
        _count_or_auto,
        "With the dispatcher enabled, how many child processes `backchannel serve` starts "
        "to deliver (`backchannel deliver`), so accepting and delivering use a core each; "
        "0: the serving process delivers itself; auto: 1 when this process may run on two "
        "or more CPUs, else 0.",
    )
    delivery_concurrency: int = _setting(
        256, _positive(int), "Deliveries sent at once by this process."
    )
    recipient_concurrency: int = _setting(
        32,
        _positive(int),
        "Attempts in flight at once to any one recipient, per process: one recipient that "
        "never answers can hold at most this many of the delivery slots.",
    )
    claim_batch_size: int = _setting(100, _positive(int), "Deliveries claimed per claim query.")
    lease_seconds: float = _setting(
        60.0,
        _positive(float),
        "Seconds a claim lasts; a crashed worker's deliveries are taken again after it.",
    )
    poll_interval_seconds: float = _setting(
        1.0, _positive(float), "Seconds between polls when no notification arrives."
    )
    retry_schedule: tuple[float, ...] = _setting(
        DEFAULT_RETRY_SCHEDULE,
        _schedule,
        "Delay before each attempt, seconds; the first is normally 0. Its length is the "
        "maximum number of attempts. Jittered by +-20%.",
    )
    throttle_min_delay_seconds: float = _setting(
        5.0,
        _non_negative,
        'The least delay after a "slow down" answer (429, 502, 503, 504), seconds.',
    )
    retry_share: float = _setting(
        0.5,
        _share,
        "Share of the delivery concurrency retries may take; the rest is kept for first attempts.",
    )
    circuit_failure_threshold: int = _setting(
        5, _positive(int), "Consecutive failed attempts that open a recipient's circuit breaker."
    )
    circuit_open_seconds: float = _setting(
        30.0,
        _positive(float),
        "How long an opened circuit waits before a probe, seconds (doubling, up to 10 min).",
    )
    auto_disable_after_seconds: float = _setting(
        5 * 24 * 3600.0,
        _positive(float),
        "A recipient failing without any success for this long is disabled, seconds.",
    )
    outbound_allow_networks: tuple[AllowedDestination, ...] = _setting(
        (),
        parse_allowlist,
        "Destinations outbound connections may reach despite being loopback, private or "
        "link-local: addresses or ranges, each optionally with one port (10.0.0.0/8, "
        "127.0.0.1:8089, 10.1.0.0/16:443, [::1]:8089). A cloud metadata address is reached "
        "only when listed exactly (169.254.169.254), never through a wider range.",
    )
    outbound_connect_timeout_seconds: float = _setting(
        5.0, _positive(float), "Connect timeout for outbound connections, seconds."
    )
    outbound_timeout_seconds: float = _setting(
        15.0, _positive(float), "Total timeout of one transmission, seconds."
    )
    template_workers: int = _setting(
        2,
        _positive(int),
        "Worker processes each Backchannel process renders recipients' templates in (the "
        "template format, email subjects and bodies), started on first use; never the "
        "event loop.",
    )
    template_timeout_seconds: float = _setting(
        2.0,
        _positive(float),
        "The longest one template render or check may take, seconds; past it the worker "
        "is killed and replaced, and the delivery fails without retrying (or the recipient "
        "is refused).",
    )
    template_max_output_bytes: int = _setting(
        1 << 20,
        _positive(int),
        "The most one template render may write, bytes; more fails the delivery without retrying.",
    )
    disabled_plugins: tuple[str, ...] = _setting(
        (), _names, "Plugin distributions that are installed but must not be loaded."
    )
    event_retention_days: float = _setting(
        30.0, _positive(float), "Days feedback-sent events are kept."
    )
    stream_heartbeat_seconds: float = _setting(
        5.0, _positive(float), "Seconds between heartbeats on a quiet event stream."
    )
    stream_queue_size: int = _setting(
        10000,
        _positive(int),
        "Recent events the process keeps for its stream subscribers (shared by all): a "
        "subscriber this many events behind is ended as too slow and resumes from its "
        "cursor.",
    )
    max_streams: int = _setting(
        1000,
        _positive(int),
        "StreamFeedbackEvents calls open at once in this process; more are refused with "
        "RESOURCE_EXHAUSTED (1,000 subscribers is what the fan-out is measured at).",
    )
    max_streams_per_caller: int = _setting(
        100,
        _positive(int),
        "StreamFeedbackEvents calls one caller may have open at once (an authenticated "
        "caller by name, an anonymous one by its IP address); more are refused with "
        "RESOURCE_EXHAUSTED.",
    )
    max_request_bytes: int = _setting(
        1 << 20,
        _positive(int),
        "The largest encoded request of any RPC, bytes; a larger one is INVALID_ARGUMENT "
        "(gRPC's own 4 MiB message limit still applies above it, as RESOURCE_EXHAUSTED).",
    )
    max_request_entries: int = _setting(
        1000,
        _positive(int),
        "The most entries of any one list or map in a request (at any depth, free-form "
        "structs included); more is INVALID_ARGUMENT.",
    )
    max_feedback_bytes: int = _setting(
        128 * 1024,
        _positive(int),
        "The largest encoded feedback SendFeedback takes, bytes: twice the 64 KiB its "
        "attributes may take, so a feedback with full attributes fits; a larger one is "
        "INVALID_ARGUMENT.",
    )
    max_connections: int = _setting(
        1000,
        _positive(int),
        "Client connections the gRPC server holds at once; further ones are closed before "
        "their handshake (grpc.max_allowed_incoming_connections).",
    )
    max_calls_per_connection: int = _setting(
        500,
        _positive(int),
        "Calls one client connection may have open at once (HTTP/2 "
        "MAX_CONCURRENT_STREAMS); a client queues the ones past it.",
    )
    connection_idle_seconds: float = _setting(
        300.0,
        _positive(float),
        "A client connection with no call open for this long is closed (GOAWAY), seconds.",
    )
    connection_max_age_seconds: float = _setting(
        3600.0,
        _positive(float),
        "A client connection older than this is asked to reconnect (GOAWAY; new calls go "
        "to a new connection), seconds; gRPC adds +-10% jitter.",
    )
    connection_max_age_grace_seconds: float = _setting(
        600.0,
        _positive(float),
        "How long calls still open on a connection past its age may go on before the "
        "connection is closed, seconds; event streams cut then resume from their cursor.",
    )
    otel_exporter: str = _setting(
        "none",
        _choice("none", "console", "otlp"),
        "Trace and metric exporter (none, console or otlp) when OTEL_TRACES_EXPORTER / "
        "OTEL_METRICS_EXPORTER do not say; they win.",
    )
    otel_endpoint: str = _setting(
        "",
        str,
        "OTLP endpoint when neither OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT nor "
        "OTEL_EXPORTER_OTLP_ENDPOINT is set (they win); empty: OpenTelemetry's default "
        "(http://localhost:4317 for grpc, :4318 for http/protobuf).",
    )
    batch_signing_key_file: str = _setting(
        "",
        str,
        "ASCII-armored OpenPGP secret key (without a passphrase) that signs the batch files "
        "of recipients whose encryption asks to sign; empty: signing is refused when a "
        "recipient asks for it.",
    )
    batch_concurrency: int = _setting(
        2, _positive(int), "Batch files built or sent at once by this process (each)."
    )
    shutdown_grace_seconds: float = _setting(
        10.0, _positive(float), "Seconds in-flight work may take to finish at shutdown."
    )
    secret_keys: KeyRing = _setting(  # noqa: RUF009 -- a KeyRing is frozen
        KeyRing(),
        _key_ring,
        "Keys that seal recipients' secret settings in the database: id:base64-key entries "
        "(32-byte AES-256 keys), newest first, comma-separated; new secrets are sealed with "
        "the first. Empty with the embedded Postgres: a key file is created in data_dir.",
        secret=True,
    )
    secret_key_file: str = _setting(
        "",
        str,
        "A file holding the secret keys instead (one id:base64-key a line, newest first, "
        "# comments), e.g. a mounted secret.",
    )
    log_level: str = _setting(
        "INFO",
        _choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "Log level: DEBUG, INFO, WARNING, ERROR.",
    )
    log_format: str = _setting(
        "text",
        _choice("text", "json"),
        "Log lines as text (for a terminal) or json (one object a line, with trace and "
        "span ids, the logger's name and the recipient and delivery ids where known).",
    )
    auth: str = _setting(
        "auto",
        _choice("auto", "on", "off"),
        "Authentication of callers (bearer tokens, client certificates): on; off (every "
        "caller may do everything); auto: on unless listening on loopback with no "
        "certificate_grants.",
    )
    insecure: bool = _setting(
        False,
        _bool,
        "Listen on a non-loopback address without TLS or without authentication anyway "
        "(refused otherwise; a warning is logged at every start).",
    )
    reflection: str = _setting(
        "auto",
        _choice("auto", "on", "off"),
        "gRPC server reflection: on, off; auto: on when listening on loopback.",
    )
    certificate_grants: tuple[tuple[str, Grant], ...] = _setting(
        (),
        parse_certificate_grants,
        "What callers known by a verified client certificate may do: identity (URI SAN, "
        "else DNS SAN, else CN) -> {scopes, sources, recipients}, as JSON or a TOML table.",
        table=True,
    )
    token_cache_seconds: float = _setting(
        5.0,
        _positive(float),
        "Seconds a verified bearer token is trusted without asking the database; a revoked "
        "token is dropped at once by every server that hears of it.",
    )
    audit_retention_days: float = _setting(
        365.0,
        _positive(float),
        "Days audit records are kept; at least event_retention_days.",
    )

    def __post_init__(self) -> None:
        if self.audit_retention_days < self.event_retention_days:
            raise SettingsError(
                [
                    f"audit_retention_days ({self.audit_retention_days:g}) must be at least "
                    f"event_retention_days ({self.event_retention_days:g}): audit records "
                    "are kept at least as long as events"
                ]
            )

    #: Each transport's operator settings, by plugin_name(transport name): from
    #: BACKCHANNEL_PLUGIN_<NAME>__<KEY> and the file's [plugin.<name>] tables. Handed to
    #: the transport in its TransportContext.plugin_settings.
    plugin_settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def delivery_process_count(self) -> int:
        """How many delivery processes ``serve`` starts. Accepting and delivering in one
        event loop was the slowest layout measured on two cores, where a child that
        delivers while the serving process accepts uses the second core (bench/run.py
        rows 2b and 2d; the figures are in bench/README.md, "Figures behind design
        choices"). On one CPU the two processes would only take turns."""
        if self.delivery_processes != "auto":
            return self.delivery_processes
        return 1 if _usable_cpus() >= 2 else 0

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def listens_on_loopback(self) -> bool:
        """Whether only this machine can reach the listener."""
        host = self.listen_host_port[0]
        if host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # a host name: whatever it resolves to, assume it is reachable

    @property
    def auth_enabled(self) -> bool:
        if self.auth.lower() != "auto":
            return self.auth.lower() == "on"
        return not self.listens_on_loopback or bool(self.certificate_grants)

    @property
    def reflection_enabled(self) -> bool:
        if self.reflection.lower() != "auto":
            return self.reflection.lower() == "on"
        return self.listens_on_loopback


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the system tells it, as Linux
    does; else every CPU of the machine)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: The settings read from one environment variable (or file key) each.
_FIELDS = {f.name: f for f in fields(Settings) if "parse" in f.metadata}
#: Operator settings of a plugin: BACKCHANNEL_PLUGIN_<NAME>__<KEY>.
PLUGIN_PREFIX = PREFIX + "PLUGIN_"


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | None = None
) -> Settings:
    """The settings from ``environ`` (default: this process's environment) over those of
    ``config_file`` (default: the file ``BACKCHANNEL_CONFIG_FILE`` names, if any). Raises
    SettingsError listing every problem: unknown names, values that do not parse."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    #: Setting name -> (its text, where it came from, for the problem's message).
    raw: dict[str, tuple[str, str]] = {}
    config_file = config_file or environ.get(CONFIG_FILE_VARIABLE)
    if config_file:
        raw.update(_read_config_file(config_file, problems))
    plugin_settings: dict[str, dict[str, str]] = {}
    if config_file:
        plugin_settings = _plugin_tables(config_file, problems)
    for key, value in environ.items():
        if not key.startswith(PREFIX) or key == CONFIG_FILE_VARIABLE:
            continue
        if key.startswith(PLUGIN_PREFIX):
            plugin, separator, option = key[len(PLUGIN_PREFIX) :].partition("__")
            if not (plugin and separator and option):
                problems.append(
                    f"{key}: a plugin's setting is BACKCHANNEL_PLUGIN_<NAME>__<SETTING>, "
                    "e.g. BACKCHANNEL_PLUGIN_ACME__ROOT_FOLDER"
                )
            else:
                plugin_settings.setdefault(plugin_name(plugin), {})[option.lower()] = value
            continue
        name = key[len(PREFIX) :].lower()
        if name in _FIELDS:
            raw[name] = (value, f"{key}={_shown(name, value)}")
        else:
            problems.append(f"unknown environment variable {key}")
    values: dict[str, Any] = {}
    for name, (text, source) in raw.items():
        try:
            values[name] = _FIELDS[name].metadata["parse"](text)
        except ValueError as error:
            problems.append(f"{source}: {error}")
    if problems:
        raise SettingsError(problems)
    return Settings(**values, plugin_settings=plugin_settings)


def plugin_name(name: str) -> str:
    """A transport's name as its plugin settings are keyed: lower case, ``-`` as ``_``
    (environment variables cannot hold ``-``)."""
    return name.lower().replace("-", "_")


def _plugin_tables(path: str, problems: list[str]) -> dict[str, dict[str, str]]:
    """The config file's ``[plugin.<name>]`` tables, values as text."""
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("plugin", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}  # reported by _read_config_file
    if not isinstance(table, dict):
        problems.append(f"{path}: plugin must be a table of [plugin.<name>] tables")
        return {}
    found: dict[str, dict[str, str]] = {}
    for name, options in table.items():
        if not isinstance(options, dict):
            problems.append(f"{path}: plugin.{name} must be a table")
            continue
        found[plugin_name(name)] = {
            str(key).lower(): (
                ("true" if value else "false") if isinstance(value, bool) else str(value)
            )
            for key, value in options.items()
        }
    return found


def _read_config_file(path: str, problems: list[str]) -> dict[str, tuple[str, str]]:
    """The file's settings as text, as the environment would give them (arrays joined by
    commas, booleans as true/false); unknown names go to ``problems``. Raises
    SettingsError at once when the file cannot be read or is not TOML."""
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        reason = error.strerror or str(error)
        raise SettingsError([f"config file {path}: cannot be read: {reason}"]) from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError([f"config file {path}: not valid TOML: {error}"]) from error
    raw: dict[str, tuple[str, str]] = {}
    for key, value in table.items():
        source = f"{path}: {key} = {_shown(key, value)}"
        if key == "plugin":
            continue  # plugins' own settings: _plugin_tables
        if key not in _FIELDS:
            problems.append(f"{path}: unknown setting {key!r}")
        elif _FIELDS[key].metadata.get("table"):
            raw[key] = (value if isinstance(value, str) else json.dumps(value), source)
        elif isinstance(value, dict):
            problems.append(f"{path}: {key} is a table; expected a value")
        elif isinstance(value, list):
            raw[key] = (",".join(str(item) for item in value), source)
        elif isinstance(value, bool):
            raw[key] = ("true" if value else "false", source)
        else:
            raw[key] = (str(value), source)
    return raw


def _shown(name: str, value: Any) -> str:
    """How a problem quotes a setting's value: a secret one is not quoted."""
    known = _FIELDS.get(name)
    return "(hidden)" if known is not None and known.metadata["secret"] else repr(value)


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) of every setting, for docs and --help."""
    defaults = Settings()
    return [
        (
            PREFIX + f.name.upper(),
            "''" if f.metadata["secret"] else repr(getattr(defaults, f.name)),
            f.metadata["doc"],
        )
        for f in _FIELDS.values()
    ]
