"""The teams transport against a local HTTPS stand-in for a Power Automate Workflows trigger.

Every card the transport posts in these tests is also read by Microsoft's own Adaptive Cards
parser (the ``adaptivecards`` npm package, run with Node by adaptive_cards/validate.js).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import entry_points
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import aiohttp
import pluggy
import pytest
from support.teams_receiver import (
    SIGNATURE,
    WORKFLOW_ID,
    Certificate,
    WorkflowsReceiver,
    card_message_problem,
    self_signed_certificate,
)
from yarl import URL

import backchannel_teams
from backchannel.plugin import (
    PROJECT_NAME,
    DeliveryResult,
    HookSpecs,
    OutboundMessage,
    ProbeStep,
    RenderedContent,
    Transport,
    TransportContext,
)
from backchannel.testing import prepare_recipient, settings_problems

LOOPBACK = TransportContext(
    allowed_networks=(ip_network("127.0.0.0/8"), ip_network("::1/128")),
    user_agent="Backchannel-test/1",
)
VALIDATOR = Path(__file__).parent / "adaptive_cards"
#: Teams refuses messages above about 28 KB.
TEAMS_LIMIT_BYTES = 28 * 1024
#: Seconds a send or probe may take, through the host's wrapper.
DEADLINE = 60.0

# --- documents, one per feedback kind --------------------------------------------------

CONVERSION: dict[str, Any] = {
    "feedback_id": "fb_conv_1",
    "kind": "conversion",
    "lead_id": "L-1001",
    "source_id": "src-solar-eu",
    "feedback_date": "2025-03-04T10:11:12Z",
    "accepted_at": "2025-03-04T10:11:13Z",
    "outcome": {
        "status": "converted",
        "conversion_date": "2025-03-03T09:00:00Z",
        "value": Decimal("1234.50"),
        "currency": "EUR",
        "product": "Home battery",
    },
    "attribution": {"campaign": "spring-2025", "creative": "banner-b", "keyword": "solar panels"},
}
RETURN: dict[str, Any] = {
    "feedback_id": "fb_ret_1",
    "kind": "return",
    "lead_id": "L-1002",
    "source_id": "src-solar-eu",
    "feedback_date": "2025-03-05T08:00:00Z",
    "return": {
        "reason_code": "DUPLICATE",
        "reason_text": "Same phone number as lead L-0999 from last week.",
        "return_date": "2025-03-05T07:59:00Z",
    },
}
QUALITY: dict[str, Any] = {
    "feedback_id": "fb_q_1",
    "kind": "quality",
    "lead_id": "L-1003",
    "source_id": "src-ins-de",
    "quality": {"overall_score": 87, "contactability": 92, "intent": 75.5},
}
DISPOSITION: dict[str, Any] = {
    "feedback_id": "fb_d_1",
    "kind": "disposition",
    "lead_id": "L-1004",
    "source_id": "src-ins-de",
    "outcome": {"status": "appointment set"},
}
ATTRIBUTION: dict[str, Any] = {
    "feedback_id": "fb_a_1",
    "kind": "attribution",
    "lead_id": "L-1005",
    "source_id": "src-ins-de",
    "attribution": {"campaign": "brand", "creative": "video-3", "keyword": "cheap insurance"},
}
MINIMAL: dict[str, Any] = {"feedback_id": "fb_min", "kind": "conversion", "lead_id": "L-1"}

# Personal data, spelt without markdown characters so that it reads the same on the card.
EMAIL = "ava.lindqvist@example.org"
PHONE = "0046 70 123 45 67"
CONSENT_REFERENCE = "consent-ref-5521"
CLICK_ID = "clk-9f8e7d6c"
TRANSACTION_ID = "txn-44d1e0"
SUB_ID = "aff-sub-7731"
PERSONAL_VALUES = (EMAIL, PHONE, CONSENT_REFERENCE, CLICK_ID, TRANSACTION_ID, SUB_ID)

MAXIMAL: dict[str, Any] = {
    "feedback_id": "fb_max_1",
    "kind": "conversion",
    "lead_id": "L-2001",
    "source_id": "src-solar-eu",
    "flow_id": "flow-7",
    "event_id": "evt-7",
    "click_id": CLICK_ID,
    "transaction_id": TRANSACTION_ID,
    "feedback_date": "2025-03-04T10:11:12Z",
    "accepted_at": "2025-03-04T10:11:13Z",
    "outcome": {
        "status": "converted",
        "conversion_date": "2025-03-03T09:00:00Z",
        "value": Decimal("98765.4321"),
        "currency": "SEK",
        "product": "Heat pump *premium* (install_included)",
    },
    "return": {
        "reason_code": "NONE",
        "reason_text": "Kept.",
        "return_date": "2025-03-06T00:00:00Z",
    },
    "quality": {"overall_score": 91.25, "contactability": 95, "intent": 80},
    "attribution": {
        "campaign": "spring_2025 [EU]",
        "creative": "banner-b",
        "keyword": "heat pumps",
        "sub_ids": {"s1": SUB_ID},
    },
    "consents": [{"provider": "consent-vault", "reference": CONSENT_REFERENCE}],
    "attributes": {"email": EMAIL, "phone": PHONE, "household": {"size": 4, "owner": True}},
}
KIND_DOCUMENTS = {
    "conversion": CONVERSION,
    "return": RETURN,
    "quality": QUALITY,
    "disposition": DISPOSITION,
    "attribution": ATTRIBUTION,
    "minimal": MINIMAL,
    "maximal": MAXIMAL,
}

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("workflows-tls"))


@pytest.fixture(scope="session")
def node_validator() -> Path:
    """The validator script, once its npm dependencies are installed."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the card tests need Node.js")
    if not (VALIDATOR / "node_modules" / "adaptivecards").is_dir():
        pytest.fail(f"run `npm ci --prefix {VALIDATOR}` first (the adaptivecards parser)")
    return VALIDATOR / "validate.js"


def card_problems(node_validator: Path, cards: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """Every problem Microsoft's parser finds in each card, by name; empty lists when none."""
    path = folder / "cards.json"
    path.write_text(json.dumps([{"name": name, "card": card} for name, card in cards.items()]))
    run = subprocess.run(
        ["node", str(node_validator), str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode in (0, 1), run.stderr
    return {entry["name"]: entry["problems"] for entry in json.loads(run.stdout)}


@pytest.fixture
async def receiver(
    certificate: Certificate, node_validator: Path, tmp_path: Path
) -> AsyncIterator[WorkflowsReceiver]:
    """A Workflows stand-in; every card it accepted must also satisfy Microsoft's parser."""
    stand_in = WorkflowsReceiver(certificate)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()
    cards = {f"card {index}": card for index, card in enumerate(stand_in.accepted_cards())}
    if cards:
        problems = card_problems(node_validator, cards, tmp_path)
        assert problems == {name: [] for name in cards}


def registered_transports() -> list[Transport[Any]]:
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(HookSpecs)
    manager.register(backchannel_teams)
    transports: list[Transport[Any]] = []
    manager.hook.register_transports(register=transports.append)
    return transports


async def started(context: TransportContext) -> Transport[Any]:
    [transport] = registered_transports()
    await transport.start(context)
    return transport


@pytest.fixture
async def transport() -> AsyncIterator[Transport[Any]]:
    transport = await started(LOOPBACK)
    yield transport
    await transport.aclose()


@pytest.fixture
async def guarded_transport() -> AsyncIterator[Transport[Any]]:
    """A transport with no network allowlisted, as in production."""
    transport = await started(TransportContext())
    yield transport
    await transport.aclose()


@dataclass(frozen=True)
class Post:
    """One delivery to a Workflows recipient: the recipient's settings and the document."""

    url: str
    settings: Mapping[str, Any]
    document: Mapping[str, Any]
    feedback_id: str


def message(
    url: str,
    certificate: Certificate,
    document: Mapping[str, Any] = CONVERSION,
    **settings: Any,
) -> Post:
    return Post(
        url,
        {"ca_certificate": certificate.pem, **settings},
        document,
        str(document.get("feedback_id", "")),
    )


async def send(transport: Transport[Any], post: Post) -> DeliveryResult:
    """One post as the host makes it: settings read first, the result redacted."""
    outbound = OutboundMessage(
        delivery_id="dlv_01",
        feedback_id=post.feedback_id,
        recipient_id="ops-channel",
        attempt=1,
        event_type=f"feedback.{post.document.get('kind', 'conversion')}",
        # What a formatter rendered for other transports: the card never uses it.
        content=RenderedContent(b"lead_id;status\nRENDERED-ONLY;x\n", "text/csv", "csv"),
        document=post.document,
    )
    prepared = prepare_recipient(transport, post.settings, {"url": post.url})
    return await prepared.send(outbound, DEADLINE)


async def probe(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[ProbeStep]:
    """A probe of a recipient with these settings, as TestRecipient makes it."""
    return await prepare_recipient(transport, settings, secrets).probe(DEADLINE)


def posted_card(receiver: WorkflowsReceiver, index: int = -1) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(receiver.arrivals[index].body)["attachments"][0]["content"]
    return card


def facts(card: Mapping[str, Any]) -> dict[str, str]:
    """Every fact on the card, title to value."""
    return {
        fact["title"]: fact["value"]
        for block in card["body"]
        if block["type"] == "FactSet"
        for fact in block["facts"]
    }


def texts(card: Mapping[str, Any]) -> list[str]:
    return [block["text"] for block in card["body"] if block["type"] == "TextBlock"]


def result_text(result: DeliveryResult) -> str:
    """Every text a result carries, to search for what must not be in it."""
    return " ".join(
        [
            result.response_excerpt,
            result.remote_id or "",
            *result.details.keys(),
            *result.details.values(),
        ]
    )


def url_parts(url: str) -> list[str]:
    """The parts of a Workflows URL that must never appear in a result."""
    parsed = URL(url, encoded=True)
    return [url, SIGNATURE, WORKFLOW_ID, parsed.raw_path, parsed.raw_query_string, str(parsed.port)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- the plugin ----------------------------------------------------------------------------


def test_plugin_is_installed_under_the_backchannel_entry_point_group() -> None:
    [entry_point] = [ep for ep in entry_points(group="backchannel") if ep.name == "teams"]
    assert entry_point.value == "backchannel_teams"
    assert entry_point.load() is backchannel_teams


def test_hook_registers_one_transport_named_teams_whose_url_is_secret() -> None:
    [transport] = registered_transports()
    assert isinstance(transport, Transport)
    assert transport.name == "teams"
    assert transport.settings_model.secret_names() == {"url"}


def test_public_names_are_exactly_the_listed_ones() -> None:
    assert backchannel_teams.__all__ == ["TeamsSettings", "TeamsTransport", "register_transports"]


# --- what is posted ------------------------------------------------------------------------


async def test_card_is_accepted_with_202_and_recorded_as_succeeded(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    result = await send(transport, message(receiver.url(), certificate))
    [arrival] = receiver.arrivals
    assert (result.succeeded, result.remote_code, arrival.status) == (True, 202, 202)
    assert result.remote_id == "08584712345RUN01"
    assert result.details["workflow"].startswith("accepted")
    assert result.bytes_sent == len(arrival.body)
    assert result.response_excerpt == ""
    assert arrival.headers["Content-Type"] == "application/json"
    assert arrival.headers["User-Agent"] == "Backchannel-test/1"


async def test_body_is_a_message_with_one_adaptive_card_for_teams(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    await send(transport, message(receiver.url(), certificate))
    body = json.loads(receiver.arrivals[0].body)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.5")


async def test_url_is_posted_to_exactly_as_given(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    # Re-encoding would turn sp=%2Ftriggers... into sp=/triggers..., which the signature covers.
    await send(transport, message(receiver.url(), certificate))
    expected = receiver.url().partition(f":{receiver.port}")[2]
    assert receiver.arrivals[0].raw_path == expected


async def test_card_summarises_the_feedback_from_the_document(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    document = {
        **CONVERSION,
        "quality": {"overall_score": 87, "intent": 75.5},
        "return": RETURN["return"],
    }
    await send(transport, message(receiver.url(), certificate, document))
    card = posted_card(receiver)
    assert texts(card)[0] == "Conversion · lead L-1001"
    assert facts(card) == {
        "Source": "src-solar-eu",
        "Status": "converted",
        "Value": "1234.50 EUR",
        "Product": "Home battery",
        "Conversion date": "2025-03-03T09:00:00Z",
        "Quality score": "87",
        "Quality (intent)": "75.5",
        "Return reason": "DUPLICATE",
        "Return note": "Same phone number as lead L-0999 from last week.",
        "Return date": "2025-03-05T07:59:00Z",
        "Campaign": "spring-2025",
        "Creative": "banner-b",
        "Keyword": "solar panels",
        "Feedback date": "2025-03-04T10:11:12Z",
        "Feedback ID": "fb\\_conv\\_1",
    }
    assert b"RENDERED-ONLY" not in receiver.arrivals[0].body


async def test_without_a_document_the_card_still_names_the_feedback(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    bare = dataclasses.replace(message(receiver.url(), certificate), document={})
    result = await send(transport, bare)
    assert result.succeeded
    card = posted_card(receiver)
    assert texts(card)[0] == "Conversion"
    assert facts(card) == {"Feedback ID": "fb\\_conv\\_1"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("1234.50"), "1234.50"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("1E+3"), "1000"),
        (Decimal("123456789012345678901234567890.125"), "123456789012345678901234567890.125"),
    ],
)
async def test_value_keeps_every_digit_of_the_decimal(
    receiver: WorkflowsReceiver,
    transport: Transport[Any],
    certificate: Certificate,
    value: Decimal,
    shown: str,
) -> None:
    document = {**CONVERSION, "outcome": {"value": value, "currency": "USD"}}
    await send(transport, message(receiver.url(), certificate, document))
    assert facts(posted_card(receiver))["Value"] == f"{shown} USD"


async def test_title_setting_heads_the_card(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    await send(transport, message(receiver.url(), certificate, title="Solar EU leads"))
    assert texts(posted_card(receiver))[:2] == ["Solar EU leads", "Conversion · lead L-1001"]


async def test_markdown_in_values_shows_as_written(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    campaign = "**Spring** _sale_ [click](https://phish.example) {{DATE(2025-01-01T00:00:00Z)}}"
    document = {**CONVERSION, "attribution": {"campaign": campaign}, "lead_id": "1. L_7"}
    await send(transport, message(receiver.url(), certificate, document))
    card = posted_card(receiver)
    assert facts(card)["Campaign"] == (
        r"\*\*Spring\*\* \_sale\_ \[click\](https://phish.example) "
        r"\{\{DATE(2025-01-01T00:00:00Z)\}\}"
    )
    assert texts(card)[0] == r"Conversion · lead 1. L\_7"


async def test_line_breaks_in_values_become_spaces(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    document = {**RETURN, "return": {"reason_text": "first line\n\n- not a list\r\nend"}}
    await send(transport, message(receiver.url(), certificate, document))
    assert facts(posted_card(receiver))["Return note"] == "first line - not a list end"


@pytest.mark.parametrize("kind", list(KIND_DOCUMENTS))
async def test_card_for_each_kind_satisfies_microsofts_parser(
    receiver: WorkflowsReceiver,
    transport: Transport[Any],
    certificate: Certificate,
    node_validator: Path,
    tmp_path: Path,
    kind: str,
) -> None:
    cards = {}
    for include_personal_data in (False, True):
        result = await send(
            transport,
            message(
                receiver.url(),
                certificate,
                KIND_DOCUMENTS[kind],
                title="Lead feedback",
                include_personal_data=include_personal_data,
            ),
        )
        assert result.succeeded, result.response_excerpt
        cards[f"{kind}, personal data {include_personal_data}"] = posted_card(receiver)
    assert card_problems(node_validator, cards, tmp_path) == {name: [] for name in cards}


def test_validator_reports_what_microsofts_parser_drops_or_rejects(
    node_validator: Path, tmp_path: Path
) -> None:
    # The judge itself can fail: a misspelt property, an unknown value, a newer element.
    bad = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "x", "wieght": "Bolder"},
            {"type": "TextBlock", "text": "y", "color": "Mauve"},
            {"type": "FactSet", "facts": [{"title": "", "value": "v"}]},
            {"type": "Icon", "name": "Calendar"},
        ],
    }
    [problems] = card_problems(node_validator, {"bad": bad}, tmp_path).values()
    assert len(problems) >= 4
    assert any("wieght" in problem for problem in problems)
    assert any("Mauve" in problem for problem in problems)
    assert any("Icon" in problem for problem in problems)
    assert any("title" in problem for problem in problems)


def test_stand_in_refuses_a_body_that_is_not_a_card_message() -> None:
    assert card_message_problem(b"lead_id;status\n") == "the body is not JSON"
    assert card_message_problem(b'{"text": "hello"}') == 'the body is not a "message"'
    not_a_card = {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.hero", "content": {}}],
    }
    assert card_message_problem(json.dumps(not_a_card).encode()) is not None


async def test_stand_in_answers_400_to_a_body_that_is_not_a_card_message(
    receiver: WorkflowsReceiver, certificate: Certificate
) -> None:
    tls = aiohttp.TCPConnector(ssl=ssl.create_default_context(cadata=certificate.pem))
    async with (
        aiohttp.ClientSession(connector=tls) as session,
        session.post(receiver.url(), json={"type": "message", "text": "hi"}) as response,
    ):
        assert response.status == 400
        assert "attachments" in await response.text()


# --- personal data -------------------------------------------------------------------------


async def test_personal_data_is_left_out_by_default_and_the_card_says_so(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    result = await send(transport, message(receiver.url(), certificate, MAXIMAL))
    body = receiver.arrivals[0].body
    for value in PERSONAL_VALUES:
        assert value.encode() not in body
    card = posted_card(receiver)
    assert "Personal data" not in texts(card)
    assert texts(card)[-1] == (
        "Personal data omitted: attributes, consents, click id, transaction id, sub-ids."
    )
    assert result.details["personal_data_omitted"] == (
        "attributes, consents, click id, transaction id, sub-ids"
    )


async def test_personal_data_is_shown_when_the_recipient_allows_it(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    await send(transport, message(receiver.url(), certificate, MAXIMAL, include_personal_data=True))
    body = receiver.arrivals[0].body
    for value in PERSONAL_VALUES:
        assert value.encode() in body
    card = posted_card(receiver)
    assert "Personal data" in texts(card)
    assert facts(card)["household.size"] == "4"
    assert not any(text.startswith("Personal data omitted") for text in texts(card))


async def test_no_omission_note_when_there_was_no_personal_data(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    result = await send(transport, message(receiver.url(), certificate, QUALITY))
    assert not any("omitted" in text for text in texts(posted_card(receiver)))
    assert "personal_data_omitted" not in result.details


# --- size ----------------------------------------------------------------------------------


async def test_oversized_card_is_trimmed_with_a_note_and_still_fits(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    attributes = {f"note_{index:03}": f"{index:03} " + "x" * 700 for index in range(120)}
    document = {
        **MAXIMAL,
        "return": {"reason_code": "OTHER", "reason_text": "why " * 20_000},
        "attributes": attributes,
    }
    result = await send(
        transport, message(receiver.url(), certificate, document, include_personal_data=True)
    )
    assert (result.succeeded, result.remote_code) == (True, 202)
    body = receiver.arrivals[0].body
    assert len(body) <= TEAMS_LIMIT_BYTES
    assert result.bytes_sent == len(body)
    card = posted_card(receiver)
    trimmed = int(result.details["card_trimmed_items"])
    assert trimmed > 1
    assert texts(card)[-1] == f"Trimmed {trimmed} items to fit Teams' size limit."
    shown = facts(card)
    # The feedback's own facts come before personal data.
    assert shown["Feedback ID"] == "fb\\_max\\_1"
    assert shown["Return note"].endswith("…")
    assert len(shown["Return note"]) <= 500
    assert 0 < sum(title.startswith("note") for title in shown) < len(attributes)


async def test_long_texts_are_trimmed_even_without_personal_data(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    document = {
        **CONVERSION,
        "lead_id": "L" * 5_000,
        "outcome": {"status": "s" * 40_000, "product": "p" * 40_000},
    }
    result = await send(transport, message(receiver.url(), certificate, document))
    assert result.succeeded
    assert len(receiver.arrivals[0].body) <= TEAMS_LIMIT_BYTES
    card = posted_card(receiver)
    assert texts(card)[-1] == "Trimmed 3 items to fit Teams' size limit."
    assert facts(card)["Feedback ID"] == "fb\\_conv\\_1"


async def test_a_card_that_fits_is_not_trimmed(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    result = await send(
        transport, message(receiver.url(), certificate, MAXIMAL, include_personal_data=True)
    )
    assert "card_trimmed_items" not in result.details
    assert not any("Trimmed" in text for text in texts(posted_card(receiver)))


# --- how answers are classified ------------------------------------------------------------


async def test_429_is_retryable_with_retry_after(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    receiver.throttle, receiver.retry_after = 1, "12"
    result = await send(transport, message(receiver.url(), certificate))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, 429)
    assert result.retry_after == 12.0
    assert "WorkflowTriggerIsThrottled" in result.response_excerpt


async def test_400_for_a_refused_card_is_not_retryable_and_says_why(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    receiver.status = 400
    result = await send(transport, message(receiver.url(), certificate))
    assert (result.succeeded, result.retryable, result.gone) == (False, False, False)
    assert result.remote_code == 400
    assert "WorkflowError" in result.response_excerpt


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_408_and_5xx_are_retryable(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate, status: int
) -> None:
    receiver.status = status
    result = await send(transport, message(receiver.url(), certificate))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, status)


@pytest.mark.parametrize("status", [404, 410])
async def test_404_and_410_mean_the_workflow_is_gone(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate, status: int
) -> None:
    receiver.status = status
    result = await send(transport, message(receiver.url(), certificate))
    assert (result.succeeded, result.retryable, result.gone) == (False, False, True)


@pytest.mark.parametrize("status", [401, 403, 413])
async def test_other_4xx_is_not_retryable(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate, status: int
) -> None:
    receiver.status = status
    result = await send(transport, message(receiver.url(), certificate))
    assert (result.succeeded, result.retryable, result.gone) == (False, False, False)


async def test_connection_refused_is_retryable(
    transport: Transport[Any], certificate: Certificate
) -> None:
    url = f"https://127.0.0.1:{closed_port()}/workflows/{WORKFLOW_ID}/x?sig={SIGNATURE}"
    result = await send(transport, message(url, certificate))
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, None)
    assert result.response_excerpt == (
        "cannot connect to the Workflows endpoint: connection refused"
    )


async def test_certificate_is_not_trusted_without_ca_certificate(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    untrusted = dataclasses.replace(message(receiver.url(), certificate), settings={})
    result = await send(transport, untrusted)
    assert (result.succeeded, result.retryable, result.remote_code) == (False, True, None)
    assert result.response_excerpt == "TLS certificate of the Workflows endpoint failed"
    assert receiver.arrivals == []


# --- the URL is a credential ---------------------------------------------------------------


async def test_url_never_appears_in_a_result_when_no_answer_comes(
    transport: Transport[Any], certificate: Certificate
) -> None:
    url = f"https://127.0.0.1:{closed_port()}/workflows/{WORKFLOW_ID}/x?sig={SIGNATURE}"
    result = await send(transport, message(url, certificate))
    assert result.retryable
    for part in url_parts(url):
        assert part not in result_text(result)


async def test_url_echoed_by_the_remote_is_masked(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    receiver.echo_url = True
    result = await send(transport, message(receiver.url(), certificate))
    assert result.remote_code == 400
    assert "cannot run ***" in result.response_excerpt
    for part in url_parts(receiver.url()):
        assert part not in result_text(result)


async def test_url_never_appears_when_the_destination_is_refused(
    receiver: WorkflowsReceiver, guarded_transport: Transport[Any], certificate: Certificate
) -> None:
    result = await send(guarded_transport, message(receiver.url(), certificate))
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt == "refused: destination address is loopback (not allowlisted)"
    for part in [*url_parts(receiver.url()), "127.0.0.1"]:
        assert part not in result_text(result)
    assert receiver.arrivals == []


@pytest.mark.parametrize("host", ["localhost", "127.1", "2130706433", "0x7f000001"])
async def test_loopback_by_name_or_any_spelling_is_refused_unless_allowlisted(
    receiver: WorkflowsReceiver,
    guarded_transport: Transport[Any],
    certificate: Certificate,
    host: str,
) -> None:
    result = await send(guarded_transport, message(receiver.url(host=host), certificate))
    assert result.response_excerpt == "refused: destination address is loopback (not allowlisted)"
    assert receiver.arrivals == []


# --- rate ----------------------------------------------------------------------------------


async def arrival_times(
    receiver: WorkflowsReceiver, transport: Transport[Any], messages: list[Post]
) -> list[float]:
    """When each of ``messages``, sent all at once, reached the receiver, in order."""
    # One post first, so that the TLS handshake of a new connection delays none of the rest.
    assert (await send(transport, messages[0])).succeeded
    receiver.arrivals.clear()
    results = await asyncio.gather(*(send(transport, m) for m in messages))
    assert all(result.succeeded for result in results)
    return sorted(arrival.at for arrival in receiver.arrivals)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_posts_to_one_url_are_spaced_to_four_a_second(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    times = await arrival_times(receiver, transport, [message(receiver.url(), certificate)] * 10)
    # 0.25 s apart when sent; a few milliseconds of jitter on the way in.
    assert min(gaps(times)) >= 0.2, gaps(times)
    assert times[-1] - times[0] >= 9 * 0.25 - 0.05


async def test_a_lower_rate_setting_spaces_posts_further(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    slower = message(receiver.url(), certificate, max_requests_per_second=2)
    times = await arrival_times(receiver, transport, [slower] * 3)
    assert min(gaps(times)) >= 0.45, gaps(times)


async def test_different_urls_do_not_wait_for_each_other(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    urls = [receiver.url(signature=f"{SIGNATURE}{n}") for n in range(2)]
    await asyncio.gather(*(send(transport, message(url, certificate)) for url in urls))
    first, second = sorted(arrival.at for arrival in receiver.arrivals)
    assert second - first < 0.2


async def test_a_post_whose_turn_is_beyond_the_timeout_is_not_sent_and_retryable(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    # With a 1 s timeout a post waits at most half of it for its turn: 3 of 10 go out.
    sends = [
        send(transport, message(receiver.url(), certificate, timeout_seconds=1)) for _ in range(10)
    ]
    started_at = time.monotonic()
    results = await asyncio.gather(*sends)
    assert time.monotonic() - started_at < 5
    assert sum(result.succeeded for result in results) == 3
    waiting = [result for result in results if not result.succeeded]
    assert all(r.retryable and r.retry_after and r.retry_after > 0.5 for r in waiting)
    assert len(receiver.arrivals) == 3


# --- settings, as the host reads them ------------------------------------------------------


def check(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, str]:
    [transport] = registered_transports()
    return {p.field: p.description for p in settings_problems(transport, settings, secrets)}


WORKFLOWS_URL = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/"
    f"{WORKFLOW_ID}/triggers/manual/paths/invoke?api-version=2016-06-01"
    f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIGNATURE}"
)


def test_complete_settings_have_no_problems(certificate: Certificate) -> None:
    settings = {
        "title": "Solar EU leads",
        "include_personal_data": True,
        "ca_certificate": certificate.pem,
        "connect_timeout_seconds": 3,
        "timeout_seconds": 20.5,
        "max_requests_per_second": 2.5,
    }
    assert check(settings, {"url": WORKFLOWS_URL}) == {}


def test_url_in_plain_settings_is_refused_without_echoing_it() -> None:
    problems = check({"url": WORKFLOWS_URL}, {})
    assert problems["transport_settings.url"].endswith("give it in secret_settings")
    assert "sig=" in problems["transport_settings.url"]
    assert all(SIGNATURE not in text and WORKFLOW_ID not in text for text in problems.values())
    assert "secret_settings.url" not in problems


def test_missing_url_is_a_problem() -> None:
    assert "secret_settings.url" in check({}, {})


@pytest.mark.parametrize(
    "url",
    [
        f"http://prod-12.westeurope.logic.azure.com/workflows/x?sig={SIGNATURE}",
        f"https://prod-12.westeurope.logic.azure.com/workflows/x y?sig={SIGNATURE}",
        f"https://user:pw@prod-12.westeurope.logic.azure.com/workflows/x?sig={SIGNATURE}",
        f"https://prod-12..logic.azure.com/x?sig={SIGNATURE}",
        f"gopher://prod-12.westeurope.logic.azure.com/x?sig={SIGNATURE}",
    ],
)
def test_unusable_url_is_described_without_any_part_of_it(url: str) -> None:
    problems = check({}, {"url": url})
    assert set(problems) == {"secret_settings.url"}
    for part in (SIGNATURE, "prod-12", "westeurope", "workflows"):
        assert part not in problems["secret_settings.url"]


def test_every_problem_is_listed_at_once() -> None:
    settings = {
        "title": "",
        "include_personal_data": "yes",
        "ca_certificate": "not a certificate",
        "connect_timeout_seconds": 0,
        "timeout_seconds": 301,
        "max_requests_per_second": 5,
        "colour": "purple",
    }
    assert set(check(settings, {"url": WORKFLOWS_URL, "title": "x"})) == {
        "transport_settings.title",
        "transport_settings.include_personal_data",
        "transport_settings.ca_certificate",
        "transport_settings.connect_timeout_seconds",
        "transport_settings.timeout_seconds",
        "transport_settings.max_requests_per_second",
        "transport_settings.colour",
        "secret_settings.title",
    }


@pytest.mark.parametrize("rate", [0, -1, 4.01, True, "4"])
def test_rate_above_four_a_second_or_not_a_number_is_a_problem(rate: Any) -> None:
    problems = check({"max_requests_per_second": rate}, {"url": WORKFLOWS_URL})
    assert set(problems) == {"transport_settings.max_requests_per_second"}


def test_unreadable_pem_is_a_problem() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    assert "transport_settings.ca_certificate" in check(
        {"ca_certificate": pem}, {"url": WORKFLOWS_URL}
    )


async def test_send_with_invalid_settings_fails_without_retrying(
    transport: Transport[Any], certificate: Certificate
) -> None:
    bad = message(WORKFLOWS_URL, certificate, max_requests_per_second=10)
    result = await send(transport, bad)
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt.startswith(
        "invalid settings: transport_settings.max_requests_per_second"
    )


# --- probe ---------------------------------------------------------------------------------


async def test_probe_posts_a_test_card_and_reports_each_step(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    steps = await probe(transport, {"ca_certificate": certificate.pem}, {"url": receiver.url()})
    assert [(step.name, step.passed) for step in steps] == [
        ("settings", True),
        ("connect", True),
        ("test card", True),
    ]
    assert "202" in steps[-1].detail
    [arrival] = receiver.arrivals
    assert arrival.status == 202
    assert "Backchannel test card" in json.dumps(posted_card(receiver))


async def test_probe_says_which_step_failed(
    receiver: WorkflowsReceiver, transport: Transport[Any], certificate: Certificate
) -> None:
    settings = {"ca_certificate": certificate.pem}
    receiver.status = 404
    steps = await probe(transport, settings, {"url": receiver.url()})
    assert [(step.name, step.passed) for step in steps] == [
        ("settings", True),
        ("connect", True),
        ("test card", False),
    ]
    assert "HTTP 404" in steps[-1].detail
    closed = f"https://127.0.0.1:{closed_port()}/workflows/x?sig={SIGNATURE}"
    steps = await probe(transport, settings, {"url": closed})
    assert [(step.name, step.passed) for step in steps] == [("settings", True), ("connect", False)]
    [settings_step] = await probe(transport, {"url": WORKFLOWS_URL}, {})
    assert (settings_step.name, settings_step.passed) == ("settings", False)
    for step in steps:
        assert SIGNATURE not in step.detail
