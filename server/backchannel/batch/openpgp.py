"""OpenPGP for batch files, by GnuPG itself: the ``gpg`` command, run with a temporary home
of its own per use (the recipient's public key and, to sign, the server's key imported
there and nowhere else), so whatever GnuPG decrypts, this wrote.

Why the ``gpg`` binary and not a Python library: the file is encrypted as it streams
(plaintext in through stdin, ciphertext out through stdout, memory bounded whatever the
size), which neither PGPy (unmaintained since 2022, in-memory messages) nor pysequoia (in
memory: ``encrypt(..., bytes)``) offer; and the output is GnuPG's own, so interoperability
with the recipient's GnuPG is not in question. ``.ci/setup`` installs ``gnupg``.

OpenPGP encryption is not deterministic (a random session key): the encrypted file is
kept in the spool and every attempt sends those bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

GPG = "gpg"
_CHECK_TIMEOUT_SECONDS = 10.0
_BASE = ("--batch", "--no-tty", "--quiet", "--no-greeting", "--no-permission-warning")


class OpenPgpError(Exception):
    """GnuPG refused (the message is GnuPG's, free of key material)."""


@dataclass(frozen=True)
class KeyFacts:
    fingerprint: str
    #: Seconds since the epoch; None: never expires.
    expires: int | None
    can_encrypt: bool
    revoked: bool


def key_facts(armored: str) -> KeyFacts | None:
    """What a public key is, or None when it does not parse as exactly one key."""
    with tempfile.TemporaryDirectory(prefix="backchannel-gpg-") as home:
        try:
            shown = subprocess.run(
                [GPG, "--homedir", home, *_BASE, "--with-colons", "--show-keys"],
                input=armored.encode("utf-8", "replace"),
                capture_output=True,
                timeout=_CHECK_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        with contextlib.suppress(OSError):
            subprocess.run(
                ["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False
            )
    if shown.returncode != 0:
        return None
    lines = [line.split(":") for line in shown.stdout.decode("utf-8", "replace").splitlines()]
    primaries = [fields for fields in lines if fields[0] in ("pub", "sec")]
    if len(primaries) != 1 or any(fields[0] == "sec" for fields in lines):
        return None
    primary = primaries[0]
    fingerprints = [fields[9] for fields in lines if fields[0] == "fpr"]
    if not fingerprints:
        return None
    expires = int(primary[6]) if len(primary) > 6 and primary[6].isdigit() else None
    return KeyFacts(
        fingerprint=fingerprints[0],
        expires=expires,
        can_encrypt="E" in (primary[11] if len(primary) > 11 else ""),
        revoked=primary[1] == "r",
    )


def public_key_problem(armored: str, now: float | None = None) -> str | None:
    """Why a recipient's public key cannot be used, or None."""
    if not shutil.which(GPG):
        return "cannot be checked: GnuPG (gpg) is not installed on this server"
    facts = key_facts(armored)
    if facts is None:
        return "is not one ASCII-armored OpenPGP public key (a private key is never taken)"
    if facts.revoked:
        return f"key {facts.fingerprint} is revoked"
    if facts.expires is not None and facts.expires <= (now or time.time()):
        return f"key {facts.fingerprint} has expired"
    if not facts.can_encrypt:
        return f"key {facts.fingerprint} has no usable encryption (sub)key"
    return None


class Encryptor:
    """One streaming encryption: ``write`` plaintext, ``finish``; the ciphertext goes to
    ``out`` as GnuPG produces it."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        home: Path,
        out: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self._process = process
        self._home = home
        self._out = out
        self._pump = asyncio.create_task(self._read_output())

    @classmethod
    async def start(
        cls,
        public_key: str,
        out: Callable[[bytes], Awaitable[None]],
        signing_key: str | None = None,
    ) -> Encryptor:
        home = Path(tempfile.mkdtemp(prefix="backchannel-gpg-"))
        try:
            recipient = await _import(home, public_key)
            command = [
                GPG,
                "--homedir",
                str(home),
                *_BASE,
                "--trust-model",
                "always",
                "--compress-algo",
                "none",
                "--recipient",
                recipient,
                "--output",
                "-",
            ]
            if signing_key is not None:
                signer = await _import(home, signing_key)
                command += [
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    "",
                    "--local-user",
                    signer,
                    "--sign",
                ]
            command.append("--encrypt")
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except BaseException:
            _remove_home(home)
            raise
        return cls(process, home, out)

    async def _read_output(self) -> None:
        assert self._process.stdout is not None
        while chunk := await self._process.stdout.read(256 * 1024):
            await self._out(chunk)

    async def write(self, data: bytes) -> None:
        if not data:
            return
        assert self._process.stdin is not None
        self._process.stdin.write(data)
        try:
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as error:
            await self._fail(error)

    async def finish(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await self._process.stdin.wait_closed()
        try:
            await self._pump
            code = await self._process.wait()
            if code != 0:
                await self._fail(None)
        finally:
            self.close()

    async def _fail(self, cause: BaseException | None) -> None:
        assert self._process.stderr is not None
        message = (await self._process.stderr.read(2000)).decode("utf-8", "replace").strip()
        self.close()
        raise OpenPgpError(f"gpg failed: {message or 'no message'}") from cause

    def close(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        if not self._pump.done():
            self._pump.cancel()
        _remove_home(self._home)


async def _import(home: Path, armored: str) -> str:
    """Imports a key into ``home``; its fingerprint."""
    process = await asyncio.create_subprocess_exec(
        GPG,
        "--homedir",
        str(home),
        *_BASE,
        "--with-colons",
        "--import-options",
        "import-show",
        "--import",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await process.communicate(armored.encode("utf-8", "replace"))
    if process.returncode != 0:
        raise OpenPgpError(f"gpg could not import a key: {errors.decode(errors='replace')[:300]}")
    for line in output.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if fields[0] == "fpr":
            return fields[9]
    raise OpenPgpError("gpg imported no key")


def _remove_home(home: Path) -> None:
    with contextlib.suppress(OSError):
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False
        )
    shutil.rmtree(home, ignore_errors=True)
