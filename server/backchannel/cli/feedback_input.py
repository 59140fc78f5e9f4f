"""Feedback to send, from command-line flags or from a file: JSON (one object or an array),
JSONL (an object per line) or CSV (a row per feedback, a column per flag).

A JSON object is either a feedback in proto JSON (``{"kind": ..., "lead": {...}}``, with
optional ``requestId`` and ``recipientIds`` beside its fields) or a whole
SendFeedbackRequest (``{"requestId": ..., "recipientIds": [...], "feedback": {...}}``).
A CSV file has a header naming its columns: those of FIELDS, and ``quality.NAME`` for a
quality dimension. Items without a request id get a new one each."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from backchannel_client import SendFeedbackRequest, build_feedback, feedback_from_dict
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
_MAX_PROBLEMS_SHOWN = 20


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
        feedback=feedback_from_dict(rest),
    )


def read_requests(
    path: str, file_format: str | None, stdin: TextIO
) -> list[tuple[str, SendFeedbackRequest]]:
    """Every request in the file (``-``: standard input), each with where it was ("line 3",
    "row 4", "item 2"). Raises CommandError listing every bad line or row."""
    text = _read(path, stdin)
    chosen = file_format or _format_of(path, text)
    if chosen == "csv":
        items: Iterable[tuple[str, Any]] = _csv_rows(text)
        parse: Any = request_from_fields
    elif chosen == "jsonl":
        items, parse = _json_lines(text), request_from_object
    else:
        items, parse = _json_document(text), request_from_object
    requests: list[tuple[str, SendFeedbackRequest]] = []
    problems: list[str] = []
    for where, item in items:
        try:
            if isinstance(item, ValueError):  # the line could not even be read
                raise item
            requests.append((where, parse(item)))
        except ValueError as error:
            problems.append(f"{where}: {error}")
    if problems:
        shown = problems[:_MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown)} more")
        raise CommandError(
            f"{path}: {len(problems)} of {len(problems) + len(requests)} items are not "
            "valid feedback; nothing was sent",
            exit_codes.INVALID_ARGUMENT,
            shown,
        )
    if not requests:
        raise CommandError(f"{path}: no feedback in the file", exit_codes.INVALID_ARGUMENT)
    return requests


def _read(path: str, stdin: TextIO) -> str:
    if path == "-":
        return stdin.read()
    try:
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


def _json_document(text: str) -> list[tuple[str, Any]]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CommandError(f"not JSON: {error}", exit_codes.INVALID_ARGUMENT) from error
    if isinstance(document, list):
        return [(f"item {i}", item) for i, item in enumerate(document, 1)]
    return [("the document", document)]


def _json_lines(text: str) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append((f"line {number}", json.loads(line)))
        except ValueError as error:
            items.append((f"line {number}", ValueError(f"not JSON: {error}")))
    return items


def _csv_rows(text: str) -> list[tuple[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[str, Any]] = []
    for row in reader:
        extra = row.pop(None, None)
        if extra:
            rows.append((f"row {reader.line_num}", ValueError("more values than columns")))
        elif any(v for v in row.values()):
            rows.append((f"row {reader.line_num}", row))
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
