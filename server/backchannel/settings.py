"""Every setting of the server, declared once: read from ``BACKCHANNEL_*`` environment
variables and an optional TOML file, validated at start-up with every problem listed.

The file (``BACKCHANNEL_CONFIG_FILE`` or ``serve --config``) uses the same names in lower
case without the prefix, e.g. ``listen = "0.0.0.0:50051"``; the environment wins over it.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from backchannel.plugin import IPNetwork

PREFIX = "BACKCHANNEL_"

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


class SettingsError(Exception):
    """One or more settings are invalid; the message lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    #: Postgres to use; when empty, an embedded Postgres is started in ``data_dir``.
    database_url: str = ""
    #: Folder for the embedded Postgres.
    data_dir: str = "backchannel-data"
    #: host:port the gRPC server listens on.
    listen: str = "127.0.0.1:50051"
    #: Connections in the database pool.
    database_pool_size: int = 10
    #: Deliver feedback (run the dispatcher); false: accept only.
    dispatcher_enabled: bool = True
    #: With the dispatcher enabled, how many child processes ``backchannel serve`` starts
    #: to deliver (``backchannel deliver``), so accepting and delivering use a core each;
    #: 0: the serving process delivers itself; "auto": 1 when this process may run on
    #: two or more CPUs, else 0 (see :attr:`delivery_process_count`).
    delivery_processes: int | Literal["auto"] = "auto"
    #: Deliveries sent at once by this process.
    delivery_concurrency: int = 256
    #: Attempts in flight at once to any one recipient, per process: one recipient that
    #: never answers can hold at most this many of the delivery slots.
    recipient_concurrency: int = 32
    #: Deliveries claimed per claim query.
    claim_batch_size: int = 100
    #: Seconds a claim lasts; a crashed worker's deliveries are taken again after it.
    lease_seconds: float = 60.0
    #: Seconds between polls when no notification arrives.
    poll_interval_seconds: float = 1.0
    #: Delay before each attempt, seconds; the first is normally 0. Its length is the
    #: maximum number of attempts. Jittered by +-20%.
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    #: The least delay after a "slow down" answer (429, 502, 503, 504), seconds.
    throttle_min_delay_seconds: float = 5.0
    #: Share of the delivery concurrency retries may take; the rest is kept for first
    #: attempts.
    retry_share: float = 0.5
    #: Consecutive failed attempts that open a recipient's circuit breaker.
    circuit_failure_threshold: int = 5
    #: How long an opened circuit waits before a probe, seconds (doubling, up to 10 min).
    circuit_open_seconds: float = 30.0
    #: A recipient failing without any success for this long is disabled, seconds.
    auto_disable_after_seconds: float = 5 * 24 * 3600.0
    #: Networks outbound connections may reach despite being loopback/private/link-local.
    outbound_allow_networks: tuple[IPNetwork, ...] = ()
    #: Connect timeout for outbound connections, seconds.
    outbound_connect_timeout_seconds: float = 5.0
    #: Total timeout of one transmission, seconds.
    outbound_timeout_seconds: float = 15.0
    #: Plugin distributions that are installed but must not be loaded.
    disabled_plugins: tuple[str, ...] = ()
    #: Days feedback-sent events are kept.
    event_retention_days: float = 30.0
    #: Seconds between heartbeats on a quiet event stream.
    stream_heartbeat_seconds: float = 5.0
    #: Events buffered per stream subscriber before it is ended as too slow.
    stream_queue_size: int = 10000
    #: Trace and metric exporter: none, console or otlp.
    otel_exporter: str = "none"
    #: OTLP/gRPC endpoint, for otel_exporter = otlp.
    otel_endpoint: str = "http://127.0.0.1:4317"
    #: Seconds in-flight work may take to finish at shutdown.
    shutdown_grace_seconds: float = 10.0
    #: Log level: DEBUG, INFO, WARNING, ERROR.
    log_level: str = "INFO"

    @property
    def delivery_process_count(self) -> int:
        """How many delivery processes ``serve`` starts. On two cores, a process that
        accepts and delivers at once reached 660 deliveries/s where one accepting and a
        child delivering reached 1,167/s (bench/run.py, rows 2b and 2d)."""
        if self.delivery_processes != "auto":
            return self.delivery_processes
        return 1 if _usable_cpus() >= 2 else 0

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the system tells it, as Linux
    does; else every CPU of the machine)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> float:
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


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _count_or_auto(text: str) -> int | Literal["auto"]:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return _count(text)
    except ValueError:
        raise ValueError("expected auto or a number of processes, e.g. 1") from None


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


def _networks(text: str) -> tuple[IPNetwork, ...]:
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip()
    )


def _names(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.strip().lower() not in allowed and text.strip().upper() not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return text.strip()

    return parse


def _listen(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:50051")
    return text


_PARSERS: dict[str, Callable[[str], Any]] = {
    "database_url": str,
    "data_dir": str,
    "listen": _listen,
    "database_pool_size": _positive(int),
    "dispatcher_enabled": _bool,
    "delivery_processes": _count_or_auto,
    "delivery_concurrency": _positive(int),
    "recipient_concurrency": _positive(int),
    "claim_batch_size": _positive(int),
    "lease_seconds": _positive(float),
    "poll_interval_seconds": _positive(float),
    "retry_schedule": _schedule,
    "throttle_min_delay_seconds": _non_negative,
    "retry_share": _share,
    "circuit_failure_threshold": _positive(int),
    "circuit_open_seconds": _positive(float),
    "auto_disable_after_seconds": _positive(float),
    "outbound_allow_networks": _networks,
    "outbound_connect_timeout_seconds": _positive(float),
    "outbound_timeout_seconds": _positive(float),
    "disabled_plugins": _names,
    "event_retention_days": _positive(float),
    "stream_heartbeat_seconds": _positive(float),
    "stream_queue_size": _positive(int),
    "otel_exporter": _choice("none", "console", "otlp"),
    "otel_endpoint": str,
    "shutdown_grace_seconds": _positive(float),
    "log_level": _choice("DEBUG", "INFO", "WARNING", "ERROR"),
}


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | None = None
) -> Settings:
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    problems: list[str] = []
    config_file = config_file or environ.get(PREFIX + "CONFIG_FILE")
    if config_file:
        try:
            table = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise SettingsError([f"config file {config_file}: {error}"]) from error
        for key, value in table.items():
            if key not in _PARSERS:
                problems.append(f"{config_file}: unknown setting {key!r}")
            elif isinstance(value, list):
                raw[key] = ",".join(str(v) for v in value)
            elif isinstance(value, bool):
                raw[key] = "true" if value else "false"
            else:
                raw[key] = str(value)
    known_env = {PREFIX + name.upper() for name in _PARSERS} | {PREFIX + "CONFIG_FILE"}
    for key, value in environ.items():
        if key.startswith(PREFIX):
            if key not in known_env:
                problems.append(f"unknown environment variable {key}")
            elif key != PREFIX + "CONFIG_FILE":
                raw[key[len(PREFIX) :].lower()] = value
    values: dict[str, Any] = {}
    for field in fields(Settings):
        if field.name in raw:
            try:
                values[field.name] = _PARSERS[field.name](raw[field.name])
            except ValueError as error:
                problems.append(f"{PREFIX}{field.name.upper()}={raw[field.name]!r}: {error}")
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def describe_settings() -> list[tuple[str, str]]:
    """(environment variable, default) for every setting, for docs and --help."""
    defaults = Settings()
    return [
        (PREFIX + field.name.upper(), repr(getattr(defaults, field.name)))
        for field in fields(Settings)
    ]
