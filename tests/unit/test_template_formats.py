"""The template and postback formatters, and the field mapping every built-in formatter has."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from backchannel.formatters import (
    CsvFormatter,
    JsonFormatter,
    PostbackFormatter,
    TemplateFormatter,
)


def brief_document() -> dict[str, Any]:
    """The brief's example feedback, as the server builds it."""
    return {
        "feedback_id": "fb_01HQ",
        "kind": "conversion",
        "lead_id": "LC123456789",
        "source_id": "SOURCE_ABC",
        "transaction_id": "tx 1&2",
        "feedback_date": "2024-01-15T10:30:00Z",
        "accepted_at": "2024-01-15T10:30:01Z",
        "outcome": {
            "status": "converted",
            "conversion_date": "2024-01-14T15:45:00Z",
            "value": Decimal("1250.00"),
            "currency": "USD",
            "product": "home_insurance",
        },
        "quality": {"overall_score": 85, "data_quality": 90},
        "attribution": {
            "campaign": "winter_2024",
            "creative": "banner_v2",
            "keyword": "home insurance quotes",
            "sub_ids": {"sub1": "a b", "sub2": "é/?"},
        },
    }


def return_document() -> dict[str, Any]:
    return {
        "feedback_id": "fb_ret",
        "kind": "return",
        "lead_id": "LR-1",
        "source_id": "SOURCE_ABC",
        "transaction_id": "tx9",
        "return": {"reason_code": "INVALID_PHONE"},
    }


def fields(problems: Any) -> list[str]:
    return [problem.field for problem in problems]


# --- template -----------------------------------------------------------------------------


def test_template_renders_the_brief_example() -> None:
    template = (
        "Lead {{ lead_id }} from {{ source_id }}: {{ outcome.status }} "
        "{{ outcome.value }} {{ outcome.currency }} ({{ attribution.campaign }}, "
        "score {{ quality.overall_score }})"
    )

    rendered = TemplateFormatter().render(brief_document(), {"template": template})

    assert rendered.body.decode("utf-8") == (
        "Lead LC123456789 from SOURCE_ABC: converted 1250.00 USD (winter_2024, score 85)"
    )
    assert rendered.content_type == "text/plain; charset=utf-8"
    assert rendered.file_extension == "txt"


def test_template_fields_a_record_lacks_render_as_nothing() -> None:
    template = "[{{ outcome.value }}][{{ return.reason_text }}][{{ quality.intent }}]"

    body = TemplateFormatter().render(return_document(), {"template": template}).body

    assert body == b"[][][]"


def test_template_refuses_dunder_attributes_at_check_time() -> None:
    problems = TemplateFormatter().check_options({"template": "{{ ''.__class__ }}"})

    assert fields(problems) == ["format_options.template"]


def test_template_reports_an_undefined_variable_at_check_time() -> None:
    problems = TemplateFormatter().check_options({"template": "{{ lead_idd }}"})

    assert fields(problems) == ["format_options.template"]
    assert "lead_idd" in problems[0].description


def test_template_reports_a_syntax_error_at_check_time() -> None:
    problems = TemplateFormatter().check_options({"template": "{% if lead_id %}open"})

    assert fields(problems) == ["format_options.template"]
    assert "line 1" in problems[0].description


def test_template_reports_a_filter_that_fails_on_a_missing_field_at_check_time() -> None:
    problems = TemplateFormatter().check_options({"template": "{{ outcome.value * 2 }}"})

    assert fields(problems) == ["format_options.template"]


def test_template_autoescapes_by_default_for_html_only() -> None:
    document = {**brief_document(), "lead_id": "<b>&"}
    options = {"template": "{{ lead_id }}", "content_type": "text/html"}

    html = TemplateFormatter().render(document, options)
    plain = TemplateFormatter().render(document, {"template": "{{ lead_id }}"})

    assert html.body == b"&lt;b&gt;&amp;"
    assert html.content_type == "text/html; charset=utf-8"
    assert plain.body == b"<b>&"


def test_template_content_type_and_file_extension_are_checked() -> None:
    problems = TemplateFormatter().check_options(
        {"content_type": "nonsense", "file_extension": ".csv", "autoescape": "yes"}
    )

    assert fields(problems) == [
        "format_options.content_type",
        "format_options.file_extension",
        "format_options.autoescape",
    ]


def test_template_sees_renamed_fields_by_their_new_names() -> None:
    options = {"template": "{{ lead.id }}", "rename": {"lead_id": "lead.id"}}

    assert TemplateFormatter().check_options(options) == []
    assert TemplateFormatter().render(brief_document(), options).body == b"LC123456789"


# --- field mapping -------------------------------------------------------------------------


def test_json_drop_rename_and_constants_reshape_the_document() -> None:
    options = {
        "drop": ["quality", "attribution.sub_ids"],
        "rename": {"lead_id": "lead.id", "outcome.value": "amount"},
        "constants": {"partner": "acme", "lead.tier": 2},
    }

    written = json.loads(JsonFormatter().render(brief_document(), options).body)

    assert "quality" not in written and "lead_id" not in written
    assert "sub_ids" not in written["attribution"]
    assert written["lead"] == {"id": "LC123456789", "tier": 2}
    assert written["amount"] == 1250.00 and "value" not in written["outcome"]
    assert written["partner"] == "acme"


def test_csv_columns_name_renamed_and_constant_fields() -> None:
    options = {
        "columns": ["id", "outcome.value", "partner", "source_id"],
        "rename": {"lead_id": "id"},
        "constants": {"partner": "acme"},
        "drop": ["source_id"],
    }

    body = CsvFormatter().render(brief_document(), options).body
    header, row = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))

    assert dict(zip(header, row, strict=True)) == {
        "id": "LC123456789",
        "outcome.value": "1250.00",
        "partner": "acme",
        "source_id": "",
    }


def test_field_mapping_leaves_the_callers_document_unchanged() -> None:
    document = brief_document()

    JsonFormatter().render(document, {"drop": ["outcome.value"], "rename": {"kind": "k"}})

    assert document == brief_document()


def test_field_mapping_problems_are_all_listed() -> None:
    problems = JsonFormatter().check_options(
        {
            "drop": ["quality", "a..b"],
            "rename": {
                "quality.overall_score": "score",
                "bad..path": "x",
                "lead_id": "id",
                "source_id": "id.sub",
                "kind": "0",
            },
            "constants": {"id": "clash", "nested": {"a": 1}, "1": "digits"},
        }
    )

    assert fields(problems) == [
        "format_options.drop[1]",
        "format_options.rename.quality.overall_score",
        "format_options.rename.bad..path",
        "format_options.rename.source_id",
        "format_options.rename.kind",
        "format_options.constants.id",
        "format_options.constants.nested",
        "format_options.constants.1",
    ]


def test_rename_option_must_be_an_object() -> None:
    problems = CsvFormatter().check_options({"rename": ["lead_id"], "constants": "x"})

    assert fields(problems) == ["format_options.rename", "format_options.constants"]


# --- postback ------------------------------------------------------------------------------


def test_postback_replaces_macros_with_percent_encoded_values() -> None:
    options = {"template": "tid={transaction_id}&amount={value}&s1={sub1}&s2={sub2}&s3={sub3}"}

    rendered = PostbackFormatter().render(brief_document(), options)

    assert rendered.body == b"tid=tx%201%262&amount=1250.00&s1=a%20b&s2=%C3%A9%2F%3F&s3="
    assert dict(parse_qsl(rendered.body.decode("ascii"), keep_blank_values=True)) == {
        "tid": "tx 1&2",
        "amount": "1250.00",
        "s1": "a b",
        "s2": "é/?",
        "s3": "",
    }
    assert rendered.content_type == "application/x-www-form-urlencoded"
    assert rendered.file_extension == "txt"


def test_postback_value_keeps_exactly_its_digits() -> None:
    document = brief_document()
    document["outcome"]["value"] = Decimal("98765.4321")

    body = PostbackFormatter().render(document, {"template": "v={value}"}).body

    assert body == b"v=98765.4321"


def test_postback_uses_the_return_template_for_returns() -> None:
    options = {"template": "tid={transaction_id}&a={value}", "return_template": "r={kind}"}

    conversion = PostbackFormatter().render(brief_document(), options).body
    reversal = PostbackFormatter().render(return_document(), options).body

    assert conversion == b"tid=tx%201%262&a=1250.00"
    assert reversal == b"r=return"


def test_postback_return_template_defaults_to_the_template() -> None:
    body = PostbackFormatter().render(return_document(), {"template": "t={transaction_id}"}).body

    assert body == b"t=tx9"


def test_postback_refuses_unknown_macros_and_stray_braces() -> None:
    problems = PostbackFormatter().check_options(
        {"template": "a={lead}&b={value:>5}", "return_template": "x={kind}}"}
    )

    assert fields(problems) == ["format_options.template", "format_options.return_template"]
    assert "{lead}" in problems[0].description
