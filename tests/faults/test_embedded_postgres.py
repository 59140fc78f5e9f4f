"""The embedded Postgres (no BACKCHANNEL_DATABASE_URL): a serve killed with SIGKILL
leaves it running, and the next serve uses it and stops it when it stops, so it is never
left running for good; `backchannel db` shows, opens and stops it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.server_process import ServerLauncher

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Postgres runs as its own OS user when the tests run as root: every folder above the
    # data folder must let it through.
    folder = Path(tempfile.mkdtemp(prefix="backchannel-embedded-"))
    folder.chmod(0o755)
    try:
        yield folder / "data"
    finally:
        if (folder / "data").exists():
            db(folder / "data", "stop", "--force")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def launcher(data_dir: Path) -> AsyncIterator[ServerLauncher]:
    async with ServerLauncher("", data_dir=str(data_dir)) as servers:
        yield servers


def db(data_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["BACKCHANNEL_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [BACKCHANNEL, "db", *arguments], env=env, capture_output=True, text=True, timeout=60
    )


async def test_a_serve_killed_with_sigkill_does_not_leave_the_embedded_postgres_running_for_good(
    launcher: ServerLauncher, data_dir: Path
) -> None:
    first = await launcher.start(timeout=120.0)
    await first.kill()
    left = db(data_dir, "status")
    assert "state: running" in left.stdout and "none (left running)" in left.stdout, left

    second = await launcher.start(timeout=120.0)
    assert await second.terminate(timeout=30.0) == 0

    after = db(data_dir, "status")
    assert "state: stopped" in after.stdout, after.stdout
    assert "ended without stopping it" in second.log()


async def test_db_psql_opens_the_database_serve_uses_and_db_stop_waits_for_its_users(
    launcher: ServerLauncher, data_dir: Path
) -> None:
    server = await launcher.start(timeout=120.0)
    query = db(data_dir, "psql", "--", "-Atc", "SELECT count(*) FROM recipients")
    assert query.returncode == 0 and query.stdout.strip() == "0", query

    refused = db(data_dir, "stop")
    assert refused.returncode == 7 and str(server.pid) in refused.stderr

    assert await server.terminate(timeout=30.0) == 0
    await asyncio.sleep(0)
    assert "state: stopped" in db(data_dir, "status").stdout
