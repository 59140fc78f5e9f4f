"""The sftp transport against a real OpenSSH sshd on loopback (see support/sftp_server.py)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pluggy
import pytest
from support.sftp_server import SshServer

import backchannel_sftp
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
    connect_timeout=10.0,
    total_timeout=60.0,
)
BODY = b'{"feedback_id":"fb_1","kind":"conversion"}'
DOCUMENT: dict[str, Any] = {
    "feedback_id": "fb_1",
    "kind": "conversion",
    "lead_id": "lead_9",
    "source_id": "src_7",
    "accepted_at": "2024-05-01T12:34:56.123456789Z",
}
#: Big enough that an upload is still running when the test intervenes.
LARGE_BODY_BYTES = 32 * 1024 * 1024
WAIT_SECONDS = 10.0
#: Seconds a send or probe may take, through the host's wrapper.
DEADLINE = 120.0


# --- fixtures and helpers ----------------------------------------------------------------


def registered_transports() -> list[Transport[Any]]:
    """The transports the plugin registers through the host's hook."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(HookSpecs)
    manager.register(backchannel_sftp)
    transports: list[Transport[Any]] = []
    manager.hook.register_transports(register=transports.append)
    return transports


@pytest.fixture
async def transport() -> AsyncIterator[Transport[Any]]:
    [transport] = registered_transports()
    await transport.start(LOOPBACK)
    yield transport
    await transport.aclose()


@pytest.fixture
def settings(sshd: SshServer, remote_dir: Path) -> dict[str, Any]:
    return {
        "host": sshd.host,
        "port": sshd.port,
        "username": sshd.account.username,
        "directory": str(remote_dir),
        "known_hosts": sshd.known_hosts_line(),
    }


@pytest.fixture
def password(sshd: SshServer) -> dict[str, str]:
    return {"password": sshd.account.password}


@dataclass(frozen=True)
class Post:
    """One delivery to an SFTP recipient: its settings and the message."""

    settings: Mapping[str, Any]
    secrets: Mapping[str, Any]
    message: OutboundMessage


def message(
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    *,
    body: bytes = BODY,
    document: Mapping[str, Any] = DOCUMENT,
    feedback_id: str = "fb_1",
    delivery_id: str = "dlv_1",
    attempt: int = 1,
) -> Post:
    outbound = OutboundMessage(
        delivery_id=delivery_id,
        feedback_id=feedback_id,
        recipient_id="rcp_1",
        attempt=attempt,
        event_type="feedback.conversion",
        content=RenderedContent(body=body, content_type="application/json", file_extension="json"),
        document=dict(document),
    )
    return Post(dict(settings), dict(secrets), outbound)


async def send(transport: Transport[Any], post: Post) -> DeliveryResult:
    """One upload as the host makes it: settings read first, the result redacted."""
    prepared = prepare_recipient(transport, post.settings, post.secrets)
    return await prepared.send(post.message, DEADLINE)


async def probe(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[ProbeStep]:
    """A probe of a recipient with these settings, as TestRecipient makes it."""
    return await prepare_recipient(transport, settings, secrets).probe(DEADLINE)


def move_to_port(settings: dict[str, Any], port: int) -> None:
    """Points ``settings`` at another port on the same host, host key and all."""
    settings["port"] = port
    settings["known_hosts"] = re.sub(r"\]:\d+ ", f"]:{port} ", settings["known_hosts"])


def files_under(directory: Path) -> list[str]:
    """Every file below ``directory``, as sorted relative paths."""
    return sorted(
        str(Path(root, name).relative_to(directory))
        for root, _, names in os.walk(directory)
        for name in names
    )


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


def outcome(result: DeliveryResult) -> tuple[bool, bool]:
    return result.succeeded, result.retryable


def steps_of(steps: Sequence[ProbeStep]) -> list[tuple[str, bool]]:
    return [(step.name, step.passed) for step in steps]


async def client_disconnected(sshd: SshServer, offset: int, port: int) -> bool:
    """Whether sshd logs, since ``offset`` and within a bounded wait, that the client on
    ``port`` closed its connection."""
    closed = re.compile(rf"Received disconnect from 127\.0\.0\.1 port {port}:")
    deadline = time.monotonic() + WAIT_SECONDS
    while not closed.search(sshd.log_since(offset)):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def watch_temporary_files(
    directory: Path, until: threading.Event, then: Callable[[Path], None] | None = None
) -> list[tuple[str, int]]:
    """Polls ``directory`` (in a thread) until ``until`` is set, recording every (name, size)
    seen. ``then`` is called once, with the first temporary file that has bytes in it."""
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 60
    while not until.is_set() and time.monotonic() < deadline:
        for entry in os.scandir(directory):
            try:
                size = entry.stat().st_size
            except FileNotFoundError:
                continue
            seen.append((entry.name, size))
            if then is not None and entry.name.endswith(".part") and size > 0:
                then(Path(entry.path))
                then = None
    return seen


# --- the plugin --------------------------------------------------------------------------


def test_plugin_is_installed_under_the_backchannel_entry_point_group() -> None:
    [entry_point] = [ep for ep in entry_points(group="backchannel") if ep.name == "sftp"]
    assert entry_point.value == "backchannel_sftp"
    assert entry_point.load() is backchannel_sftp


def test_hook_registers_one_transport_named_sftp() -> None:
    [transport] = registered_transports()
    assert isinstance(transport, Transport)
    assert transport.name == "sftp"
    assert transport.settings_model.secret_names() == {
        "password",
        "private_key",
        "private_key_passphrase",
    }


def test_public_names_are_exactly_the_listed_ones() -> None:
    assert backchannel_sftp.__all__ == ["SftpSettings", "SftpTransport", "register_transports"]


# --- where files land --------------------------------------------------------------------


async def test_upload_lands_under_the_templated_name_in_new_nested_directories(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    result = await send(transport, message(settings, password))
    final = remote_dir / "src_7" / "2024-05-01" / "fb_1.json"
    assert result.succeeded
    assert result.remote_id == str(final)
    assert result.bytes_sent == len(BODY)
    assert final.read_bytes() == BODY
    assert files_under(remote_dir) == ["src_7/2024-05-01/fb_1.json"]


async def test_every_placeholder_is_filled_in(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    settings["filename_template"] = (
        "{kind}/{lead_id}_{source_id}_{feedback_id}_{delivery_id}_{attempt}_{date}_{time}.{extension}"
    )
    result = await send(transport, message(settings, password, attempt=3))
    assert result.succeeded
    assert files_under(remote_dir) == [
        "conversion/lead_9_src_7_fb_1_dlv_1_3_2024-05-01_123456.json"
    ]


async def test_document_values_cannot_climb_out_of_the_directory(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    settings["filename_template"] = "{source_id}/{lead_id}/{feedback_id}.{extension}"
    hostile = {**DOCUMENT, "source_id": "../../etc", "lead_id": ".."}
    result = await send(transport, message(settings, password, document=hostile, feedback_id="a/b"))
    assert result.succeeded
    assert files_under(remote_dir) == ["_._.._etc/_./a_b.json"]


async def test_missing_document_values_become_unknown(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    document = {key: value for key, value in DOCUMENT.items() if key != "source_id"}
    result = await send(transport, message(settings, password, document=document))
    assert result.succeeded
    assert files_under(remote_dir) == ["unknown/2024-05-01/fb_1.json"]


async def test_gzip_uploads_the_compressed_body_under_a_gz_name(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    settings["gzip"] = True
    result = await send(transport, message(settings, password))
    final = remote_dir / "src_7" / "2024-05-01" / "fb_1.json.gz"
    assert result.succeeded
    assert result.remote_id == str(final)
    assert gzip.decompress(final.read_bytes()) == BODY
    assert result.bytes_sent == final.stat().st_size


async def test_openssh_sftp_client_reads_back_the_same_bytes(
    transport: Transport[Any],
    settings: dict[str, Any],
    password: dict[str, str],
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    body = os.urandom(1024 * 1024 + 17)
    result = await send(transport, message(settings, password, body=body))
    assert result.succeeded and result.remote_id
    assert sshd.client_key is not None
    local = tmp_path / "read-back"
    sftp = await asyncio.create_subprocess_exec(
        "sftp",
        "-F",
        "/dev/null",
        "-b",
        "-",
        "-P",
        str(sshd.port),
        "-o",
        f"UserKnownHostsFile={sshd.known_hosts_file()}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-i",
        str(sshd.client_key.path),
        f"{sshd.account.username}@{sshd.host}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    batch = f'get "{result.remote_id}" "{local}"\n'.encode()
    out, err = await asyncio.wait_for(sftp.communicate(batch), WAIT_SECONDS)
    assert sftp.returncode == 0, (out + err).decode(errors="replace")
    assert local.read_bytes() == body


async def test_private_key_logs_in_without_a_password(
    transport: Transport[Any], settings: dict[str, Any], sshd: SshServer
) -> None:
    assert sshd.client_key is not None
    offset = sshd.log_size()
    result = await send(transport, message(settings, {"private_key": sshd.client_key.text}))
    assert result.succeeded
    assert "Accepted publickey for" in sshd.log_since(offset)


async def test_passphrase_protected_private_key_logs_in(
    transport: Transport[Any], settings: dict[str, Any], sshd: SshServer
) -> None:
    key = sshd.encrypted_client_key
    assert key is not None and key.passphrase is not None
    secrets = {"private_key": key.text, "private_key_passphrase": key.passphrase}
    result = await send(transport, message(settings, secrets))
    assert result.succeeded


# --- what cannot succeed by trying again -------------------------------------------------


async def test_wrong_host_key_is_not_retryable_and_writes_nothing(
    transport: Transport[Any],
    settings: dict[str, Any],
    password: dict[str, str],
    sshd: SshServer,
    remote_dir: Path,
) -> None:
    settings["known_hosts"] = sshd.impostor_known_hosts_line()
    offset = sshd.log_size()
    result = await send(transport, message(settings, password))
    assert outcome(result) == (False, False)
    assert result.response_excerpt.startswith("host key mismatch")
    assert files_under(remote_dir) == []
    assert sshd.logins_since(offset) == []


async def test_wrong_password_is_not_retryable(
    transport: Transport[Any], settings: dict[str, Any], remote_dir: Path
) -> None:
    result = await send(transport, message(settings, {"password": "not-the-password"}))
    assert outcome(result) == (False, False)
    assert result.response_excerpt.startswith("login refused")
    assert files_under(remote_dir) == []


async def test_unwritable_directory_is_not_retryable(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    locked = remote_dir / "locked"
    locked.mkdir()  # owned by root
    locked.chmod(0o555)
    settings["directory"] = str(locked)
    result = await send(transport, message(settings, password))
    assert outcome(result) == (False, False)
    assert "permission denied" in result.response_excerpt.lower()
    assert files_under(locked) == []


async def test_directory_that_cannot_be_created_is_not_retryable(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    (remote_dir / "a-file").write_bytes(b"")
    settings["directory"] = str(remote_dir / "a-file" / "below")
    result = await send(transport, message(settings, password))
    assert outcome(result) == (False, False)
    assert result.remote_id is None


async def test_send_with_invalid_settings_fails_without_retrying(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str]
) -> None:
    del settings["known_hosts"]
    result = await send(transport, message(settings, password))
    assert outcome(result) == (False, False)
    assert result.response_excerpt.startswith("invalid settings: transport_settings.known_hosts")


# --- what may succeed later --------------------------------------------------------------


async def test_connection_refused_is_retryable(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port: int = probe.getsockname()[1]
    move_to_port(settings, closed_port)
    result = await send(transport, message(settings, password))
    assert outcome(result) == (False, True)
    assert (
        result.response_excerpt == f"cannot connect to 127.0.0.1:{closed_port}: connection refused"
    )


async def test_server_that_never_speaks_ssh_times_out_and_is_retryable(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str]
) -> None:
    async def stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(stay_silent, "127.0.0.1", 0)
    move_to_port(settings, server.sockets[0].getsockname()[1])
    settings["connect_timeout_seconds"] = 0.5
    try:
        started = time.monotonic()
        result = await send(transport, message(settings, password))
    finally:
        server.close()
    assert time.monotonic() - started < 5
    assert outcome(result) == (False, True)
    assert result.response_excerpt.startswith("timed out connecting to")


async def test_server_vanishing_mid_upload_is_retryable_and_leaves_no_file_at_the_final_name(
    transport: Transport[Any],
    settings: dict[str, Any],
    password: dict[str, str],
    sshd: SshServer,
    remote_dir: Path,
) -> None:
    settings["filename_template"] = "{feedback_id}.{extension}"
    body = os.urandom(LARGE_BODY_BYTES)
    paused: list[Path] = []
    stop_watching = threading.Event()

    def freeze_server(temporary: Path) -> None:
        sshd.pause_sessions()
        paused.append(temporary)
        stop_watching.set()

    sending = asyncio.ensure_future(send(transport, message(settings, password, body=body)))
    sending.add_done_callback(lambda _: stop_watching.set())
    try:
        await asyncio.wait_for(
            asyncio.to_thread(watch_temporary_files, remote_dir, stop_watching, freeze_server),
            WAIT_SECONDS,
        )
    finally:
        stop_watching.set()
    assert paused, "the upload ended before the server could be stopped in the middle of it"
    assert 0 < paused[0].stat().st_size < len(body)
    sshd.drop_sessions()
    result = await asyncio.wait_for(sending, WAIT_SECONDS)
    assert outcome(result) == (False, True)
    assert not (remote_dir / "fb_1.json").exists()


# --- readers see whole files only --------------------------------------------------------


async def test_reader_never_sees_a_partial_file(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    settings["filename_template"] = "{feedback_id}.{extension}"
    old, new = os.urandom(1000), os.urandom(LARGE_BODY_BYTES)
    assert (await send(transport, message(settings, password, body=old))).succeeded
    done = threading.Event()
    watching = asyncio.ensure_future(asyncio.to_thread(watch_temporary_files, remote_dir, done))
    try:
        result = await send(transport, message(settings, password, body=new, attempt=2))
    finally:
        done.set()
    seen = await watching
    assert result.succeeded
    final_sizes = {size for name, size in seen if name == "fb_1.json"}
    temporary_names = {name for name, _ in seen if name != "fb_1.json"}
    assert final_sizes <= {len(old), len(new)}
    assert temporary_names, "the upload was never seen under a temporary name"
    assert all(re.fullmatch(r"\.fb_1\.json\.[0-9a-f]{12}\.part", n) for n in temporary_names)
    assert files_under(remote_dir) == ["fb_1.json"]
    assert (remote_dir / "fb_1.json").read_bytes() == new


@pytest.mark.parametrize("strategy", ["posix-rename", "rename"])
async def test_redelivery_replaces_the_same_file(
    transport: Transport[Any],
    settings: dict[str, Any],
    password: dict[str, str],
    remote_dir: Path,
    strategy: str,
) -> None:
    settings["rename_strategy"] = strategy
    first = await send(transport, message(settings, password, body=b"first"))
    second = await send(transport, message(settings, password, body=b"second", attempt=2))
    assert first.remote_id == second.remote_id
    assert second.details["rename"] == strategy
    assert files_under(remote_dir) == ["src_7/2024-05-01/fb_1.json"]
    assert (remote_dir / "src_7" / "2024-05-01" / "fb_1.json").read_bytes() == b"second"


# --- connections -------------------------------------------------------------------------


async def test_two_sends_share_one_ssh_connection(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], sshd: SshServer
) -> None:
    offset = sshd.log_size()
    for feedback_id in ("fb_1", "fb_2"):
        assert (
            await send(transport, message(settings, password, feedback_id=feedback_id))
        ).succeeded
    assert len(sshd.logins_since(offset)) == 1


async def test_concurrent_sends_open_one_ssh_connection(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], sshd: SshServer
) -> None:
    offset = sshd.log_size()
    results = await asyncio.gather(
        *(send(transport, message(settings, password, feedback_id=f"fb_{n}")) for n in range(8))
    )
    assert all(result.succeeded for result in results)
    assert len(sshd.logins_since(offset)) == 1


async def test_different_credentials_do_not_share_a_connection(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str]
) -> None:
    assert (await send(transport, message(settings, password))).succeeded
    result = await send(transport, message(settings, {"password": "not-the-password"}))
    assert outcome(result) == (False, False)


async def test_dead_cached_connection_is_replaced_within_the_same_send(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], sshd: SshServer
) -> None:
    offset = sshd.log_size()
    assert (await send(transport, message(settings, password))).succeeded
    sshd.drop_sessions()
    result = await send(transport, message(settings, password, feedback_id="fb_2"))
    assert result.succeeded
    assert len(sshd.logins_since(offset)) == 2


async def test_idle_connection_is_closed_after_the_idle_timeout(
    settings: dict[str, Any], password: dict[str, str], sshd: SshServer
) -> None:
    transport = backchannel_sftp.SftpTransport(idle_timeout=0.2)
    await transport.start(LOOPBACK)
    try:
        offset = sshd.log_size()
        assert (await send(transport, message(settings, password))).succeeded
        [port] = sshd.logins_since(offset)
        assert await client_disconnected(sshd, offset, port)
    finally:
        await transport.aclose()


async def test_aclose_closes_cached_connections(
    settings: dict[str, Any], password: dict[str, str], sshd: SshServer
) -> None:
    transport = backchannel_sftp.SftpTransport()
    await transport.start(LOOPBACK)
    offset = sshd.log_size()
    assert (await send(transport, message(settings, password))).succeeded
    [port] = sshd.logins_since(offset)
    await transport.aclose()
    assert await client_disconnected(sshd, offset, port)


# --- destination addresses ---------------------------------------------------------------


async def test_loopback_is_refused_unless_allowlisted(
    settings: dict[str, Any], password: dict[str, str], sshd: SshServer, remote_dir: Path
) -> None:
    [guarded] = registered_transports()
    await guarded.start(TransportContext())
    try:
        offset = sshd.log_size()
        result = await send(guarded, message(settings, password))
    finally:
        await guarded.aclose()
    assert outcome(result) == (False, False)
    assert result.response_excerpt == "refused: destination address is loopback (not allowlisted)"
    assert sshd.connections_since(offset) == 0
    assert files_under(remote_dir) == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("169.254.169.254", "cloud metadata"),
        ("fc00::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a01:203", "private"),  # NAT64 spelling of 10.1.2.3
        ("2002:7f00:1::1", "loopback"),  # 6to4 spelling of 127.0.0.1
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_addresses_that_are_not_global_are_refused(address: str, reason: str) -> None:
    # The guard the transport connects through: its context's.
    assert TransportContext().refusal_reason(address) == reason


def test_allowlisted_networks_and_global_addresses_are_admitted() -> None:
    context = TransportContext(allowed_networks=(ip_network("10.0.0.0/8"),))
    assert context.refusal_reason("10.1.2.3") is None
    assert TransportContext().refusal_reason("93.184.215.14") is None


# --- probe -------------------------------------------------------------------------------


async def test_probe_reports_every_step_and_leaves_nothing_behind(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    steps = await probe(transport, settings, password)
    assert steps_of(steps) == [
        ("settings", True),
        ("connect", True),
        ("login", True),
        ("write", True),
        ("remove", True),
    ]
    assert files_under(remote_dir) == []


async def test_probe_stops_at_connect_for_a_wrong_host_key(
    transport: Transport[Any],
    settings: dict[str, Any],
    password: dict[str, str],
    sshd: SshServer,
) -> None:
    settings["known_hosts"] = sshd.impostor_known_hosts_line()
    steps = await probe(transport, settings, password)
    assert steps_of(steps) == [("settings", True), ("connect", False)]
    assert steps[-1].detail.startswith("host key mismatch")


async def test_probe_stops_at_login_for_a_bad_password(
    transport: Transport[Any], settings: dict[str, Any]
) -> None:
    steps = await probe(transport, settings, {"password": "not-the-password"})
    assert steps_of(steps) == [("settings", True), ("connect", True), ("login", False)]
    assert steps[-1].detail.startswith("login refused")


async def test_probe_stops_at_write_for_an_unwritable_directory(
    transport: Transport[Any], settings: dict[str, Any], password: dict[str, str], remote_dir: Path
) -> None:
    locked = remote_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    settings["directory"] = str(locked)
    steps = await probe(transport, settings, password)
    assert steps_of(steps) == [
        ("settings", True),
        ("connect", True),
        ("login", True),
        ("write", False),
    ]
    assert "permission denied" in steps[-1].detail.lower()


async def test_probe_with_unusable_settings_stops_at_settings(transport: Transport[Any]) -> None:
    steps = await probe(transport, {}, {})
    assert steps_of(steps) == [("settings", False)]


# --- settings, as the host reads them ------------------------------------------------------

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def check(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, str]:
    [transport] = registered_transports()
    problems: dict[str, str] = {}
    for problem in settings_problems(transport, settings, secrets):
        problems[problem.field] = "; ".join(
            filter(None, [problems.get(problem.field), problem.description])
        )
    return problems


def plain(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "host": "sftp.partner.example",
        "username": "leads",
        "directory": "/incoming",
        "known_hosts": f"sftp.partner.example {HOST_KEY}",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def test_complete_settings_have_no_problems(sshd: SshServer) -> None:
    key = sshd.encrypted_client_key
    assert key is not None
    settings = plain(
        port=2222.0,  # numbers arrive as floats through protobuf Struct
        known_hosts=[f"[sftp.partner.example]:2222 {HOST_KEY}", "# a comment", ""],
        filename_template="{date}/{kind}-{feedback_id}.{extension}",
        gzip=True,
        connect_timeout_seconds=3,
        timeout_seconds=120.5,
        rename_strategy="rename",
    )
    secrets = {"password": "pw", "private_key": key.text, "private_key_passphrase": key.passphrase}
    assert check(settings, secrets) == {}


def test_every_problem_is_listed_at_once() -> None:
    settings = {
        "host": "sftp partner",
        "port": 70000,
        "username": "",
        "directory": "../up",
        "filename_template": "/abs/{nope}",
        "gzip": "yes",
        "timeout_seconds": 0,
        "connect_timeout_seconds": 999,
        "rename_strategy": "copy",
        "colour": "red",
        "password": "leaky-pw-9",
    }
    secrets = {"private_key": "not a key", "url": "https://x.example"}
    assert set(check(settings, secrets)) == {
        "transport_settings.host",
        "transport_settings.port",
        "transport_settings.username",
        "transport_settings.directory",
        "transport_settings.filename_template",
        "transport_settings.known_hosts",
        "transport_settings.gzip",
        "transport_settings.timeout_seconds",
        "transport_settings.connect_timeout_seconds",
        "transport_settings.rename_strategy",
        "transport_settings.colour",
        "transport_settings.password",
        "secret_settings.private_key",
        "secret_settings.url",
    }


def test_missing_known_hosts_is_refused() -> None:
    problems = check(plain(known_hosts=None), {"password": "pw"})
    assert set(problems) == {"transport_settings.known_hosts"}
    assert problems["transport_settings.known_hosts"].startswith("is required")


def test_bad_known_hosts_lines_are_refused_each_by_number() -> None:
    known_hosts = "\n".join(
        [
            f"sftp.partner.example {HOST_KEY}",
            "sftp.partner.example ssh-ed25519 AAAAnot-base64",
            "just-one-word",
            f"@trusted sftp.partner.example {HOST_KEY}",
        ]
    )
    problem = check(plain(known_hosts=known_hosts), {"password": "pw"})[
        "transport_settings.known_hosts"
    ]
    assert "line 2 does not carry a valid public key" in problem
    assert "line 3 is not" in problem
    assert "line 4 has an unknown marker" in problem
    assert "line 1" not in problem


def test_known_hosts_for_another_host_is_refused() -> None:
    problems = check(plain(known_hosts=f"other.example {HOST_KEY}"), {"password": "pw"})
    assert problems == {
        "transport_settings.known_hosts": "has no host key line for sftp.partner.example"
    }


def test_known_hosts_without_the_port_matches_a_non_default_port() -> None:
    assert check(plain(port=2222), {"password": "pw"}) == {}


def test_secret_given_in_plain_settings_is_refused_without_echoing_it() -> None:
    problems = check(plain(password="leaky-pw-9"), {})
    assert problems["transport_settings.password"] == "is secret: give it in secret_settings"
    assert all("leaky-pw-9" not in description for description in problems.values())


def test_password_or_private_key_is_required() -> None:
    problems = check(plain(), {})
    assert problems == {"secret_settings.password": "is required unless private_key is given"}


def test_encrypted_private_key_needs_its_passphrase(sshd: SshServer) -> None:
    key = sshd.encrypted_client_key
    assert key is not None
    assert check(plain(), {"private_key": key.text}) == {
        "secret_settings.private_key": "is encrypted: give private_key_passphrase"
    }
    assert check(plain(), {"private_key": key.text, "private_key_passphrase": "wrong-one"}) == {
        "secret_settings.private_key_passphrase": "does not decrypt private_key"
    }


@pytest.mark.parametrize(
    "template",
    [
        "../{feedback_id}",
        "/{feedback_id}",
        "{source_id}/../{feedback_id}",
        "./{feedback_id}",
        "a//{feedback_id}",
        "{feedback_id}/",
        "dir\\{feedback_id}",
        "{nope}/{feedback_id}",
        "{feedback_id.real}",
        "{feedback_id!r}",
        "{feedback_id:>40}",
        "{}{feedback_id}",
        "{feedback_id",
        "{date}.csv",
    ],
)
def test_unsafe_or_unknown_filename_templates_are_refused(template: str) -> None:
    problems = check(plain(filename_template=template), {"password": "pw"})
    assert set(problems) == {"transport_settings.filename_template"}


def test_port_must_be_a_whole_number() -> None:
    assert set(check(plain(port=22.5), {"password": "pw"})) == {"transport_settings.port"}


# --- secrets never come back -------------------------------------------------------------


async def test_secrets_never_appear_in_results_steps_or_logs(
    transport: Transport[Any],
    settings: dict[str, Any],
    sshd: SshServer,
    remote_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = sshd.encrypted_client_key
    assert key is not None and key.passphrase is not None
    wrong_password = "wrong-" + sshd.account.password
    key_secrets = {"private_key": key.text, "private_key_passphrase": key.passphrase}
    impostor = sshd.impostor_known_hosts_line()
    locked = remote_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    texts: list[str] = []
    for plain_settings, secrets in [
        (settings, {"password": sshd.account.password}),
        (settings, {"password": wrong_password}),
        (settings, key_secrets),
        ({**settings, "known_hosts": impostor}, key_secrets),
        ({**settings, "directory": str(locked)}, {"password": sshd.account.password}),
    ]:
        result = await send(transport, message(plain_settings, secrets))
        texts.append(result_text(result))
        steps = await probe(transport, plain_settings, secrets)
        texts.extend(step.detail for step in steps)
    texts.extend(
        problem.description
        for problem in settings_problems(
            transport, {**settings, "password": wrong_password}, {"private_key": key.text}
        )
    )
    everything = "\n".join([*texts, caplog.text])
    secret_values = [sshd.account.password, wrong_password, key.passphrase]
    secret_values += [line for line in key.text.splitlines() if len(line) > 20]
    assert [secret for secret in secret_values if secret in everything] == []
