"""``backchannel serve`` with TLS as a real process: SIGHUP reloads the certificate files
for new connections, and TLS settings or files that cannot work stop start-up with every
problem named (exit 3) before anything else starts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.certificates import CertificateAuthority, TlsFiles, write_file, write_tls_files
from support.polling import eventually
from support.server_process import ServerLauncher
from support.tls_connections import presented_certificate, tls_server_settings

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))


async def test_sighup_reloads_the_certificate_for_new_connections(
    database_url: str, tmp_path: Path
) -> None:
    files = write_tls_files(tmp_path)
    # Watching the files is off: only the signal can bring the new certificate in.
    settings = tls_server_settings(files, tls_reload_check_seconds=0)
    async with ServerLauncher(database_url) as launcher:
        server = await launcher.start(**settings)
        rotated = CertificateAuthority("Backchannel rotated CA").server_certificate()
        write_file(files.server_key, rotated.key)
        write_file(files.server_certificate, rotated.certificate)
        shown_before_signal = await presented_certificate(server.port, files)

        os.kill(server.pid, signal.SIGHUP)

        async def rotated_shown() -> bool:
            shown = await presented_certificate(server.port, files)
            return shown.serial_number == rotated.serial_number

        await eventually(rotated_shown, timeout=20)
        running = server.running

    assert shown_before_signal.serial_number != rotated.serial_number
    assert running
    assert "TLS reloaded (SIGHUP)" in server.log()
    assert "(TLS, client certificates required)" in server.log()


def broken_files(files: TlsFiles) -> dict[str, str]:
    files.server_certificate.write_text("not a certificate\n")
    return {
        "BACKCHANNEL_TLS_CERT_FILE": str(files.server_certificate),
        "BACKCHANNEL_TLS_KEY_FILE": str(files.server_key.with_name("missing.key")),
        "BACKCHANNEL_TLS_CLIENT_CA_FILE": str(files.ca),
    }


def mismatched_key(files: TlsFiles) -> dict[str, str]:
    return {
        "BACKCHANNEL_TLS_CERT_FILE": str(files.server_certificate),
        "BACKCHANNEL_TLS_KEY_FILE": str(files.client_key),
    }


def expired_certificate(files: TlsFiles) -> dict[str, str]:
    old = CertificateAuthority().issue(
        common_name="localhost",
        dns_names=["localhost"],
        server=True,
        valid_from=datetime.now(UTC) - timedelta(days=3),
        valid_for=timedelta(days=1),
    )
    certificate, key = old.write(files.ca.parent, "expired")
    return {"BACKCHANNEL_TLS_CERT_FILE": str(certificate), "BACKCHANNEL_TLS_KEY_FILE": str(key)}


def certificate_without_key(files: TlsFiles) -> dict[str, str]:
    return {"BACKCHANNEL_TLS_CERT_FILE": str(files.server_certificate)}


def optional_client_certificates(files: TlsFiles) -> dict[str, str]:
    return {
        "BACKCHANNEL_TLS_CERT_FILE": str(files.server_certificate),
        "BACKCHANNEL_TLS_KEY_FILE": str(files.server_key),
        "BACKCHANNEL_TLS_CLIENT_CA_FILE": str(files.ca),
        "BACKCHANNEL_TLS_CLIENT_AUTH": "optional",
    }


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            broken_files,
            [
                "BACKCHANNEL_TLS_KEY_FILE",
                "missing.key: cannot be read: No such file or directory",
                "server.pem: holds no PEM certificate",
            ],
        ),
        (mismatched_key, ["client.key: the key does not belong to the first certificate"]),
        (expired_certificate, ["expired.pem: the certificate expired on"]),
        (
            certificate_without_key,
            ["BACKCHANNEL_TLS_CERT_FILE is set without BACKCHANNEL_TLS_KEY_FILE"],
        ),
        (
            optional_client_certificates,
            ["BACKCHANNEL_TLS_CLIENT_AUTH='optional': optional is not available"],
        ),
    ],
    ids=["unreadable", "mismatched-key", "expired", "no-key", "optional"],
)
async def test_tls_that_cannot_work_stops_start_up_naming_every_problem(
    database_url: str,
    tmp_path: Path,
    settings: Callable[[TlsFiles], dict[str, str]],
    expected: list[str],
) -> None:
    files = write_tls_files(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["BACKCHANNEL_DATABASE_URL"] = database_url
    env["BACKCHANNEL_LISTEN"] = "127.0.0.1:0"
    env.update(settings(files))
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "serve", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    said = stderr.decode()

    assert process.returncode == 3, said
    assert "Backchannel listening" not in stdout.decode()
    for part in expected:
        assert part in said
    assert "Traceback" not in said
