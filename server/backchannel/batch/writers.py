"""Batch file formats, written row chunk by row chunk: CSV, JSONL, XML and XLSX.

Each writer turns rows (one value per column, ``MISSING`` where a feedback has none) into
bytes as they come, so no file is ever held whole in memory. XLSX is written by xlsxwriter
in constant-memory mode into a temporary file (a workbook is a zip archive: it exists only
once it is closed), which ``finish`` then reads back in chunks.

* CSV: the CSV formatter's cells (exact decimals, JSON for lists and objects) and its
  formula-injection guard, the recipient's delimiter and header choice, CRLF line ends.
* JSONL: one object per row, keyed by column name, money as exact number literals.
* XML: ``<batch>`` holding one ``<feedback>`` (or the ``root_element`` option) per row,
  one element per column.
* XLSX: one sheet, a header row, numbers as numbers, times as date-times (UTC); text is
  always stored as text (never turned into formulas, numbers or links).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, Protocol

import xlsxwriter

from backchannel.batch.rows import TIME_COLUMNS, RowShape, parse_time
from backchannel.formatters._csv import FORMULA_TRIGGERS, _cell
from backchannel.formatters._document_paths import MISSING
from backchannel.formatters._json import encode_json
from backchannel.formatters._scalars import encodable_text, scalar_text
from backchannel.formatters._xml import _TEXT_SPECIAL, _escaped, element_name

READ_CHUNK = 1024 * 1024
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "xml": "application/xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class FileWriter(Protocol):
    def start(self) -> bytes: ...

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes: ...

    def finish(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def writer_for(file_format: str, shape: RowShape, root_element: str = "feedback") -> FileWriter:
    if file_format == "jsonl":
        return JsonlWriter(shape)
    if file_format == "xml":
        return XmlWriter(shape, root_element)
    if file_format == "xlsx":
        return XlsxWriter(shape)
    return CsvWriter(shape)


class CsvWriter:
    def __init__(self, shape: RowShape) -> None:
        self._shape = shape
        self._text = io.StringIO()
        self._csv = csv.writer(
            self._text,
            delimiter=shape.delimiter,
            quotechar='"',
            doublequote=True,
            lineterminator="\r\n",
            quoting=csv.QUOTE_MINIMAL,
        )

    def _drain(self) -> bytes:
        text = self._text.getvalue()
        self._text.seek(0)
        self._text.truncate()
        return encodable_text(text).encode("utf-8")

    def start(self) -> bytes:
        if self._shape.header:
            self._csv.writerow(self._shape.column_names)
        return self._drain()

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        guard = self._shape.csv_injection_guard
        self._csv.writerows([_fast_cell(value, guard) for value in row] for row in rows)
        return self._drain()

    def finish(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        pass


def _fast_cell(value: Any, guard: bool) -> str:
    """The CSV formatter's cell, with fast paths for the common types."""
    kind = type(value)
    if kind is str:
        text: str = value
        return "'" + text if guard and text.startswith(FORMULA_TRIGGERS) else text
    if kind is int or (kind is Decimal and value.is_finite()):
        return str(value)
    return _cell(value, guard=guard)


class JsonlWriter:
    def __init__(self, shape: RowShape) -> None:
        self._names = shape.column_names

    def start(self) -> bytes:
        return b""

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        lines = [
            encode_json(
                {n: v for n, v in zip(self._names, row, strict=True) if v is not MISSING},
                pretty=False,
            )
            for row in rows
        ]
        return "".join(line + "\n" for line in lines).encode("utf-8")

    def finish(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        pass


class XmlWriter:
    def __init__(self, shape: RowShape, root_element: str) -> None:
        self._elements = [element_name(name) for name in shape.column_names]
        self._row = element_name(root_element)

    def start(self) -> bytes:
        return b'<?xml version="1.0" encoding="UTF-8"?>\n<batch>'

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        parts: list[str] = []
        for row in rows:
            parts.append(f"<{self._row}>")
            for element, value in zip(self._elements, row, strict=True):
                if value is MISSING or value is None:
                    continue
                if isinstance(value, dict | list):
                    text = encode_json(value, pretty=False)
                else:
                    text = scalar_text(value)
                parts.append(f"<{element}>{_escaped(text, _TEXT_SPECIAL)}</{element}>")
            parts.append(f"</{self._row}>")
        return "".join(parts).encode("utf-8")

    def finish(self) -> Iterator[bytes]:
        yield b"</batch>\n"

    def close(self) -> None:
        pass


class XlsxWriter:
    def __init__(self, shape: RowShape) -> None:
        handle, self._path = tempfile.mkstemp(prefix="backchannel-batch-", suffix=".xlsx")
        os.close(handle)
        self._names = shape.column_names
        self._book = xlsxwriter.Workbook(
            self._path,
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "tmpdir": tempfile.gettempdir(),
            },
        )
        # A fixed creation time: the same rows make the same workbook.
        self._book.set_properties({"created": parse_time("2000-01-01T00:00:00Z")})
        self._sheet = self._book.add_worksheet("feedback")
        self._time_format = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._is_time = [name in TIME_COLUMNS for name in self._names]
        self._next_row = 0

    def start(self) -> bytes:
        self._sheet.write_row(0, 0, self._names)
        self._next_row = 1
        return b""

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        sheet, number = self._sheet, self._next_row
        for row in rows:
            for column, value in enumerate(row):
                if value is MISSING or value is None:
                    continue
                if self._is_time[column] and isinstance(value, str):
                    sheet.write_datetime(
                        number, column, parse_time(value).replace(tzinfo=None), self._time_format
                    )
                elif isinstance(value, bool):
                    sheet.write_boolean(number, column, value)
                elif isinstance(value, int | float | Decimal):
                    sheet.write_number(number, column, float(value))
                elif isinstance(value, dict | list):
                    sheet.write_string(number, column, encode_json(value, pretty=False))
                else:
                    sheet.write_string(number, column, encodable_text(str(value)))
            number += 1
        self._next_row = number
        return b""

    def finish(self) -> Iterator[bytes]:
        self._book.close()
        try:
            with open(self._path, "rb") as workbook:
                while chunk := workbook.read(READ_CHUNK):
                    yield chunk
        finally:
            self.close()

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


def preview_lines(file_format: str, shape: RowShape, rows: Sequence[Sequence[Any]]) -> list[str]:
    """The rows as text the way the file writes them (XLSX shown as CSV)."""
    writer = writer_for("csv" if file_format == "xlsx" else file_format, shape)
    lines = []
    for row in rows:
        text = writer.rows([row]).decode("utf-8")
        lines.append(text.rstrip("\r\n"))
    return lines
