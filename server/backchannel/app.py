"""Wires the server together: database, plugins, delivery engine, event hub, gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
from backchannel_client.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    batch_service_pb2,
    batch_service_pb2_grpc,
    delivery_service_pb2,
    delivery_service_pb2_grpc,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
    recipient_service_pb2,
    recipient_service_pb2_grpc,
    report_service_pb2,
    report_service_pb2_grpc,
    token_service_pb2,
    token_service_pb2_grpc,
)
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from backchannel.api.audit_service import AuditService
from backchannel.api.batch_service import BatchService
from backchannel.api.delivery_service import DeliveryService
from backchannel.api.event_stream import StreamSettings
from backchannel.api.feedback_service import FeedbackService
from backchannel.api.interceptors import MethodInterceptor, ServerAddress, api_interceptors
from backchannel.api.interceptors.authentication import Authentication
from backchannel.api.listener_tls import ListenerTls
from backchannel.api.recipient_service import RecipientService
from backchannel.api.reflection import enable_reflection
from backchannel.api.report_service import ReportService
from backchannel.api.request_guard import RequestLimits
from backchannel.api.stream_budget import StreamBudget
from backchannel.api.stream_limits import OpenStreams, StreamLimits
from backchannel.api.token_service import TokenService
from backchannel.api.token_verifier import TokenVerifier
from backchannel.background import stop_task
from backchannel.delivery.engine import DeliveryEngine
from backchannel.embedded_postgres import EmbeddedPostgres
from backchannel.event_hub import EventHub
from backchannel.intake import Intake
from backchannel.listener_security import check_listener
from backchannel.metrics import (
    configure_metrics,
    metric_export_interval_seconds,
    metrics_exported,
    set_circuit_states,
    set_open_deliveries,
)
from backchannel.plugin_host import LoadedPlugins
from backchannel.process_setup import (
    checked_key_ring,
    close_transports,
    migrated_pool,
    started_plugins,
)
from backchannel.recipient_directory import RecipientDirectory
from backchannel.sealing.key_file import EMBEDDED_KEY_FILE
from backchannel.settings import Settings
from backchannel.store import audit as audit_store
from backchannel.store import events as event_store
from backchannel.store.database import (
    DELIVERIES_CHANNEL,
    EVENTS_CHANNEL,
    RECIPIENTS_CHANNEL,
    TOKENS_CHANNEL,
    Listener,
    log_database_error,
)
from backchannel.store.deliveries import circuit_states, count_open_deliveries
from backchannel.telemetry import configure_tracing

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name,
    recipient_service_pb2.DESCRIPTOR.services_by_name["RecipientService"].full_name,
    delivery_service_pb2.DESCRIPTOR.services_by_name["DeliveryService"].full_name,
    token_service_pb2.DESCRIPTOR.services_by_name["TokenService"].full_name,
    audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    batch_service_pb2.DESCRIPTOR.services_by_name["BatchService"].full_name,
    report_service_pb2.DESCRIPTOR.services_by_name["ReportService"].full_name,
)
_PRUNE_EVERY_SECONDS = 3600.0


def grpc_server_options(settings: Settings) -> list[tuple[str, int]]:
    """What grpc core itself bounds: connections held (refused before their handshake),
    calls per connection, idle connections and connection age. It cannot count streams of
    one method or per caller (the stream limits do that), nor connections per client
    address."""

    def ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_allowed_incoming_connections", settings.max_connections),
        ("grpc.max_concurrent_streams", settings.max_calls_per_connection),
        ("grpc.max_connection_idle_ms", ms(settings.connection_idle_seconds)),
        ("grpc.max_connection_age_ms", ms(settings.connection_max_age_seconds)),
        ("grpc.max_connection_age_grace_ms", ms(settings.connection_max_age_grace_seconds)),
    ]


class ListenError(OSError):
    """The server cannot listen on its address (in use, or not an address of this host)."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"cannot listen on {address}: the port is in use or the address is not one of "
            "this machine's (BACKCHANNEL_LISTEN)"
        )


def redact_url(url: str) -> str:
    """A database URL fit for a log line: the password replaced."""
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{location}"


class BackchannelServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        #: The database it uses (the embedded one's address when none was configured).
        self.database_url = settings.database_url
        self._embedded: EmbeddedPostgres | None = None
        self._pool: asyncpg.Pool | None = None
        self._plugins: LoadedPlugins | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health_async.HealthServicer()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Listener | None = None
        self._delivery: DeliveryEngine | None = None
        self._intake: Intake | None = None
        self._hub: EventHub | None = None
        self._stream_budget = StreamBudget()
        #: The event streams open, against their caps.
        self.open_streams = OpenStreams(
            StreamLimits(settings.max_streams, settings.max_streams_per_caller)
        )
        self._directory: RecipientDirectory | None = None
        self._tls: ListenerTls | None = None
        #: Settings the delivery processes ``serve`` starts need besides its own: the
        #: embedded default's key file.
        self.child_environment: dict[str, str] = {}

    async def start(self) -> None:
        s = self.settings
        check_listener(s)
        # Bad TLS settings or files stop start-up before anything else is started.
        self._tls = ListenerTls.from_settings(s)
        configure_tracing(s.otel_exporter, s.otel_endpoint)
        configure_metrics(s.otel_exporter, s.otel_endpoint)
        dsn = s.database_url
        if not dsn:
            self._embedded = EmbeddedPostgres(s.data_dir)
            dsn = await asyncio.to_thread(self._embedded.start)
            log.info("started embedded Postgres with its data in %s", self._embedded.data_dir)
        else:
            log.info("using Postgres at %s", redact_url(dsn))
        self.database_url = dsn
        self._pool = pool = await migrated_pool(dsn, s)
        embedded_dir = None if self._embedded is None else self._embedded.data_dir
        key_ring = await checked_key_ring(pool, s, embedded_dir)
        if embedded_dir is not None and not (s.secret_keys.configured or s.secret_key_file):
            key_file = str(embedded_dir / EMBEDDED_KEY_FILE)
            self.child_environment["BACKCHANNEL_SECRET_KEY_FILE"] = key_file
        self._plugins = plugins = await started_plugins(s)

        self._directory = directory = RecipientDirectory(pool)
        await directory.start()
        self._hub = hub = EventHub(pool, s.poll_interval_seconds, s.stream_queue_size)
        await hub.start()
        self._stream_budget.start()
        self._intake = intake = Intake(pool, dsn)
        intake.start()
        handlers: dict[str, Callable[[str], None]] = {
            EVENTS_CHANNEL: hub.wake,
            RECIPIENTS_CHANNEL: directory.changed,
        }
        on_reconnect: list[Callable[[], None]] = [directory.reconnected, hub.wake]
        authentication: list[MethodInterceptor] = []
        if s.auth_enabled:
            tokens = TokenVerifier(pool, s.token_cache_seconds)
            handlers[TOKENS_CHANNEL] = tokens.revoked
            on_reconnect.append(tokens.reconnected)
            authentication.append(Authentication(SERVICE_NAMES, tokens, dict(s.certificate_grants)))
            log.info("authentication is on: every call needs a bearer token or a certificate")
        else:
            log.info("authentication is off: every caller may do everything (loopback only)")
        if s.dispatcher_enabled:
            self._delivery = delivery = DeliveryEngine(pool, plugins, s, key_ring)
            delivery.start()
            handlers[DELIVERIES_CHANNEL] = delivery.wake
            on_reconnect.append(delivery.wake)
        self._listener = Listener(dsn, handlers, on_reconnect)
        self._listener.start()
        self._tasks.append(
            asyncio.create_task(
                _repeat(self._prune_events, _PRUNE_EVERY_SECONDS), name="event-pruning"
            )
        )
        if metrics_exported():
            # The gauges read from the database are read once per metric export.
            self._tasks.append(
                asyncio.create_task(
                    _repeat(self._read_delivery_gauges, metric_export_interval_seconds()),
                    name="delivery-gauges",
                )
            )

        address = ServerAddress()
        server = grpc.aio.server(
            interceptors=api_interceptors(
                SERVICE_NAMES,
                *authentication,
                limits=RequestLimits(s.max_request_bytes, s.max_request_entries),
                address=address,
            ),
            options=grpc_server_options(s),
        )
        feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server(
            FeedbackService(
                pool,
                intake,
                directory,
                hub,
                StreamSettings(
                    s.stream_heartbeat_seconds,
                    self._stream_budget,
                    self.open_streams,
                ),
                s.max_feedback_bytes,
                key_ring,
            ),
            server,
        )
        recipient_service_pb2_grpc.add_RecipientServiceServicer_to_server(
            RecipientService(
                pool,
                plugins.transports,
                plugins.formatters,
                directory,
                key_ring,
                batch_signing_key=bool(s.batch_signing_key_file),
            ),
            server,
        )
        delivery_service_pb2_grpc.add_DeliveryServiceServicer_to_server(
            DeliveryService(pool), server
        )
        token_service_pb2_grpc.add_TokenServiceServicer_to_server(TokenService(pool), server)
        audit_service_pb2_grpc.add_AuditServiceServicer_to_server(AuditService(pool), server)
        batch_service_pb2_grpc.add_BatchServiceServicer_to_server(BatchService(pool), server)
        report_service_pb2_grpc.add_ReportServiceServicer_to_server(
            ReportService(pool, plugins.transports), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        if s.reflection_enabled:
            enable_reflection((*SERVICE_NAMES, health.SERVICE_NAME), server)
        try:
            if self._tls is not None:
                self.port = server.add_secure_port(s.listen, self._tls.server_credentials())
            else:
                self.port = server.add_insecure_port(s.listen)
        except RuntimeError as error:  # grpc's way of saying the bind failed
            raise ListenError(s.listen) from error
        if self.port == 0:
            raise ListenError(s.listen)
        address.host, address.port = s.listen_host_port[0], self.port
        await server.start()
        self._server = server
        for name in (*SERVICE_NAMES, ""):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        host, _ = s.listen_host_port
        log.info("Backchannel listening on %s:%d (%s)", host, self.port, self.security)
        if self._tls is not None:
            log.info("TLS certificate: %s", self._tls.certificate_description)
            if s.tls_reload_check_seconds > 0:
                self._tasks.append(
                    asyncio.create_task(
                        self._tls.watch(s.tls_reload_check_seconds), name="tls-files"
                    )
                )

    @property
    def security(self) -> str:
        """How the listener is secured, in words."""
        return "plaintext" if self._tls is None else self._tls.description

    @property
    def tls(self) -> ListenerTls | None:
        return self._tls

    def reload_tls(self, why: str = "SIGHUP") -> bool:
        """Reads the TLS files again for new connections (open ones keep theirs); False
        when the reload failed (the certificate in use stays) or there is no TLS."""
        if self._tls is None:
            log.info("%s: the listener has no TLS to reload", why)
            return False
        return self._tls.reload(why)

    async def wait(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        with contextlib.suppress(Exception):
            await self._health.enter_graceful_shutdown()
        if self._hub is not None:
            # Streams never end by themselves: end them now (their clients resume from
            # their cursor), so the grace period is for calls that can finish.
            self._hub.close_streams()
        if self._server is not None:
            await self._server.stop(grace)
        if self._delivery is not None:
            await self._delivery.stop()
        for task in self._tasks:
            await stop_task(task)
        await self._stream_budget.stop()
        for component in (self._intake, self._hub, self._listener, self._directory):
            if component is not None:
                await component.stop()
        if self._plugins is not None:
            await close_transports(self._plugins)
        if self._pool is not None:
            await self._pool.close()
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.stop)

    async def _read_delivery_gauges(self) -> None:
        """Open deliveries and queue lag, and every recipient's circuit state."""
        assert self._pool is not None
        set_open_deliveries(await count_open_deliveries(self._pool))
        set_circuit_states(await circuit_states(self._pool))

    async def _prune_events(self) -> None:
        assert self._pool is not None
        now = datetime.now(UTC)
        await event_store.prune_events(
            self._pool, now - timedelta(days=self.settings.event_retention_days)
        )
        try:
            await audit_store.prune_audit_records(
                self._pool, now - timedelta(days=self.settings.audit_retention_days)
            )
        except asyncpg.InsufficientPrivilegeError:
            log.info("audit records are kept: this role may not delete them (insert-only)")


async def _repeat(action: Callable[[], Awaitable[None]], every_seconds: float) -> None:
    """Runs ``action`` every ``every_seconds`` until cancelled; a database error leaves
    the work to the next turn."""
    while True:
        try:
            await action()
        except Exception as error:
            log_database_error(log, action.__name__.strip("_").replace("_", " "), error)
        await asyncio.sleep(every_seconds)
