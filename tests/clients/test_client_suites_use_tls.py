"""Every shipped client's suite runs against a server that requires TLS and client
certificates, with a client that sets only its TLS options (everything else default), and
checks that a client without a certificate and one with a certificate from another CA are
refused. The suites themselves run in `.ci/test` (Node, Go, Java) and in pytest (Python,
CLI); this test reads them, so a client whose TLS tests are dropped or weakened to
non-default options fails here, and it runs the shared test server the Node, Go and Java
suites start (clients/testserver/start.py --tls mtls) to show it really refuses them."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPOSITORY = Path(__file__).resolve().parents[2]
START = REPOSITORY / "clients" / "testserver" / "start.py"


@dataclass(frozen=True)
class Suite:
    """Where a client's TLS tests are, and what each of them must contain."""

    files: str
    #: Starts the server that requires client certificates.
    mtls_server: str
    #: A client built with its TLS options only, whose calls are served.
    default_client: str
    #: Refusals: no client certificate, and the forged one.
    without_certificate: str
    forged_certificate: str


SUITES = {
    "node": Suite(
        files="clients/node/test/*.test.ts",
        mtls_server=r'TestServer\.start\("mtls"\)',
        default_client=r"const client = mtlsClient\(server\.values\.BACKCHANNEL_CERT_FILE, "
        r"server\.values\.BACKCHANNEL_KEY_FILE\);\n",
        without_certificate=r"mtlsClient\(undefined, undefined, \{ once: true \}\)",
        forged_certificate=r"BACKCHANNEL_FORGED_CERT_FILE",
    ),
    "go": Suite(
        files="clients/go/*_test.go",
        mtls_server=r'startTestServerWithTLS\(0, "mtls"\)',
        default_client=(
            r"backchannel\.New\(s\.Address, backchannel\.WithTLSFiles\(clientFiles\(s\)\)\)"
        ),
        without_certificate=r'TLSFiles\{CAFile: s\.Values\["BACKCHANNEL_CA_FILE"\]\}',
        forged_certificate=r"BACKCHANNEL_FORGED_CERT_FILE",
    ),
    "java": Suite(
        files="clients/java/src/test/java/dev/backchannel/client/*.java",
        mtls_server=r'TestServer\.start\(0, "mtls"\)',
        default_client=r"BackchannelClient\.connect\(server\.address, clientFiles\(\)\)",
        without_certificate=r"refusal\(withoutCertificate\)",
        forged_certificate=r"BACKCHANNEL_FORGED_CERT_FILE",
    ),
    "python": Suite(
        files="tests/clients/python/test_*.py",
        mtls_server=r"serving\(database_url, \*\*tls_server_settings\(tls_files\)\)",
        default_client=r"Client\(mtls_backchannel\.address, \*\*mtls_options\(tls_files\)\)",
        without_certificate=r'\["none", "forged"\]',
        forged_certificate=r"tls_files\.forged_certificate",
    ),
    "cli": Suite(
        files="tests/e2e/test_cli*.py",
        mtls_server=r"\*\*tls_server_settings\(tls_files\)",
        default_client=r'cli\("recipients", "list", \*mine, running=mtls_backchannel\)',
        without_certificate=r'\["--ca-file", str\(tls_files\.ca\)\]',
        forged_certificate=r"tls_files\.forged_certificate",
    ),
}


@pytest.mark.parametrize("client", sorted(SUITES))
def test_the_client_suite_runs_against_a_server_requiring_client_certificates(
    client: str,
) -> None:
    suite = SUITES[client]
    text = "\n".join(path.read_text() for path in sorted(REPOSITORY.glob(suite.files)))
    missing = [
        what
        for what in ("mtls_server", "default_client", "without_certificate", "forged_certificate")
        if not re.search(getattr(suite, what), text)
    ]

    assert missing == [], f"{client}'s suite ({suite.files}) lacks {missing}"


@contextlib.asynccontextmanager
async def shared_test_server(mode: str) -> AsyncIterator[dict[str, str]]:
    """start.py --tls MODE, as the Node, Go and Java suites start it: the NAME=VALUE lines
    it printed, until the block ends (then its stdin closes and it removes everything)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(START), "--tls", mode,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    values: dict[str, str] = {}
    try:
        while "BACKCHANNEL_ADDRESS" not in values:
            line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
            assert line, "start.py ended without an address"
            name, _, value = line.strip().partition("=")
            values[name] = value
        yield values
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def health(address: str, credentials: grpc.ChannelCredentials) -> grpc.StatusCode:
    async with grpc.aio.secure_channel(address, credentials) as channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def credentials(values: dict[str, str], client: str | None) -> grpc.ChannelCredentials:
    """Trusting the printed CA, presenting ``client`` ("" or "FORGED_"; None: nothing)."""
    ca = Path(values["BACKCHANNEL_CA_FILE"]).read_bytes()
    if client is None:
        return grpc.ssl_channel_credentials(ca)
    key = Path(values[f"BACKCHANNEL_{client}KEY_FILE"]).read_bytes()
    certificate = Path(values[f"BACKCHANNEL_{client}CERT_FILE"]).read_bytes()
    return grpc.ssl_channel_credentials(ca, key, certificate)


async def test_the_shared_test_server_in_mtls_mode_requires_a_certificate_of_its_ca() -> None:
    async with shared_test_server("mtls") as values:
        address = values["BACKCHANNEL_ADDRESS"]
        served = await health(address, credentials(values, ""))
        without = await health(address, credentials(values, None))
        forged = await health(address, credentials(values, "FORGED_"))

    assert (served, without, forged) == (
        grpc.StatusCode.OK,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNAVAILABLE,
    )
    assert values["BACKCHANNEL_CLIENT_IDENTITY"].startswith("spiffe://")
    assert not await asyncio.to_thread(Path(values["BACKCHANNEL_CA_FILE"]).parent.exists), (
        "start.py left its certificates behind"
    )
