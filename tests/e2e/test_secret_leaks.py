"""No secret, in any spelling, leaves the server: a whole scenario (recipients with every
kind of secret on all four transports; feedback sent to endpoints that echo the request's
headers, URL and a refused password; failed attempts and retries; TestRecipient; list, get
and stream; updates, one refused; key rotation) leaves none in any log line, event, span
attribute or RPC answer, nor in a dump of the database. Played once in this process (its
log records and spans) and once against `backchannel serve` processes (their whole
output at DEBUG, spans printed by the console exporter)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from support.database_dump import dump_database
from support.echoing_receiver import EchoingReceiver
from support.in_process_server import RunningServer, settings_for_test, start_server
from support.leak_scenario import Seen, Stubs, leaked, play
from support.postgres_cluster import PostgresCluster
from support.recorded_spans import recorded_spans
from support.secret_keys import key_ring
from support.secret_recipients import SecretKinds, every_kind_of_secret
from support.server_process import ServerLauncher, ServerProcess
from support.sftp_server import SshServer
from support.smtp_server import Certificates, SmtpServer, running_smtp_server
from support.teams_receiver import WorkflowsReceiver, self_signed_certificate

from backchannel.sealing.key_ring import new_key_entry
from backchannel.sealing.rotation import rotate_secrets
from backchannel.store.database import create_pool

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))
OLD_KEY = new_key_entry("leak-1")
NEW_KEY = new_key_entry("leak-2")
BOTH_KEYS = f"{NEW_KEY},{OLD_KEY}"


@dataclass
class Endpoints:
    echoing: EchoingReceiver
    smtp: SmtpServer
    smtp_ca: str
    workflows: WorkflowsReceiver
    workflows_ca: str


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[SmtpServer, str]]:
    certificates = Certificates.create(tmp_path)
    with running_smtp_server(certificates, tls="starttls") as server:
        server.authenticator.echo_wrong_password = True
        yield server, certificates.ca_pem


@pytest.fixture
async def endpoints(tmp_path: Path, smtp: tuple[SmtpServer, str]) -> AsyncIterator[Endpoints]:
    echoing = EchoingReceiver()
    certificate = self_signed_certificate(tmp_path)
    workflows = WorkflowsReceiver(certificate, echo_url=True)
    await echoing.start()
    await workflows.start()
    try:
        yield Endpoints(echoing, smtp[0], smtp[1], workflows, certificate.pem)
    finally:
        await workflows.stop()
        await echoing.stop()


def kinds_of_secret(endpoints: Endpoints, sshd: SshServer, remote_dir: Path) -> SecretKinds:
    key = sshd.encrypted_client_key
    assert key is not None and key.passphrase is not None
    return every_kind_of_secret(
        endpoints.echoing.base_url,
        (sshd.host, sshd.port, sshd.known_hosts_line()),
        (endpoints.smtp.host, endpoints.smtp.port, endpoints.smtp_ca),
        (endpoints.workflows.url(signature=""), endpoints.workflows_ca),
        sftp_key=(key.text, key.passphrase),
        sftp_directory=str(remote_dir),
    )


#: Loggers of the stand-in remotes running in this process (aiosmtpd is the SMTP server the
#: scenario's password is refused and echoed by): what they log is the remote's, not ours.
REMOTE_LOGGERS = ("mail.log",)


def log_texts(records: list[logging.LogRecord]) -> list[str]:
    """Each record of this process's loggers but the stand-in remotes', formatted with its
    traceback, if any."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    kept = [r for r in records if not r.name.startswith(REMOTE_LOGGERS)]
    assert any(r.name.startswith("backchannel") for r in kept)
    assert any(r.name.startswith("asyncssh") for r in kept), "the SFTP client logged nothing"
    return [formatter.format(record) for record in kept]


def span_texts(spans: tuple[ReadableSpan, ...]) -> list[str]:
    texts: list[str] = []
    for span in spans:
        texts += [span.name, span.status.description or ""]
        texts += [str(value) for value in (span.attributes or {}).values()]
        for event in span.events:
            texts += [event.name, *(str(v) for v in (event.attributes or {}).values())]
        for link in span.links:
            texts += [str(v) for v in (link.attributes or {}).values()]
    return texts


def check_the_scenario_ran(
    seen: Seen, endpoints: Endpoints, kinds: SecretKinds, attempts: int
) -> None:
    # The endpoints did echo secrets: otherwise finding none would prove nothing.
    assert leaked(endpoints.echoing.answers, kinds.spellings()), "no echo held a secret"
    assert attempts > 2 * len(kinds.recipients), "no retries were made"
    assert seen.errors >= 2 and seen.answers > 50


@pytest.mark.timeout(300)
async def test_no_secret_reaches_a_log_record_an_event_a_span_or_an_answer(
    database_url: str,
    postgres: PostgresCluster,
    endpoints: Endpoints,
    sshd: SshServer,
    remote_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    kinds = kinds_of_secret(endpoints, sshd, remote_dir)
    seen = Seen()
    servers: list[RunningServer] = []

    async def rotate() -> Stubs:
        await servers[-1].close()
        servers.append(
            await start_server(settings_for_test(database_url, secret_keys=key_ring(BOTH_KEYS)))
        )
        pool = await create_pool(database_url, 2)
        try:
            report = await rotate_secrets(pool, key_ring(BOTH_KEYS))
        finally:
            await pool.close()
        assert report.sealed == len(kinds.recipients) and not report.failures
        return servers[-1]

    with recorded_spans() as spans:
        servers.append(
            await start_server(settings_for_test(database_url, secret_keys=key_ring(OLD_KEY)))
        )
        try:
            attempts = await play(servers[0], kinds, seen, rotate)
        finally:
            await servers[-1].close()
        finished = spans.get_finished_spans()
    dump = await dump_database(postgres, database_url)

    check_the_scenario_ran(seen, endpoints, kinds, attempts)
    spellings = kinds.spellings()
    assert leaked(seen.texts, spellings) == []
    assert leaked(log_texts(caplog.records), spellings) == []
    assert leaked(span_texts(finished), spellings) == []
    assert leaked([dump], spellings) == []


async def run_rotate(database_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update(
        BACKCHANNEL_DATABASE_URL=database_url,
        BACKCHANNEL_SECRET_KEYS=BOTH_KEYS,
        BACKCHANNEL_LOG_LEVEL="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "secrets", "rotate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


@pytest.mark.timeout(300)
async def test_no_secret_reaches_the_output_of_server_processes(
    database_url: str, endpoints: Endpoints, sshd: SshServer, remote_dir: Path
) -> None:
    kinds = kinds_of_secret(endpoints, sshd, remote_dir)
    seen = Seen()
    outputs: list[str] = []
    settings = {
        "log_level": "DEBUG",
        "otel_exporter": "console",
        "delivery_processes": 1,
        "retry_schedule": "0,0.2,0.2",
    }
    async with ServerLauncher(database_url, keep_all_output=True, **settings) as launcher:
        processes: list[ServerProcess] = [await launcher.start(secret_keys=OLD_KEY)]

        async def rotate() -> Stubs:
            await processes[-1].terminate(30)
            processes.append(await launcher.start(secret_keys=BOTH_KEYS))
            outputs.append(await run_rotate(database_url))
            return processes[-1]

        attempts = await play(processes[0], kinds, seen, rotate)
        assert await processes[-1].terminate(30) == 0

    check_the_scenario_ran(seen, endpoints, kinds, attempts)
    logs = [process.log() for process in processes]
    assert "backchannel.deliver" in logs[0], "the console exporter printed no delivery span"
    assert "DEBUG" in logs[0]
    spellings = kinds.spellings()
    assert leaked(seen.texts, spellings) == []
    assert leaked([*logs, *outputs], spellings) == []
