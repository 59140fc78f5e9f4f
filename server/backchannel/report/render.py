"""A report document as bytes: JSON (the versioned document itself, for webhooks and
SFTP), or an HTML page with a plain-text alternative (for email)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class RenderedReport:
    body: bytes
    content_type: str
    file_name: str
    #: The plain-text alternative of an HTML report (empty for JSON).
    text: str = ""


def file_stem(document: Mapping[str, Any]) -> str:
    return f"report-{document['report']['id']}-{document['period']['label']}"


def render(document: Mapping[str, Any], format_name: str) -> RenderedReport:
    if format_name == "html":
        return RenderedReport(
            as_html(document).encode(),
            HTML_TYPE,
            f"{file_stem(document)}.html",
            text=as_text(document),
        )
    body = json.dumps(document, indent=2, ensure_ascii=False).encode()
    return RenderedReport(body, JSON_TYPE, f"{file_stem(document)}.json")


def _shown(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _percent(value: object) -> str:
    return "n/a" if value is None else f"{float(str(value)) * 100:.1f}%"


def _lines(name: str, found: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines of one figures mapping."""
    lines: list[tuple[str, str]] = [("", name)]
    if "volume" in found:
        volume = found["volume"]
        kinds = ", ".join(f"{k} {n}" for k, n in volume["by_kind"].items() if n)
        lines.append(("Feedback", f"{volume['total']} ({kinds or 'none'})"))
    if "conversions" in found:
        c = found["conversions"]
        lines.append(("Conversions", f"{c['count']} of {c['outcomes']} outcomes, rate "
                      f"{_percent(c['rate'])}"))  # fmt: skip
    if "revenue" in found:
        for r in found["revenue"] or []:
            lines.append((f"Revenue {r['currency']}", f"{r['sum']} over {r['count']}, "
                          f"average {r['average']}"))  # fmt: skip
        if not found["revenue"]:
            lines.append(("Revenue", "none"))
    if "returns" in found:
        r = found["returns"]
        lines.append(("Returns", f"{r['count']}, rate {_percent(r['rate'])}"))
        for reason in r["top_reasons"]:
            lines.append(
                (f"  {reason['reason']}", f"{reason['count']} ({_percent(reason['share'])})")
            )
    if "quality" in found:
        q = found["quality"]
        lines.append(("Quality average", f"{_shown(q['average'])} over {q['count']} scores"))
        for d in q["dimensions"]:
            lines.append((f"  {d['name']}", f"{_shown(d['average'])} over {d['count']}"))
    for t in found.get("trend", []):
        percent = "" if t["change_percent"] is None else f" ({t['change_percent']:+.1f}%)"
        change = "n/a" if t["change"] is None else f"{t['change']:+.4g}"
        lines.append((f"vs previous: {t['figure']}", f"{change}{percent}"))
    return lines


def _all_lines(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    lines = _lines("All sources in this report", document["total"])
    if len(document["sources"]) > 1 or document["scope"]["every_source"]:
        for source in document["sources"]:
            lines += _lines(f"Source {source['source_id']}", source)
    bench = document.get("benchmark")
    if bench is not None:
        lines.append(("", "Benchmark"))
        if bench["suppressed"]:
            lines.append(("Note", bench["note"]))
        else:
            for name, value in bench["network"].items():
                lines.append((f"Network {name}", _shown(value)))
                lines.append((f"This report {name}", _shown(bench["scope"][name])))
    return lines


def _heading(document: Mapping[str, Any]) -> str:
    period = document["period"]
    title = document["report"]["title"] or "Feedback summary"
    return f"{title}: {period['first_day']} to {period['last_day']} ({period['time_zone']})"


def as_text(document: Mapping[str, Any]) -> str:
    out = [_heading(document), ""]
    for label, value in _all_lines(document):
        out.append(f"\n{value}" if not label else f"{label}: {value}")
    out += ["", "Definitions:"]
    out += [f"- {name}: {text}" for name, text in document["definitions"].items()]
    if document["footer"]:
        out += ["", document["footer"]]
    return "\n".join(out) + "\n"


def as_html(document: Mapping[str, Any]) -> str:
    e = html.escape
    rows = []
    for label, value in _all_lines(document):
        if not label:
            rows.append(f'<tr><th colspan="2" style="text-align:left;padding-top:12px">'
                        f"{e(value)}</th></tr>")  # fmt: skip
        else:
            rows.append(f"<tr><td>{e(label)}</td><td>{e(value)}</td></tr>")
    definitions = "".join(
        f"<li><b>{e(name)}</b>: {e(text)}</li>" for name, text in document["definitions"].items()
    )
    footer = f"<p>{e(document['footer'])}</p>" if document["footer"] else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{e(_heading(document))}</title></head><body>"
        f"<h1>{e(_heading(document))}</h1><table>{''.join(rows)}</table>"
        f"<h2>Definitions</h2><ul>{definitions}</ul>{footer}</body></html>\n"
    )
