"""The operator commands against a real Backchannel that requires TLS and a client
certificate signed by its CA: served with --ca-file, --cert and --key (or their
BACKCHANNEL_* variables); refused, in words that point at TLS, without a certificate, with
a forged one, or in plaintext."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backchannel_client.v1 import feedback_service_pb2
from support.certificates import TlsFiles, write_tls_files
from support.cli_runs import cli
from support.in_process_server import RunningServer, serving
from support.tls_connections import channel_credentials, tls_server_settings

TLS_HINT = "does --ca-file trust its certificate, and does it accept this client's"


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path)


@pytest.fixture
async def mtls_backchannel(database_url: str, tls_files: TlsFiles) -> AsyncIterator[RunningServer]:
    async with serving(
        database_url,
        credentials=channel_credentials(tls_files),
        **tls_server_settings(tls_files),
    ) as running:
        yield running


def flags(files: TlsFiles, certificate: Path, key: Path) -> list[str]:
    return ["--ca-file", str(files.ca), "--cert", str(certificate), "--key", str(key)]


async def test_with_ca_file_cert_and_key_the_commands_are_served(
    mtls_backchannel: RunningServer, tls_files: TlsFiles
) -> None:
    mine = flags(tls_files, tls_files.client_certificate, tls_files.client_key)

    listed = await cli("recipients", "list", *mine, running=mtls_backchannel)
    sent = await cli(
        "send", "--kind", "quality", "--lead-id", "LC1", "--score", "85",
        "--request-id", "cli-mtls", "--json",
        *mine, running=mtls_backchannel,
    )  # fmt: skip

    assert listed.code == 0, listed.stderr
    assert sent.code == 0, sent.stderr
    answer = sent.json()
    assert isinstance(answer, dict)
    stored = await mtls_backchannel.feedback.GetFeedback(
        feedback_service_pb2.GetFeedbackRequest(feedback_id=answer["feedback"]["id"])
    )
    assert stored.feedback.request_id == "cli-mtls"


async def test_the_environment_gives_the_same_as_the_flags(
    mtls_backchannel: RunningServer, tls_files: TlsFiles
) -> None:
    run = await cli(
        "recipients",
        "list",
        running=mtls_backchannel,
        env={
            "BACKCHANNEL_CA_FILE": str(tls_files.ca),
            "BACKCHANNEL_CERT_FILE": str(tls_files.client_certificate),
            "BACKCHANNEL_KEY_FILE": str(tls_files.client_key),
        },
    )

    assert run.code == 0, run.stderr


@pytest.mark.parametrize("certificate", ["none", "forged"])
async def test_without_a_certificate_of_the_ca_the_command_exits_6_pointing_at_tls(
    mtls_backchannel: RunningServer, tls_files: TlsFiles, certificate: str
) -> None:
    given = (
        ["--ca-file", str(tls_files.ca)]
        if certificate == "none"
        else flags(tls_files, tls_files.forged_certificate, tls_files.forged_key)
    )

    run = await cli("recipients", "list", "--timeout", "3", *given, running=mtls_backchannel)

    assert run.code == 6
    assert TLS_HINT in run.stderr


async def test_plaintext_to_a_tls_server_exits_6_suggesting_tls(
    mtls_backchannel: RunningServer,
) -> None:
    run = await cli("recipients", "list", "--timeout", "3", running=mtls_backchannel)

    assert run.code == 6
    assert "If it serves TLS, add --tls or --ca-file." in run.stderr


async def test_half_a_client_certificate_or_an_unreadable_file_exits_3(
    tls_files: TlsFiles,
) -> None:
    half = await cli(
        "recipients", "list", "--cert", str(tls_files.client_certificate), running=None
    )
    missing = await cli(
        "recipients", "list", *flags(tls_files, tls_files.ca.with_name("nope.pem"),
        tls_files.client_key), running=None,
    )  # fmt: skip

    assert half.code == 3
    assert "--cert needs --key" in half.stderr
    assert missing.code == 3
    assert "cannot read the client certificate" in missing.stderr
    assert "nope.pem" in missing.stderr
