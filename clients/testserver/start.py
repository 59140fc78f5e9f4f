"""A throwaway Backchannel for client test suites (Go, Java, ...).

Starts a private PostgreSQL cluster (as tests/support/postgres_cluster.py does: system
binaries, run as the ``postgres`` OS user when root, loopback only) and ``backchannel
serve`` on it, then prints one line on stdout::

    BACKCHANNEL_ADDRESS=127.0.0.1:PORT

and keeps running until SIGTERM/SIGINT or until its standard input is closed (so a test
runner that dies takes it down too). Both the server and the cluster are then removed.
Server output goes to stderr.

Run with the workspace's interpreter::

    /work/main/.venv/bin/python clients/testserver/start.py [--port N]

``--port`` makes the server listen on a known port (0, the default: any free port).
Extra settings pass through as ``BACKCHANNEL_*`` environment variables (the database URL
and listen address are always this script's).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

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
    # A real Postgres needs secret keys to store recipients' secrets, as in production.
    "BACKCHANNEL_SECRET_KEYS": "test-1:" + base64.b64encode(os.urandom(32)).decode(),
}


def log(message: str) -> None:
    print(f"testserver: {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="gRPC port (0: any free port)")
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


if __name__ == "__main__":
    sys.exit(main())
