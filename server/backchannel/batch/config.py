"""A recipient's batch settings as the engine reads them: the ``BatchSettings`` message,
stored as its proto JSON, made into one typed value with every default applied."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from backchannel_client.v1 import recipient_pb2
from google.protobuf import json_format

from backchannel.batch.schedule import DEFAULT_TIME_ZONE

DEFAULT_NAME_TEMPLATE = "{recipient_id}-{sequence:06d}.{ext}"

FORMATS = {
    recipient_pb2.BATCH_FILE_FORMAT_UNSPECIFIED: "csv",
    recipient_pb2.BATCH_FILE_FORMAT_CSV: "csv",
    recipient_pb2.BATCH_FILE_FORMAT_JSONL: "jsonl",
    recipient_pb2.BATCH_FILE_FORMAT_XML: "xml",
    recipient_pb2.BATCH_FILE_FORMAT_XLSX: "xlsx",
}
COMPRESSIONS = {
    recipient_pb2.BATCH_COMPRESSION_UNSPECIFIED: "none",
    recipient_pb2.BATCH_COMPRESSION_NONE: "none",
    recipient_pb2.BATCH_COMPRESSION_GZIP: "gzip",
    recipient_pb2.BATCH_COMPRESSION_ZIP: "zip",
}


@dataclass(frozen=True)
class BatchConfig:
    cron: str
    time_zone: str
    max_rows: int
    empty_file_when_nothing_due: bool
    format: str
    compression: str
    name_template: str
    done_marker: bool
    manifest: bool
    public_key: str | None
    sign: bool
    hold_invalid: bool
    required_fields: tuple[str, ...]
    max_file_bytes: int
    split_oversize: bool

    @property
    def encryption(self) -> str:
        if self.public_key is None:
            return "none"
        return "openpgp+signed" if self.sign else "openpgp"


def stored(settings: recipient_pb2.BatchSettings) -> dict[str, Any]:
    """The settings as stored with the recipient (proto JSON, field names as in the proto)."""
    value: dict[str, Any] = json_format.MessageToDict(settings, preserving_proto_field_name=True)
    return value


def message(stored_value: dict[str, Any]) -> recipient_pb2.BatchSettings:
    settings = recipient_pb2.BatchSettings()
    json_format.ParseDict(stored_value, settings)
    return settings


def batch_config(stored_value: dict[str, Any]) -> BatchConfig:
    """The settings of a stored recipient (read once per distinct value)."""
    return _config(json.dumps(stored_value, sort_keys=True))


@functools.lru_cache(maxsize=1024)
def _config(text: str) -> BatchConfig:
    return from_message(message(json.loads(text)))


def from_message(settings: recipient_pb2.BatchSettings) -> BatchConfig:
    file = settings.file
    encryption = settings.encryption
    return BatchConfig(
        cron=settings.schedule.cron.strip(),
        time_zone=settings.schedule.time_zone or DEFAULT_TIME_ZONE,
        max_rows=settings.max_rows,
        empty_file_when_nothing_due=settings.when_empty
        == recipient_pb2.BATCH_WHEN_EMPTY_EMPTY_FILE,
        format=FORMATS.get(file.format, "csv"),
        compression=COMPRESSIONS.get(file.compression, "none"),
        name_template=file.name_template or DEFAULT_NAME_TEMPLATE,
        done_marker=file.done_marker,
        manifest=file.manifest,
        public_key=encryption.public_key or None,
        sign=encryption.sign,
        hold_invalid=settings.invalid_rows == recipient_pb2.BATCH_INVALID_ROWS_HOLD,
        required_fields=tuple(settings.required_fields),
        max_file_bytes=settings.max_file_bytes,
        split_oversize=settings.split_oversize,
    )
