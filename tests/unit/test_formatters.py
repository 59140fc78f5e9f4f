"""The built-in formatters: json, xml, csv and form."""

from __future__ import annotations

import copy
import csv
import io
import json
import xml.etree.ElementTree as ElementTree
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

import pluggy
import pytest

import backchannel.formatters
from backchannel.formatters import (
    STANDARD_COLUMNS,
    CsvFormatter,
    FormFormatter,
    JsonFormatter,
    XmlFormatter,
)
from backchannel.plugin import PROJECT_NAME, Formatter, HookSpecs

FORMATTERS: list[Formatter] = [JsonFormatter(), XmlFormatter(), CsvFormatter(), FormFormatter()]
ODD_TEXT = "Zoë 日本 <&\"'> a,b;c\r\n=cmd\t\x01\ud800 🙂"


def brief_document() -> dict[str, Any]:
    """The brief's example feedback, as the server builds it."""
    return {
        "feedback_id": "fb_01HQ",
        "kind": "conversion",
        "lead_id": "LC123456789",
        "source_id": "SOURCE_ABC",
        "feedback_date": "2024-01-15T10:30:00Z",
        "accepted_at": "2024-01-15T10:30:01Z",
        "outcome": {
            "status": "converted",
            "conversion_date": "2024-01-14T15:45:00Z",
            "value": Decimal("1250.00"),
            "currency": "USD",
            "product": "home_insurance",
        },
        "quality": {
            "overall_score": 85,
            "data_quality": 90,
            "conversion_likelihood": 80,
            "customer_satisfaction": 88,
        },
        "attribution": {
            "campaign": "winter_2024",
            "creative": "banner_v2",
            "keyword": "home insurance quotes",
            "sub_ids": {"sub1": "a"},
        },
        "consents": [{"provider": "trustedform", "reference": "cert-1"}],
        "attributes": {"agent": {"name": "Ann", "active": True}, "notes": None},
    }


def with_attributes(**attributes: Any) -> dict[str, Any]:
    document = brief_document()
    document["attributes"] = attributes
    return document


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def csv_record(body: bytes) -> dict[str, str]:
    header, row = csv_rows(body)
    return dict(zip(header, row, strict=True))


# --- the plugin surface -----------------------------------------------------------------


def test_the_hook_registers_exactly_the_builtin_formatters() -> None:
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(HookSpecs)
    manager.register(backchannel.formatters)
    registered: list[Formatter] = []

    manager.hook.register_formatters(register=registered.append)

    assert sorted(formatter.name for formatter in registered) == [
        "csv",
        "form",
        "google_ads_csv",
        "json",
        "meta_capi",
        "postback",
        "template",
        "xml",
    ]


def test_the_package_is_installed_as_the_builtin_formatters_entry_point() -> None:
    (entry_point,) = entry_points(group=PROJECT_NAME, name="builtin_formatters")

    assert entry_point.load() is backchannel.formatters


@pytest.mark.parametrize("formatter", FORMATTERS, ids=lambda formatter: formatter.name)
def test_each_formatter_satisfies_the_formatter_protocol(formatter: Formatter) -> None:
    assert isinstance(formatter, Formatter)


@pytest.mark.parametrize("formatter", FORMATTERS, ids=lambda formatter: formatter.name)
def test_rendering_the_same_document_twice_gives_the_same_bytes(formatter: Formatter) -> None:
    document = with_attributes(note=ODD_TEXT, nested={"b": [1, 2.5, None], "a": False})

    first = formatter.render(document, {})
    second = formatter.render(copy.deepcopy(document), {})

    assert first == second


@pytest.mark.parametrize("formatter", FORMATTERS, ids=lambda formatter: formatter.name)
def test_odd_text_in_keys_and_values_renders_as_valid_utf8(formatter: Formatter) -> None:
    document = with_attributes(**{ODD_TEXT: ODD_TEXT, "list": [ODD_TEXT]})
    options = {"columns": ["attributes"]} if formatter.name == "csv" else {}

    body = formatter.render(document, options).body

    assert body.decode("utf-8")


# --- check_options ------------------------------------------------------------------------


def test_check_options_reports_every_problem_at_once() -> None:
    problems = JsonFormatter().check_options(
        {"pretty": "yes", "fields": ["lead_id", "outcome..value", 7, "lead_id"], "indent": 2}
    )

    assert {problem.field for problem in problems} == {
        "format_options.pretty",
        "format_options.fields[1]",
        "format_options.fields[2]",
        "format_options.fields[3]",
        "format_options.indent",
    }


@pytest.mark.parametrize("formatter", FORMATTERS, ids=lambda formatter: formatter.name)
def test_check_options_refuses_unknown_options(formatter: Formatter) -> None:
    problems = formatter.check_options({"colour": "blue"})

    assert [problem.field for problem in problems] == ["format_options.colour"]


@pytest.mark.parametrize(
    ("formatter", "options"),
    [
        pytest.param(
            JsonFormatter(),
            {"pretty": True, "fields": ["lead_id", "attribution.sub_ids.sub1"]},
            id="json",
        ),
        pytest.param(
            XmlFormatter(),
            {"root_element": "lead-feedback", "fields": ["outcome.value"]},
            id="xml",
        ),
        pytest.param(
            CsvFormatter(),
            {
                "columns": ["lead_id", "consents.0.provider"],
                "delimiter": "\t",
                "header": False,
                "csv_injection_guard": False,
            },
            id="csv",
        ),
        pytest.param(CsvFormatter(), {"fields": ["lead_id"], "columns": None}, id="csv-null"),
        pytest.param(FormFormatter(), {"fields": ["quality.overall_score"]}, id="form"),
        pytest.param(FormFormatter(), {}, id="form-none"),
    ],
)
def test_check_options_accepts_documented_options(
    formatter: Formatter, options: dict[str, Any]
) -> None:
    assert formatter.check_options(options) == []


def test_check_options_refuses_an_empty_field_list() -> None:
    problems = FormFormatter().check_options({"fields": []})

    assert [problem.field for problem in problems] == ["format_options.fields"]


def test_csv_check_options_refuses_columns_and_fields_together() -> None:
    problems = CsvFormatter().check_options({"columns": ["lead_id"], "fields": ["lead_id"]})

    assert [problem.field for problem in problems] == ["format_options.fields"]


@pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n", 1])
def test_csv_check_options_refuses_a_delimiter_that_is_not_one_usable_character(
    delimiter: object,
) -> None:
    problems = CsvFormatter().check_options({"delimiter": delimiter})

    assert [problem.field for problem in problems] == ["format_options.delimiter"]


@pytest.mark.parametrize("root_element", ["", "1feedback", "lead feedback", "ns:feedback", "xml"])
def test_xml_check_options_refuses_a_root_element_that_is_not_an_element_name(
    root_element: str,
) -> None:
    problems = XmlFormatter().check_options({"root_element": root_element})

    assert [problem.field for problem in problems] == ["format_options.root_element"]


@pytest.mark.parametrize("formatter", FORMATTERS, ids=lambda formatter: formatter.name)
def test_render_refuses_options_that_check_options_refuses(formatter: Formatter) -> None:
    with pytest.raises(ValueError, match=r"format_options\.colour"):
        formatter.render(brief_document(), {"colour": "blue"})


# --- json ---------------------------------------------------------------------------------


def test_json_renders_the_brief_example_with_the_same_values() -> None:
    document = brief_document()

    body = JsonFormatter().render(document, {}).body

    assert json.loads(body, parse_float=Decimal) == document


def test_json_writes_money_with_exactly_its_own_digits() -> None:
    body = JsonFormatter().render(brief_document(), {}).body

    assert b'"value":1250.00,' in body


def test_json_is_labelled_application_json() -> None:
    content = JsonFormatter().render(brief_document(), {})

    assert (content.content_type, content.file_extension) == ("application/json", "json")


@pytest.mark.parametrize("pretty", [False, True])
def test_json_without_decimals_matches_the_standard_library(pretty: bool) -> None:
    document = with_attributes(note=ODD_TEXT.replace("\ud800", ""), empty={}, none=[], n=1.5e-7)
    del document["outcome"]
    expected = json.dumps(
        document,
        ensure_ascii=False,
        indent=2 if pretty else None,
        separators=None if pretty else (",", ":"),
    )

    body = JsonFormatter().render(document, {"pretty": pretty}).body

    assert body.decode("utf-8") == expected


def test_json_fields_select_and_order_values_keeping_their_nesting() -> None:
    options = {"fields": ["outcome.value", "lead_id", "outcome.status"]}

    body = JsonFormatter().render(brief_document(), options).body

    assert list(json.loads(body, parse_float=Decimal).items()) == [
        ("outcome", {"value": Decimal("1250.00"), "status": "converted"}),
        ("lead_id", "LC123456789"),
    ]


def test_json_fields_the_document_lacks_are_left_out() -> None:
    options = {"fields": ["return.reason_code", "lead_id", "outcome.value.cents"]}

    body = JsonFormatter().render(brief_document(), options).body

    assert json.loads(body) == {"lead_id": "LC123456789"}


def test_json_field_through_a_list_keeps_a_list() -> None:
    body = JsonFormatter().render(brief_document(), {"fields": ["consents.0.provider"]}).body

    assert json.loads(body) == {"consents": [{"provider": "trustedform"}]}


@pytest.mark.parametrize(
    "fields",
    [["quality", "quality.data_quality"], ["quality.data_quality", "quality"]],
    ids=["whole-first", "whole-last"],
)
def test_json_field_inside_one_selected_whole_adds_nothing(fields: list[str]) -> None:
    body = JsonFormatter().render(brief_document(), {"fields": fields}).body

    assert list(json.loads(body)["quality"].items()) == list(brief_document()["quality"].items())


# --- xml ----------------------------------------------------------------------------------


def test_xml_parses_with_elementtree_to_the_document_values() -> None:
    body = XmlFormatter().render(brief_document(), {}).body

    root = ElementTree.fromstring(body)
    assert root.tag == "feedback"
    assert root.findtext("lead_id") == "LC123456789"
    assert root.findtext("outcome/value") == "1250.00"
    assert root.findtext("quality/overall_score") == "85"
    assert root.findtext("attribution/sub_ids/sub1") == "a"
    assert root.findtext("attributes/agent/active") == "true"


def test_xml_round_trips_markup_characters_and_unicode_in_text() -> None:
    text = "<tag> & \"quoted\" 'single' Zoë 日本 🙂\r\n\tend "

    body = XmlFormatter().render(with_attributes(note=text), {}).body

    assert ElementTree.fromstring(body).findtext("attributes/note") == text


def test_xml_writes_a_list_as_repeated_item_children() -> None:
    body = XmlFormatter().render(brief_document(), {}).body

    consents = ElementTree.fromstring(body).find("consents")
    assert consents is not None
    assert [item.tag for item in consents] == ["item"]
    assert consents.findtext("item/provider") == "trustedform"


def test_xml_writes_none_as_an_empty_element() -> None:
    body = XmlFormatter().render(brief_document(), {}).body

    notes = ElementTree.fromstring(body).find("attributes/notes")
    assert notes is not None
    assert (notes.text, list(notes)) == (None, [])


def test_xml_sanitises_keys_that_are_not_element_names_and_keeps_the_original() -> None:
    document = with_attributes(**{"first name": "a", "1st": "b", "xml:lang": "c", "": "d"})

    body = XmlFormatter().render(document, {}).body

    attributes = ElementTree.fromstring(body).find("attributes")
    assert attributes is not None
    assert [(element.tag, element.get("key"), element.text) for element in attributes] == [
        ("first_name", "first name", "a"),
        ("_1st", "1st", "b"),
        ("_xml_lang", "xml:lang", "c"),
        ("_", "", "d"),
    ]


def test_xml_replaces_characters_xml_cannot_hold() -> None:
    body = XmlFormatter().render(with_attributes(note="a\x00b\x1bc\ud800"), {}).body

    assert ElementTree.fromstring(body).findtext("attributes/note") == "a\ufffdb\ufffdc\ufffd"


def test_xml_root_element_names_the_root() -> None:
    body = XmlFormatter().render(brief_document(), {"root_element": "lead_feedback"}).body

    assert ElementTree.fromstring(body).tag == "lead_feedback"


def test_xml_fields_select_and_order_elements() -> None:
    options = {"fields": ["outcome.value", "lead_id"]}

    body = XmlFormatter().render(brief_document(), options).body

    root = ElementTree.fromstring(body)
    assert [element.tag for element in root.iter()] == ["feedback", "outcome", "value", "lead_id"]


def test_xml_is_labelled_application_xml() -> None:
    content = XmlFormatter().render(brief_document(), {})

    assert (content.content_type, content.file_extension) == ("application/xml", "xml")


# --- csv ----------------------------------------------------------------------------------


def test_csv_parses_back_to_the_standard_header_and_values() -> None:
    body = CsvFormatter().render(brief_document(), {}).body

    header, row = csv_rows(body)
    assert header == list(STANDARD_COLUMNS)
    record = dict(zip(header, row, strict=True))
    assert record["lead_id"] == "LC123456789"
    assert record["outcome.value"] == "1250.00"
    assert record["quality.overall_score"] == "85"
    assert record["attribution.keyword"] == "home insurance quotes"
    assert record["return.reason_code"] == ""


def test_csv_standard_header_starts_as_the_brief_lists_it() -> None:
    assert STANDARD_COLUMNS[:3] == ("lead_id", "source_id", "kind")


def test_csv_ends_every_line_with_crlf() -> None:
    body = CsvFormatter().render(brief_document(), {}).body

    assert body.endswith(b"\r\n")
    assert body.count(b"\n") == body.count(b"\r\n") == 2


def test_csv_value_with_a_comma_newline_and_quote_survives() -> None:
    text = 'one, "two"\nthree\r\nfour'

    body = CsvFormatter().render(with_attributes(note=text), {"columns": ["attributes.note"]})

    assert csv_record(body.body) == {"attributes.note": text}


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\uff1d1"])
def test_csv_guards_formula_injection_with_a_leading_quote(text: str) -> None:
    body = CsvFormatter().render(with_attributes(note=text), {"columns": ["attributes.note"]})

    assert csv_record(body.body) == {"attributes.note": "'" + text}


def test_csv_without_the_guard_writes_formulas_as_they_are() -> None:
    options = {"columns": ["attributes.note"], "csv_injection_guard": False}

    body = CsvFormatter().render(with_attributes(note="=1+1"), options).body

    assert csv_record(body) == {"attributes.note": "=1+1"}


def test_csv_never_prefixes_a_negative_number() -> None:
    document = brief_document()
    document["outcome"]["value"] = Decimal("-5.00")

    body = CsvFormatter().render(document, {"columns": ["outcome.value"]}).body

    assert csv_record(body) == {"outcome.value": "-5.00"}


def test_csv_columns_select_and_order_the_columns() -> None:
    options = {"columns": ["outcome.value", "lead_id", "consents.0.provider", "return.reason_code"]}

    body = CsvFormatter().render(brief_document(), options).body

    assert csv_rows(body) == [
        ["outcome.value", "lead_id", "consents.0.provider", "return.reason_code"],
        ["1250.00", "LC123456789", "trustedform", ""],
    ]


def test_csv_fields_is_an_alias_of_columns() -> None:
    body = CsvFormatter().render(brief_document(), {"fields": ["kind", "lead_id"]}).body

    assert csv_rows(body) == [["kind", "lead_id"], ["conversion", "LC123456789"]]


def test_csv_writes_a_mapping_or_list_cell_as_compact_json() -> None:
    options = {"columns": ["attribution.sub_ids", "consents"]}

    body = CsvFormatter().render(brief_document(), options).body

    assert csv_record(body) == {
        "attribution.sub_ids": '{"sub1":"a"}',
        "consents": '[{"provider":"trustedform","reference":"cert-1"}]',
    }


def test_csv_delimiter_and_header_options_shape_the_output() -> None:
    options = {"columns": ["lead_id", "kind"], "delimiter": ";", "header": False}

    body = CsvFormatter().render(brief_document(), options).body

    assert body == b"LC123456789;conversion\r\n"


def test_csv_is_labelled_text_csv_in_utf8() -> None:
    content = CsvFormatter().render(brief_document(), {})

    assert (content.content_type, content.file_extension) == ("text/csv; charset=utf-8", "csv")


# --- form ---------------------------------------------------------------------------------


def test_form_parses_back_to_the_flattened_values() -> None:
    body = FormFormatter().render(brief_document(), {}).body

    assert parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True) == [
        ("feedback_id", "fb_01HQ"),
        ("kind", "conversion"),
        ("lead_id", "LC123456789"),
        ("source_id", "SOURCE_ABC"),
        ("feedback_date", "2024-01-15T10:30:00Z"),
        ("accepted_at", "2024-01-15T10:30:01Z"),
        ("outcome.status", "converted"),
        ("outcome.conversion_date", "2024-01-14T15:45:00Z"),
        ("outcome.value", "1250.00"),
        ("outcome.currency", "USD"),
        ("outcome.product", "home_insurance"),
        ("quality.overall_score", "85"),
        ("quality.data_quality", "90"),
        ("quality.conversion_likelihood", "80"),
        ("quality.customer_satisfaction", "88"),
        ("attribution.campaign", "winter_2024"),
        ("attribution.creative", "banner_v2"),
        ("attribution.keyword", "home insurance quotes"),
        ("attribution.sub_ids.sub1", "a"),
        ("consents.0.provider", "trustedform"),
        ("consents.0.reference", "cert-1"),
        ("attributes.agent.name", "Ann"),
        ("attributes.agent.active", "true"),
    ]


def test_form_writes_money_as_plain_text_with_its_own_digits() -> None:
    body = FormFormatter().render(brief_document(), {}).body

    assert b"&outcome.value=1250.00&" in body


def test_form_leaves_out_none_and_empty_containers_and_writes_booleans() -> None:
    document = with_attributes(none=None, empty={}, no=[], yes=True, off=False, blank="")

    body = FormFormatter().render(document, {"fields": ["attributes"]}).body

    assert parse_qsl(body.decode("ascii"), keep_blank_values=True) == [
        ("attributes.yes", "true"),
        ("attributes.off", "false"),
        ("attributes.blank", ""),
    ]


def test_form_round_trips_reserved_characters_and_unicode() -> None:
    text = "a&b=c d+e%f Zoë 日本\r\n"

    body = FormFormatter().render(with_attributes(note=text), {"fields": ["attributes.note"]})

    assert parse_qsl(body.body.decode("ascii")) == [("attributes.note", text)]


def test_form_fields_select_and_order_the_pairs() -> None:
    options = {"fields": ["outcome.value", "lead_id", "attribution.sub_ids"]}

    body = FormFormatter().render(brief_document(), options).body

    assert body == b"outcome.value=1250.00&lead_id=LC123456789&attribution.sub_ids.sub1=a"


def test_form_is_labelled_form_urlencoded_text() -> None:
    content = FormFormatter().render(brief_document(), {})

    assert (content.content_type, content.file_extension) == (
        "application/x-www-form-urlencoded",
        "txt",
    )
