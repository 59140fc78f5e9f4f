"""Long output on a terminal through a pager, the way git does it: ``$BACKCHANNEL_PAGER``,
else ``$PAGER``, else ``less`` (with ``LESS=FRX`` unless ``$LESS`` is set: it quits when
the output fits on one screen, keeps colours, and leaves the screen as it was). Nothing is
paged when standard output is not a terminal, when the pager is ``cat`` or empty, or when
it cannot be found."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator


def _pager_command() -> str | None:
    command = os.environ.get("BACKCHANNEL_PAGER", os.environ.get("PAGER", "less")).strip()
    try:
        program = shlex.split(command)[0] if command else ""
    except ValueError:
        return None
    if not program or program == "cat" or shutil.which(program) is None:
        return None
    return command


@contextlib.contextmanager
def paged() -> Iterator[None]:
    """While inside, ``print`` goes to the pager (when one applies); leaving waits for the
    reader to quit it. A reader quitting early ends the output quietly."""
    command = _pager_command() if sys.stdout.isatty() else None
    if command is None:
        yield
        return
    environment = {**os.environ, "LESS": os.environ.get("LESS", "FRX")}
    pager = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=environment, text=True)
    assert pager.stdin is not None
    terminal, sys.stdout = sys.stdout, pager.stdin
    try:
        yield
    except BrokenPipeError:
        pass  # the reader quit the pager before the end
    finally:
        sys.stdout = terminal
        with contextlib.suppress(BrokenPipeError):
            pager.stdin.close()
        pager.wait()
