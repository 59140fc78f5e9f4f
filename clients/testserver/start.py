"""A throwaway Backchannel for client test suites (Go, Java, ...).

Starts a private PostgreSQL cluster (as tests/support/postgres_cluster.py does: system
binaries, run as the ``postgres`` OS user when root, loopback only) and ``backchannel
serve`` on it, then prints one line on stdout::

    BACKCHANNEL_ADDRESS=127.0.0.1:PORT

and keeps running until SIGTERM/SIGINT or until its standard input is closed (so a test
runner that dies takes it down too). Both the server and the cluster are then removed.
Server output goes to stderr.

Run with the workspace's interpreter::

    /work/main/.venv/bin/python clients/testserver/start.py [--port N] [--tls MODE]

``--port`` makes the server listen on a known port (0, the default: any free port).

``--tls`` says how the listener is secured: ``none`` (the default: plaintext), ``tls``
(TLS; any client that trusts the CA is served) or ``mtls`` (TLS, and a client certificate
signed by the CA is required). With ``tls`` or ``mtls`` the certificates are made on the
spot with ``cryptography`` (a CA, a server certificate for 127.0.0.1/::1/localhost, a
client certificate whose identity is a URI SAN, and a forged client certificate with the
same identity from another CA) in a temporary folder removed at exit, and their paths are
printed before the address, one ``NAME=VALUE`` line each::

    BACKCHANNEL_CA_FILE=/tmp/.../ca.pem                   the CA to trust
    BACKCHANNEL_CERT_FILE=/tmp/.../client.pem             the client certificate
    BACKCHANNEL_KEY_FILE=/tmp/.../client.key              and its key
    BACKCHANNEL_FORGED_CERT_FILE=/tmp/.../forged-client.pem  refused by an mtls server
    BACKCHANNEL_FORGED_KEY_FILE=/tmp/.../forged-client.key
    BACKCHANNEL_CLIENT_IDENTITY=spiffe://backchannel.test/crm-sync
    BACKCHANNEL_SERVER_CERT_FILE=/tmp/.../server.pem      the server's, for a suite's own
    BACKCHANNEL_SERVER_KEY_FILE=/tmp/.../server.key       TLS stand-ins (recording headers)
    BACKCHANNEL_ADDRESS=127.0.0.1:PORT                    (always last: the server is ready)

Extra settings pass through as ``BACKCHANNEL_*`` environment variables (the database URL,
listen address and TLS files are always this script's).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.certificates import (  # noqa: E402
    CLIENT_SPIFFE_ID,
    TlsFiles,
    write_tls_files,
)
from tests.support.postgres_cluster import PostgresCluster  # noqa: E402

BACKCHANNEL = str(Path(sys.executable).with_name("backchannel"))
LISTENING = re.compile(r"Backchannel listening on (\S+:\d+)")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

DEFAULTS = {
    "BACKCHANNEL_OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8",
    "BACKCHANNEL_POLL_INTERVAL_SECONDS": "0.2",
    "BACKCHANNEL_STREAM_HEARTBEAT_SECONDS": "1",
    "BACKCHANNEL_SHUTDOWN_GRACE_SECONDS": "2",
    "BACKCHANNEL_LOG_LEVEL": "WARNING",
}


def log(message: str) -> None:
    print(f"testserver: {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="gRPC port (0: any free port)")
    parser.add_argument(
        "--tls",
        choices=("none", "tls", "mtls"),
        default="none",
        help="plaintext (none), TLS (tls), or TLS requiring client certificates (mtls)",
    )
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True, name="stdin").start()

    cluster = PostgresCluster()
    server: subprocess.Popen[bytes] | None = None
    certificates = tempfile.TemporaryDirectory(prefix="backchannel-testserver-tls-")
    try:
        cluster.init()
        cluster.start()
        cluster.wait_ready(30)
        if stop.is_set():
            return 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
        env.update(DEFAULTS)
        env.update({k: v for k, v in os.environ.items() if k.startswith("BACKCHANNEL_")})
        env["BACKCHANNEL_DATABASE_URL"] = cluster.url()
        env["BACKCHANNEL_LISTEN"] = f"127.0.0.1:{args.port}"
        files = None
        if args.tls != "none":
            files = write_tls_files(Path(certificates.name))
            env.update(tls_settings(files, require_client_certificates=args.tls == "mtls"))
        server = subprocess.Popen(
            [BACKCHANNEL, "serve"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        listening = threading.Event()
        address: list[str] = []

        def pump() -> None:
            assert server is not None and server.stdout is not None
            for raw in server.stdout:
                line = raw.decode(errors="replace")
                sys.stderr.write(line)
                sys.stderr.flush()
                if not listening.is_set() and (match := LISTENING.search(line)):
                    address.append(match[1])
                    listening.set()
            listening.set()  # the server ended

        threading.Thread(target=pump, daemon=True, name="server-output").start()
        deadline = time.monotonic() + START_TIMEOUT
        while not listening.wait(0.1):
            if stop.is_set() or time.monotonic() > deadline:
                break
        if not address:
            if not stop.is_set():
                log("backchannel serve did not start")
                return 1
            return 0
        if files is not None:
            print_client_files(files)
        print(f"BACKCHANNEL_ADDRESS={address[0]}", flush=True)
        while not stop.wait(0.5):
            if server.poll() is not None:
                log(f"backchannel serve exited with {server.returncode}")
                return 1
        return 0
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        cluster.destroy()
        certificates.cleanup()


def tls_settings(files: TlsFiles, require_client_certificates: bool) -> dict[str, str]:
    settings = {
        "BACKCHANNEL_TLS_CERT_FILE": str(files.server_certificate),
        "BACKCHANNEL_TLS_KEY_FILE": str(files.server_key),
        "BACKCHANNEL_TLS_CLIENT_CA_FILE": "",
        "BACKCHANNEL_TLS_CLIENT_AUTH": "none",
    }
    if require_client_certificates:
        settings["BACKCHANNEL_TLS_CLIENT_CA_FILE"] = str(files.ca)
        settings["BACKCHANNEL_TLS_CLIENT_AUTH"] = "require"
    return settings


def print_client_files(files: TlsFiles) -> None:
    """What a client needs, one NAME=VALUE line each, before the address line."""
    lines = {
        "BACKCHANNEL_CA_FILE": files.ca,
        "BACKCHANNEL_CERT_FILE": files.client_certificate,
        "BACKCHANNEL_KEY_FILE": files.client_key,
        "BACKCHANNEL_FORGED_CERT_FILE": files.forged_certificate,
        "BACKCHANNEL_FORGED_KEY_FILE": files.forged_key,
        "BACKCHANNEL_CLIENT_IDENTITY": CLIENT_SPIFFE_ID,
        "BACKCHANNEL_SERVER_CERT_FILE": files.server_certificate,
        "BACKCHANNEL_SERVER_KEY_FILE": files.server_key,
    }
    for name, value in lines.items():
        print(f"{name}={value}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
