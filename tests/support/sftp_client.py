"""Reading files back from the test sshd with OpenSSH's own ``sftp`` client."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.sftp_server import SshServer


async def sftp_get(sshd: SshServer, remote: str, local: Path, timeout: float = 30.0) -> bytes:
    """Downloads ``remote`` into ``local`` with ``sftp -b``; its bytes."""
    assert sshd.client_key is not None
    sftp = await asyncio.create_subprocess_exec(
        "sftp", "-F", "/dev/null", "-b", "-", "-P", str(sshd.port),
        "-o", f"UserKnownHostsFile={sshd.known_hosts_file()}",
        "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-i", str(sshd.client_key.path), f"{sshd.account.username}@{sshd.host}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(
        sftp.communicate(f'get "{remote}" "{local}"\n'.encode()), timeout
    )
    assert sftp.returncode == 0, (out + err).decode(errors="replace")
    return await asyncio.to_thread(local.read_bytes)


def sftp_settings(sshd: SshServer, directory: Path) -> dict[str, object]:
    return {
        "host": sshd.host,
        "port": sshd.port,
        "username": sshd.account.username,
        "directory": str(directory),
        "known_hosts": sshd.known_hosts_line(),
    }
