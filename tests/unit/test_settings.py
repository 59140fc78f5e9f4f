"""Settings from the environment: BACKCHANNEL_DELIVERY_PROCESSES and its default."""

from __future__ import annotations

import os

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
    assert "expected auto or a number of processes" in problem


def test_a_count_is_taken_as_it_is() -> None:
    assert Settings(delivery_processes=0).delivery_process_count == 0
    assert Settings(delivery_processes=2).delivery_process_count == 2


@pytest.mark.parametrize(("cpus", "count"), [(1, 0), (2, 1), (8, 1)])
def test_auto_delivers_from_one_child_process_only_where_it_may_use_two_cpus(
    monkeypatch: pytest.MonkeyPatch, cpus: int, count: int
) -> None:
    # The affinity is what counts, not the machine's CPUs: a container or taskset may
    # give the process one CPU of many.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert Settings().delivery_process_count == count


@pytest.mark.parametrize(("cpus", "count"), [(1, 0), (2, 1), (8, 1), (None, 0)])
def test_auto_counts_the_machines_cpus_where_no_affinity_is_known(
    monkeypatch: pytest.MonkeyPatch, cpus: int | None, count: int
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert Settings().delivery_process_count == count
