"""A private Postgres for when no BACKCHANNEL_DATABASE_URL is given (pgserver's bundled
PostgreSQL, data kept in a local folder across restarts).

pgserver stops the cluster when the last process using it exits, counting users in a
list of pids kept in the data folder. A process killed with SIGKILL never takes itself
off that list, so the next ``serve`` would count it for ever and leave the cluster running
when it stops. Before using the cluster, pids of processes that are gone are taken off.
The ``backchannel db`` commands look at, connect to and stop the same cluster.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

#: pgserver's list of the pids using a cluster, in its data folder.
_HANDLES = ".handle_pids.json"


@dataclass(frozen=True)
class ClusterStatus:
    data_dir: Path
    #: Whether a postmaster is running on the folder.
    running: bool
    pid: int | None
    #: How to connect (over its Unix socket); empty when not running.
    url: str
    #: Live processes using it (serve, deliver); pids of processes gone are not counted.
    users: tuple[int, ...]


class EmbeddedPostgres:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server: Any = None

    def start(self) -> str:
        """Starts (or reuses) the cluster; returns its connection URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        gone = forget_gone_users(self.data_dir)
        if gone:
            log.warning(
                "the embedded Postgres in %s was left running by a process that ended without "
                "stopping it (pid %s); using it, and stopping it when this process stops",
                self.data_dir,
                ", ".join(str(pid) for pid in gone),
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # type: ignore[attr-defined,unused-ignore]

            self._server = pgserver.get_server(  # type: ignore[attr-defined,unused-ignore]
                self.data_dir, cleanup_mode="stop"
            )
        url: str = self._server.get_uri()
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def forget_gone_users(data_dir: Path) -> list[int]:
    """Takes pids of processes that no longer run off the cluster's list of users; returns
    them."""
    path = data_dir / _HANDLES
    try:
        pids = [int(pid) for pid in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    gone = [pid for pid in pids if not _is_alive(pid)]
    if gone:
        path.write_text(json.dumps([pid for pid in pids if pid not in gone]))
    return gone


def _is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def status(data_dir: str) -> ClusterStatus:
    """What runs on the embedded cluster of ``data_dir``, without starting anything."""
    folder = Path(data_dir).resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import PostmasterInfo  # type: ignore[import-untyped,unused-ignore]

    info = PostmasterInfo.read_from_pgdata(folder) if folder.is_dir() else None
    running = info is not None and info.is_running()
    try:
        listed = json.loads((folder / _HANDLES).read_text())
    except (OSError, ValueError):
        listed = []
    users = tuple(int(pid) for pid in listed if _is_alive(int(pid)))
    if info is None or not running:
        return ClusterStatus(folder, running=False, pid=None, url="", users=users)
    return ClusterStatus(folder, running=True, pid=info.pid, url=info.get_uri(), users=users)


def stop_cluster(data_dir: str) -> None:
    """Stops the embedded cluster of ``data_dir`` (fast shutdown: sessions are ended)."""
    folder = Path(data_dir).resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import (  # type: ignore[attr-defined,unused-ignore]
            pg_ctl,
        )

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=folder, user=user)
    (folder / _HANDLES).unlink(missing_ok=True)


def psql(url: str, arguments: list[str]) -> int:
    """Runs the psql bundled with the embedded Postgres on ``url``; its exit status."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import (  # type: ignore[attr-defined,unused-ignore]
            POSTGRES_BIN_PATH,
        )

    return subprocess.call([str(POSTGRES_BIN_PATH / "psql"), url, *arguments])
