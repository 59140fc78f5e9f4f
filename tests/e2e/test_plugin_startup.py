"""Start-up with real installed entry points: a broken plugin is reported by name and does
not take the server down; two plugins registering one name stop it."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import pytest

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))


def make_distribution(root: Path, name: str, module: str, source: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[backchannel]\n{module} = {module}\n")


def environment(plugin_root: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env.update(
        PYTHONPATH=str(plugin_root),
        BACKCHANNEL_DATABASE_URL=database_url,
        BACKCHANNEL_LISTEN="127.0.0.1:0",
        BACKCHANNEL_SHUTDOWN_GRACE_SECONDS="1",
    )
    return env


async def run(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.fixture
def broken_plugin(tmp_path: Path) -> Path:
    make_distribution(
        tmp_path,
        "acme-broken-transport",
        "acme_broken",
        "raise ImportError('no module named acme_sdk')\n",
    )
    return tmp_path


@pytest.fixture
def conflicting_plugin(tmp_path: Path) -> Path:
    make_distribution(
        tmp_path,
        "acme-other-webhook",
        "acme_other_webhook",
        """
        from backchannel_webhook import WebhookTransport
        from backchannel.plugin import hookimpl

        @hookimpl
        def register_transports(register):
            register(WebhookTransport())
        """,
    )
    return tmp_path


async def test_plugins_command_names_the_distribution_that_failed_to_import(
    broken_plugin: Path, database_url: str
) -> None:
    code, output = await run("plugins", env=environment(broken_plugin, database_url))
    assert code == 1
    failed = [line for line in output.splitlines() if line.startswith("acme-broken-transport")]
    assert failed and "failed" in failed[0] and "no module named acme_sdk" in failed[0]
    assert any(
        line.startswith("backchannel-webhook") and "loaded" in line for line in output.splitlines()
    )


async def test_server_starts_and_serves_despite_a_plugin_that_fails_to_import(
    broken_plugin: Path, database_url: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "serve", env=environment(broken_plugin, database_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("Backchannel listening on" in line for line in lines):
                line = (await process.stdout.readline()).decode()
                assert line, "server exited: " + "".join(lines)
                lines.append(line)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    assert any("acme-broken-transport" in line and "failed to load" in line for line in lines)
    assert process.returncode == 0


async def test_two_plugins_registering_one_transport_name_stop_the_server_at_start(
    conflicting_plugin: Path, database_url: str
) -> None:
    code, output = await run("serve", env=environment(conflicting_plugin, database_url))
    assert code == 3
    assert "'webhook'" in output
    assert "acme-other-webhook" in output and "backchannel-webhook" in output
