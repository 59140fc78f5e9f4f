"""Feedback to send, from command-line flags or from a file: JSON (one object or an array),
JSONL (an object per line) or CSV (a row per feedback, a column per flag).

A JSON object is either a feedback in proto JSON (``{"kind": ..., "lead": {...}}``, with
optional ``requestId`` and ``recipientIds`` beside its fields) or a whole
SendFeedbackRequest (``{"requestId": ..., "recipientIds": [...], "feedback": {...}}``).
A CSV file has a header naming its columns: those of FIELDS, and ``quality.NAME`` for a
quality dimension. Enums are written by short name (``conversion``) or full name
(``FEEDBACK_KIND_CONVERSION``). Items without a request id get one derived from their
content (see request_ids)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from backchannel_client import (
    SendFeedbackRequest,
    build_feedback,
    feedback_from_dict,
    feedback_kind,
)
from backchannel_client.v1 import feedback_pb2
from google.protobuf import json_format

from backchannel.cli import exit_codes
from backchannel.cli.connection import CommandError

#: CSV columns (and the flags of ``backchannel send``) that describe one feedback.
FIELDS = (
    "request_id",
    "recipient_ids",
    "kind",
    "lead_id",
    "source_id",
    "feedback_time",
    "status",
    "occur_time",
    "value",
    "currency",
    "product",
    "overall_score",
    "campaign",
    "creative",
    "keyword",
    "return_reason",
    "return_text",
)
QUALITY_PREFIX = "quality."
FORMATS = ("json", "jsonl", "csv")


@dataclass(frozen=True)
class Item:
    """One item of a file: where it is (``line 3``, ``item 2``), its number there (what
    ``--resume`` takes), and the request it describes or why it describes none."""

    where: str
    number: int
    request: SendFeedbackRequest | None
    problem: str = ""


def request_from_fields(fields: Mapping[str, str]) -> SendFeedbackRequest:
    """A request from flag or CSV values (text; empty means not given). Raises ValueError."""
    unknown = [k for k in fields if k not in FIELDS and not k.startswith(QUALITY_PREFIX)]
    if unknown:
        raise ValueError(
            f"unknown column {', '.join(unknown)}; columns are {', '.join(FIELDS)} "
            f"and {QUALITY_PREFIX}NAME"
        )
    value = {k: (v or "").strip() for k, v in fields.items()}
    if not value.get("kind"):
        raise ValueError("kind is required (conversion, return, quality, disposition...)")
    if not value.get("lead_id"):
        raise ValueError("lead_id is required")
    quality = {
        name.removeprefix(QUALITY_PREFIX): _number(text, name)
        for name, text in value.items()
        if name.startswith(QUALITY_PREFIX) and text
    }
    feedback = build_feedback(
        kind=value["kind"],
        lead_id=value["lead_id"],
        source_id=value.get("source_id", ""),
        feedback_time=_time(value.get("feedback_time", ""), "feedback_time"),
        status=value.get("status", ""),
        occur_time=_time(value.get("occur_time", ""), "occur_time"),
        value=value.get("value") or None,
        currency=value.get("currency", "").upper(),
        product=value.get("product", ""),
        overall_score=(
            _number(value["overall_score"], "overall_score") if value.get("overall_score") else None
        ),
        quality=quality,
        campaign=value.get("campaign", ""),
        creative=value.get("creative", ""),
        keyword=value.get("keyword", ""),
        return_reason=value.get("return_reason", ""),
        return_text=value.get("return_text", ""),
    )
    return SendFeedbackRequest(
        request_id=value.get("request_id", ""),
        recipient_ids=value.get("recipient_ids", "").replace(";", " ").replace(",", " ").split(),
        feedback=feedback,
    )


def request_from_object(item: Any) -> SendFeedbackRequest:
    """A request from one JSON object (see the module's docstring). Raises ValueError."""
    if not isinstance(item, dict):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    if "feedback" in item:
        item = {**item, "feedback": _full_enum_names(item["feedback"])}
        try:
            return json_format.ParseDict(item, SendFeedbackRequest())
        except json_format.ParseError as error:
            raise ValueError(str(error)) from error
    rest = dict(item)
    request_id = rest.pop("requestId", None) or rest.pop("request_id", None) or ""
    recipients = rest.pop("recipientIds", None) or rest.pop("recipient_ids", None) or []
    if not isinstance(request_id, str) or not isinstance(recipients, list):
        raise ValueError("requestId must be text and recipientIds a list of ids")
    return SendFeedbackRequest(
        request_id=request_id,
        recipient_ids=[str(r) for r in recipients],
        feedback=feedback_from_dict(_full_enum_names(rest)),
    )


def _full_enum_names(feedback: Any) -> Any:
    """The feedback object with its kind by full name, as proto JSON needs it."""
    if not isinstance(feedback, dict) or not isinstance(feedback.get("kind"), str):
        return feedback
    return {**feedback, "kind": feedback_pb2.FeedbackKind.Name(feedback_kind(feedback["kind"]))}


def read_items(path: str, file_format: str | None, stdin: TextIO) -> list[Item]:
    """Every item of the file (``-``: standard input), each with the request it describes
    or the problem that keeps it from describing one. Raises CommandError when the file
    cannot be read (exit 2), is not of its format at all, or holds no item (exit 5)."""
    text = _read(path, stdin)
    chosen = file_format or _format_of(path, text)
    if chosen == "csv":
        found: Iterable[tuple[str, int, Any]] = _csv_rows(text)
        parse: Any = request_from_fields
    elif chosen == "jsonl":
        found, parse = _json_lines(text), request_from_object
    else:
        found, parse = _json_document(text), request_from_object
    items: list[Item] = []
    for where, number, content in found:
        try:
            if isinstance(content, ValueError):  # the line could not even be read
                raise content
            items.append(Item(where, number, parse(content)))
        except ValueError as error:
            items.append(Item(where, number, None, str(error)))
    if not items:
        raise CommandError(f"{path}: no feedback in the file", exit_codes.INVALID_ARGUMENT)
    return items


def _read(path: str, stdin: TextIO) -> str:
    try:
        if path == "-":
            return stdin.buffer.read().decode("utf-8-sig")
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise CommandError(f"cannot read {path}: {reason}", exit_codes.USAGE) from error


def _format_of(path: str, text: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".json", ".csv"):
        return suffix[1:]
    start = text.lstrip()[:1]
    if start == "[":
        return "json"
    if start == "{":
        try:
            json.loads(text)
        except ValueError:
            return "jsonl"
        return "json"
    return "csv"


def _json_document(text: str) -> list[tuple[str, int, Any]]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CommandError(f"not JSON: {error}", exit_codes.INVALID_ARGUMENT) from error
    if isinstance(document, list):
        return [(f"item {i}", i, item) for i, item in enumerate(document, 1)]
    return [("the document", 1, document)]


def _json_lines(text: str) -> list[tuple[str, int, Any]]:
    items: list[tuple[str, int, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append((f"line {number}", number, json.loads(line)))
        except ValueError as error:
            items.append((f"line {number}", number, ValueError(f"not JSON: {error}")))
    return items


def _csv_rows(text: str) -> list[tuple[str, int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[str, int, Any]] = []
    for row in reader:
        extra = row.pop(None, None)
        where = (f"line {reader.line_num}", reader.line_num)
        if extra:
            rows.append((*where, ValueError("more values than columns")))
        elif any(v for v in row.values()):
            rows.append((*where, row))
    return rows


def _time(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a time like 2024-01-15T10:30:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
