"""A private Postgres for when no BACKCHANNEL_DATABASE_URL is given (pgserver's bundled
PostgreSQL, data kept in a local folder across restarts)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server: Any = None

    def start(self) -> str:
        """Starts (or reuses) the cluster; returns its connection URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # type: ignore[attr-defined,unused-ignore]

            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._server = pgserver.get_server(  # type: ignore[attr-defined,unused-ignore]
                self.data_dir, cleanup_mode="stop"
            )
        url: str = self._server.get_uri()
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
