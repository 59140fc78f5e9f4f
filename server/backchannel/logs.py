"""How a server process logs: plain text for a terminal (the default), or one JSON object
a line for a log pipeline (``BACKCHANNEL_LOG_FORMAT=json``), each with the current trace
and span ids, the logger's name and the recipient and delivery ids where known; and, when
``OTEL_LOGS_EXPORTER`` asks, every record exported as an OpenTelemetry log record too,
under the process's one Resource.

The recipient and delivery ids come from the record (``extra={"recipient_id": ...}``) or
else from :func:`about_delivery`, which an attempt runs inside, so whatever a plugin or
the host logs during an attempt names it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from opentelemetry import trace

from backchannel.telemetry_environment import new_exporters, service_resource

#: (recipient id, delivery id) of the attempt being made, for log records made during it.
_delivery: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "backchannel_log_delivery", default=None
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def about_delivery(recipient_id: str, delivery_id: str) -> Iterator[None]:
    """Log records made inside name this recipient and delivery."""
    token = _delivery.set((recipient_id, delivery_id))
    try:
        yield
    finally:
        _delivery.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (RFC 3339, UTC), ``level``, ``logger``,
    ``message``, and when known ``trace_id``, ``span_id`` (hex: those given with the record,
    else the span current when it was made), ``recipient_id``, ``delivery_id`` and
    ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        given = getattr(record, "trace_id", None), getattr(record, "span_id", None)
        span = trace.get_current_span().get_span_context()
        if given[0]:
            line["trace_id"], line["span_id"] = given
        elif span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        recipient_id = getattr(record, "recipient_id", None)
        delivery_id = getattr(record, "delivery_id", None)
        current = _delivery.get()
        if current is not None:
            recipient_id = recipient_id or current[0]
            delivery_id = delivery_id or current[1]
        if recipient_id:
            line["recipient_id"] = recipient_id
        if delivery_id:
            line["delivery_id"] = delivery_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text", otlp_endpoint: str = "") -> None:
    """Logs of this process at ``level``, as ``text`` or ``json`` on stderr, and exported
    with the exporters ``OTEL_LOGS_EXPORTER`` names, if any (``otlp_endpoint``: where OTLP
    goes when the standard variables do not say)."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format.lower() == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.setLevel(level.upper())
    root.addHandler(handler)
    # The embedded Postgres library narrates every command it runs at INFO.
    logging.getLogger("pgserver").setLevel(
        max(logging.WARNING, logging.getLevelName(level.upper()))
    )
    _export_logs(otlp_endpoint)


def _export_logs(otlp_endpoint: str) -> None:
    exporters = new_exporters("logs", "none", otlp_endpoint)
    if not exporters:
        return
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=service_resource())
    for exporter in exporters:
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    set_logger_provider(provider)
    handler = LoggingHandler(logger_provider=provider)
    # The exporters' own complaints (a collector down) must not be exported in a loop.
    handler.addFilter(lambda record: not record.name.startswith("opentelemetry"))
    handler.addFilter(_with_delivery_attributes)
    logging.getLogger().addHandler(handler)


def _with_delivery_attributes(record: logging.LogRecord) -> bool:
    """Puts the current attempt's ids on the record as attributes (the OpenTelemetry
    handler exports a record's extra attributes)."""
    current = _delivery.get()
    if current is not None:
        if not getattr(record, "recipient_id", None):
            record.recipient_id = current[0]
        if not getattr(record, "delivery_id", None):
            record.delivery_id = current[1]
    return True
