"""Settings from the environment: BACKCHANNEL_DELIVERY_PROCESSES and its default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from backchannel.settings import Settings, SettingsError, load_settings


def test_delivery_processes_defaults_to_auto() -> None:
    assert load_settings({}).delivery_processes == "auto"


@pytest.mark.parametrize(
    ("text", "count"), [("0", 0), ("3", 3), ("auto", "auto"), ("AUTO", "auto")]
)
def test_delivery_processes_takes_a_count_or_auto(text: str, count: object) -> None:
    assert load_settings({"BACKCHANNEL_DELIVERY_PROCESSES": text}).delivery_processes == count


@pytest.mark.parametrize("text", ["-1", "many", "1.5"])
def test_delivery_processes_refuses_anything_else_and_says_what_it_takes(text: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"BACKCHANNEL_DELIVERY_PROCESSES": text})
    [problem] = refused.value.problems
    assert problem.startswith(f"BACKCHANNEL_DELIVERY_PROCESSES={text!r}")


def test_a_count_is_taken_as_it_is() -> None:
    assert Settings(delivery_processes=0).delivery_process_count == 0
    assert Settings(delivery_processes=2).delivery_process_count == 2


def _auto_count_on_cpus(cpus: set[int]) -> int:
    """delivery_process_count of the default settings in a process allowed only ``cpus``."""
    program = (
        f"import os, sys; os.sched_setaffinity(0, {sorted(cpus)}); "
        "from backchannel.settings import Settings; "
        "print(Settings().delivery_process_count)"
    )
    output = subprocess.run(
        [sys.executable, "-c", program], check=True, capture_output=True, text=True
    ).stdout
    return int(output)


def test_auto_delivers_from_the_serving_process_on_one_cpu() -> None:
    one = min(os.sched_getaffinity(0))
    assert _auto_count_on_cpus({one}) == 0


def test_auto_delivers_from_one_child_process_on_two_cpus() -> None:
    cpus = os.sched_getaffinity(0)
    assert len(cpus) >= 2, "this machine gives the tests two CPUs or more"
    assert _auto_count_on_cpus(set(sorted(cpus)[:2])) == 1


@pytest.mark.parametrize(("cpus", "count"), [(1, 0), (2, 1), (8, 1)])
def test_auto_counts_the_machines_cpus_where_no_affinity_is_known(
    monkeypatch: pytest.MonkeyPatch, cpus: int, count: int
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")  # as on macOS
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert Settings().delivery_process_count == count
