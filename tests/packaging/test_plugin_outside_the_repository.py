"""A team writes a plugin outside this repository: Backchannel builds as wheels, installs
into a fresh virtualenv elsewhere (resolved from those wheels, never from a public index:
see docs/writing-a-transport-plugin.md on dependency confusion), `backchannel plugins new`
makes a plugin there, and its conformance suite passes as made."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*command: str | Path, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKCHANNEL_", "PYTHON"))}
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_plugin_made_outside_the_repository_passes_its_conformance_suite() -> None:
    with tempfile.TemporaryDirectory(prefix="backchannel-outside-") as outside:
        place = Path(outside)
        wheels = place / "wheels"
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels,
            REPO, REPO / "clients" / "python")  # fmt: skip
        built = sorted(path.name for path in wheels.iterdir())
        assert [name.split("-")[0] for name in built] == ["backchannel", "backchannel_client"]

        run(sys.executable, "-m", "venv", place / "venv")
        pip = place / "venv" / "bin" / "pip"
        run(pip, "install", "-q", "--find-links", wheels, "backchannel")
        version = run(place / "venv" / "bin" / "python", "-c",
                      "import backchannel; print(backchannel.__version__)")  # fmt: skip
        assert version.strip() == built[0].split("-")[1]

        run(place / "venv" / "bin" / "backchannel", "plugins", "new", "acme", "--directory", place)
        plugin = place / "backchannel-acme"
        run(pip, "install", "-q", "--find-links", wheels, "-e", f"{plugin}[test]")
        report = run(place / "venv" / "bin" / "pytest", "-q", "-p", "no:cacheprovider", cwd=plugin)
        assert " passed" in report and "failed" not in report, report
        listed = run(place / "venv" / "bin" / "backchannel", "plugins")
        assert "backchannel-acme" in listed and "loaded" in listed
