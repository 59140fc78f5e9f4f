"""The API's Python stubs exist once, in the client package, and the server imports them:
two copies would register the same proto files in protobuf's default pool, and a process
loading both would crash as soon as they differed."""

from __future__ import annotations

import subprocess
import sys


def test_the_server_and_its_cli_load_only_the_client_packages_stubs() -> None:
    probe = (
        "import sys, backchannel.app, backchannel.cli, backchannel_client.v1;"
        "stubs = sorted(m for m in sys.modules if m.endswith(('_pb2', '_pb2_grpc'))"
        " and 'backchannel' in m);"
        "assert stubs, 'no stubs loaded';"
        "others = [m for m in stubs if not m.startswith('backchannel_client._generated.')];"
        "assert not others, others"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
