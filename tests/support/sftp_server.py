"""A real OpenSSH ``sshd`` on loopback, for the SFTP transport's tests.

It runs ``/usr/sbin/sshd -D -e`` with a generated config: its own ed25519 host key, a free
port on 127.0.0.1, ``internal-sftp``, password and public-key login for one dedicated local
user (created with ``useradd`` when missing, its password reset on every run). Root never
logs in. The daemon's log goes to a file the tests read (``Accepted password for ...``).

Needs root (to create the user and run sshd) and the ``openssh-server`` and
``openssh-client`` packages. The ``sshd`` and ``remote_dir`` fixtures (tests/conftest.py)
start one for the session and give each test a fresh folder in its user's home.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
#: sshd's privilege-separation directory; it refuses to start without it.
PRIVSEP_DIR = Path("/run/sshd")
TEST_USER = "backchannel-sftp-test"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
#: Options newer OpenSSH releases know and older ones reject; kept only where accepted.
#: Per-source penalties would lock the tests out after their deliberate failed logins.
_OPTIONAL_OPTIONS = ("PerSourcePenalties no",)


@dataclass(frozen=True)
class ClientKey:
    path: Path
    text: str
    passphrase: str | None = None


@dataclass(frozen=True)
class SftpUser:
    username: str
    password: str
    home: Path
    uid: int
    gid: int


class SshServer:
    """One sshd process and everything it was generated with."""

    def __init__(self, workdir: Path, account: SftpUser) -> None:
        self.workdir = workdir
        self.account = account
        self.host = "127.0.0.1"
        self.port = 0
        self.log_path = workdir / "sshd.log"
        self.host_public_key = ""
        self.client_key: ClientKey | None = None
        self.encrypted_client_key: ClientKey | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # --- life ------------------------------------------------------------------------------

    def start(self) -> None:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        host_key = self.workdir / "host_ed25519"
        _keygen(host_key)
        self.host_public_key = _public_key(host_key)
        self.client_key = _client_key(self.workdir / "client_ed25519", passphrase=None)
        self.encrypted_client_key = _client_key(
            self.workdir / "client_encrypted_ed25519", passphrase=secrets.token_urlsafe(12)
        )
        authorized_keys = self.workdir / "authorized_keys"
        authorized_keys.write_text(
            _public_key(self.client_key.path) + "\n" + _public_key(self.encrypted_client_key.path)
        )
        # sshd reads authorized_keys as the user, who must be able to reach it.
        authorized_keys.chmod(0o644)
        self.workdir.chmod(0o755)
        self.port = _free_port()
        config = self.workdir / "sshd_config"
        config.write_text(self._config(host_key, authorized_keys))
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()

    def stop(self) -> None:
        if self._process is None:
            return
        self.drop_sessions()
        process, self._process = self._process, None
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)

    def session_pids(self) -> list[int]:
        """The sshd processes serving connections (everything below the listener)."""
        assert self._process is not None
        return _descendants(self._process.pid)

    def pause_sessions(self) -> None:
        """Stops (SIGSTOP) every connection's processes: the server hangs mid-request."""
        self._signal_sessions(signal.SIGSTOP)

    def drop_sessions(self) -> list[int]:
        """Kills every connection's sshd processes (the listener stays): to clients, the
        server vanished. Returns the process ids it killed."""
        victims = self._signal_sessions(signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while any(_running(pid) for pid in victims):
            if time.monotonic() > deadline:
                raise TimeoutError("sshd session processes did not exit")
            time.sleep(0.01)
        return victims

    def _signal_sessions(self, signal_number: signal.Signals) -> list[int]:
        pids = self.session_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_number)
        return pids

    # --- what clients need -----------------------------------------------------------------

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_public_key}"

    def impostor_known_hosts_line(self) -> str:
        """A known_hosts line for this host and port, but with another (new) host's key."""
        impostor = self.workdir / f"impostor_{secrets.token_hex(4)}"
        _keygen(impostor)
        return f"[{self.host}]:{self.port} {_public_key(impostor)}"

    def known_hosts_file(self) -> Path:
        path = self.workdir / "known_hosts"
        path.write_text(self.known_hosts_line() + "\n")
        return path

    # --- what the server saw ---------------------------------------------------------------

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def logins_since(self, offset: int) -> list[int]:
        """The client ports of the test user's successful logins logged since ``offset``."""
        user = re.escape(self.account.username)
        pattern = re.compile(rf"Accepted (?:password|publickey) for {user} from \S+ port (\d+)")
        return [int(port) for port in pattern.findall(self.log_since(offset))]

    def connections_since(self, offset: int) -> int:
        """TCP connections sshd accepted since ``offset`` (logged at LogLevel VERBOSE)."""
        return self.log_since(offset).count("Connection from ")

    # --- internals -------------------------------------------------------------------------

    def _config(self, host_key: Path, authorized_keys: Path) -> str:
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {host_key}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized_keys}",
            f"AllowUsers {self.account.username}",
            "PermitRootLogin no",
            "PasswordAuthentication yes",
            "PubkeyAuthentication yes",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "MaxStartups 100",
            "MaxSessions 20",
            "MaxAuthTries 20",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
        ]
        for option in _OPTIONAL_OPTIONS:
            if _sshd_accepts(option, lines, self.workdir):
                lines.append(option)
        return "\n".join(lines) + "\n"

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self._process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as probe:
                    if probe.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"sshd did not answer within {START_TIMEOUT_SECONDS} s:\n{self.log()}")


def ensure_test_account(username: str) -> SftpUser:
    """The dedicated local user the tests log in as, with a fresh random password."""
    try:
        entry = pwd.getpwnam(username)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", username],
            check=True,
            capture_output=True,
            timeout=30,
        )
        entry = pwd.getpwnam(username)
    password = secrets.token_urlsafe(18)
    subprocess.run(
        ["chpasswd"], input=f"{username}:{password}\n", text=True, check=True, timeout=30
    )
    home = Path(entry.pw_dir)
    home.mkdir(mode=0o755, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return SftpUser(username, password, home, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def running_sshd() -> Iterator[SshServer]:
    """A running sshd, stopped (and its user removed) when the block ends. Fails the test
    when sshd is missing or the tests do not run as root."""
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        pytest.fail(f"{SSHD} and ssh-keygen are needed: apt-get install openssh-server")
    if os.geteuid() != 0:
        pytest.fail("the sshd fixture runs as root: it creates a local user and starts sshd")
    workdir = Path(tempfile.mkdtemp(prefix="backchannel-sshd-"))
    # A user of its own per session: two test runs on one machine never reset each
    # other's password.
    username = f"{TEST_USER}-{secrets.token_hex(3)}"
    server = SshServer(workdir, ensure_test_account(username))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        subprocess.run(["userdel", "--remove", username], capture_output=True, timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def fresh_remote_dir(sshd: SshServer) -> Iterator[Path]:
    """A fresh directory in the test user's home, owned by that user; removed afterwards."""
    account = sshd.account
    path = account.home / f"t-{secrets.token_hex(4)}"
    path.mkdir(mode=0o755)
    os.chown(path, account.uid, account.gid)
    try:
        yield path
    finally:
        # A test may have made parts of it read-only.
        for directory, _, _ in os.walk(path):
            Path(directory).chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "backchannel-test",
            "-f",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _public_key(private_key: Path) -> str:
    return Path(f"{private_key}.pub").read_text().strip()


def _client_key(path: Path, *, passphrase: str | None) -> ClientKey:
    _keygen(path, passphrase or "")
    return ClientKey(path, path.read_text(), passphrase)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _sshd_accepts(option: str, lines: list[str], workdir: Path) -> bool:
    """Whether this sshd understands ``option`` (``sshd -t`` checks a config and exits)."""
    trial = workdir / "sshd_config.trial"
    trial.write_text("\n".join([*lines, option]) + "\n")
    checked = subprocess.run(
        [SSHD, "-t", "-f", str(trial)], capture_output=True, timeout=30, check=False
    )
    trial.unlink()
    return checked.returncode == 0


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (in parentheses) may contain spaces: split after it.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found
