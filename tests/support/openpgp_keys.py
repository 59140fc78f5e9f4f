"""OpenPGP keys for batch tests, made by the real GnuPG in a keyring of the test's own
(never the machine's): a recipient's key pair (Backchannel gets the public half; the test
decrypts with the secret half, as the recipient would), a signing key for Backchannel, and
an expired key. Decrypting and verifying is GnuPG's ``gpg --decrypt``, nothing else."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_PARAMETERS = """%no-protection
Key-Type: RSA
Key-Length: 2048
Subkey-Type: RSA
Subkey-Length: 2048
Name-Real: {name}
Name-Email: {email}
Expire-Date: {expires}
%commit
"""


@dataclass(frozen=True)
class Decrypted:
    plaintext: bytes
    #: Fingerprints of the keys whose good signature GnuPG verified (VALIDSIG).
    valid_signatures: tuple[str, ...]


class Keyring:
    """A GnuPG home of its own holding the keys it made."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="backchannel-test-gpg-"))
        self.home.chmod(0o700)

    def _gpg(self, *args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--no-tty", *args],
            input=data,
            capture_output=True,
            check=True,
            timeout=60,
        )

    def make_key(self, email: str, *, expires: str = "0", faked_time: str | None = None) -> str:
        """Makes a key pair; its fingerprint. ``faked_time`` (``20200101T000000``) makes it
        as if then, so that a short ``expires`` (``1d``) is over now."""
        extra = ["--faked-system-time", faked_time] if faked_time else []
        parameters = _PARAMETERS.format(name=email.split("@")[0], email=email, expires=expires)
        self._gpg(*extra, "--gen-key", data=parameters.encode())
        listed = self._gpg("--with-colons", "--list-keys", email).stdout.decode()
        return next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr"))

    def public_key(self, fingerprint: str) -> str:
        return self._gpg("--armor", "--export", fingerprint).stdout.decode()

    def secret_key(self, fingerprint: str) -> str:
        return self._gpg("--armor", "--export-secret-keys", fingerprint).stdout.decode()

    def decrypt(self, data: bytes) -> Decrypted:
        """``gpg --decrypt`` of ``data``; raises CalledProcessError when GnuPG refuses."""
        done = self._gpg("--status-fd", "2", "--decrypt", data=data)
        signatures = tuple(
            line.split()[2]
            for line in done.stderr.decode(errors="replace").splitlines()
            if line.startswith("[GNUPG:] VALIDSIG")
        )
        return Decrypted(done.stdout, signatures)

    def import_key(self, armored: str) -> None:
        self._gpg("--import", data=armored.encode())

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], check=False)
        subprocess.run(["rm", "-rf", str(self.home)], check=False)
