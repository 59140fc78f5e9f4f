"""``backchannel send --file`` run as an operator runs it, against a real server and its
Postgres: safe to run again (request ids derived from each item), quick to fail when the
server is down, stoppable with Ctrl-C and resumable, and all-or-nothing when asked."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from support.cli_runs import BACKCHANNEL, COMMAND_TIMEOUT, cli, environment
from support.database_rows import stored_feedback
from support.in_process_server import RunningServer
from support.postgres_cluster import free_port
from support.server_process import ServerLauncher


def write_jsonl(path: Path, items: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def conversions(count: int) -> list[dict[str, object]]:
    return [{"kind": "conversion", "lead": {"leadId": f"L{i}"}} for i in range(count)]


async def test_running_a_file_twice_stores_each_feedback_once(
    backchannel: RunningServer, database_url: str, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "feedback.jsonl", conversions(5))

    first = await cli("send", "--file", str(path), "--json", running=backchannel)
    second = await cli("send", "--file", str(path), "--json", running=backchannel)

    assert first.code == second.code == 0, first.stderr + second.stderr
    stored = await stored_feedback(database_url)
    assert len(stored) == 5
    ids = [r["requestId"] for r in first.json()["results"]]  # type: ignore[index]
    assert ids == [r["requestId"] for r in second.json()["results"]]  # type: ignore[index]
    assert sorted(ids) == sorted(request_id for _, request_id in stored)
    # Not a terminal: plain counts, no redrawn bar, rate or time left.
    assert set(first.stderr.splitlines()) == {f"sending: {n}/5 done" for n in range(1, 6)}


async def test_the_same_item_in_a_csv_file_is_the_feedback_its_jsonl_twin_sent(
    backchannel: RunningServer, database_url: str, tmp_path: Path
) -> None:
    twin = {"kind": "FEEDBACK_KIND_CONVERSION", "lead": {"leadId": "L1", "sourceId": "S"}}
    jsonl = write_jsonl(tmp_path / "a.jsonl", [twin])
    csv = tmp_path / "b.csv"
    csv.write_text("kind,lead_id,source_id\nconversion,L1,S\nConversion,L1,S\n")

    from_jsonl = await cli("send", "--file", str(jsonl), running=backchannel)
    from_csv = await cli("send", "--file", str(csv), running=backchannel)
    elsewhere = await cli("send", "--file", str(csv), "--id-namespace", "2024-01-16",
                          running=backchannel)  # fmt: skip

    assert from_jsonl.code == from_csv.code == elsewhere.code == 0, from_csv.stderr
    assert "line 3 repeats line 2: sent once" in from_csv.stderr
    assert "sent 1 of 2 feedbacks, 0 failed, 1 repeated" in from_csv.stdout
    assert len(await stored_feedback(database_url)) == 2  # the namespace made a new one


async def test_a_server_that_is_down_fails_the_run_within_seconds_in_one_line(
    tmp_path: Path,
) -> None:
    path = write_jsonl(tmp_path / "feedback.jsonl", conversions(4000))
    address = f"127.0.0.1:{free_port()}"

    started = time.monotonic()
    run = await cli("send", "--file", str(path), "--server", address, running=None)
    took = time.monotonic() - started

    assert run.code == 6
    assert took < 10, f"took {took:.1f}s"
    assert run.stdout == ""
    first, *rest = run.stderr.splitlines()
    assert first.startswith(f"backchannel: the Backchannel server at {address} cannot be reached")
    assert len(rest) <= 1 and "line" not in run.stderr


async def test_ctrl_c_says_where_the_run_stopped_and_resume_sends_the_rest_once(
    backchannel: RunningServer, database_url: str, tmp_path: Path
) -> None:
    total = 3000
    path = write_jsonl(tmp_path / "feedback.jsonl", conversions(total))
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "send", "--file", str(path), "--concurrency", "1",
        env=environment(backchannel), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None and process.stdout is not None
    try:
        # Plain counts every tenth of the file: interrupt once the first is printed.
        first_count = await asyncio.wait_for(process.stderr.readline(), COMMAND_TIMEOUT)
        process.send_signal(signal.SIGINT)
        rest, out = await asyncio.wait_for(
            asyncio.gather(process.stderr.read(), process.stdout.read()), COMMAND_TIMEOUT
        )
        code = await asyncio.wait_for(process.wait(), COMMAND_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = rest.decode()

    assert first_count.decode().startswith("sending: 300/3000 done"), first_count
    assert code == 130, stderr
    assert "backchannel: interrupted: stopped at line " in stderr
    resume_at = int(stderr.split("stopped at line ")[1].split(";")[0])
    assert 300 < resume_at < total
    assert f"--resume {resume_at}`" in stderr
    assert "not sent" in out.decode()
    assert len(await stored_feedback(database_url)) >= resume_at - 1

    resumed = await cli("send", "--file", str(path), "--resume", str(resume_at),
                        running=backchannel)  # fmt: skip

    assert resumed.code == 0, resumed.stderr
    assert f"of {total - resume_at + 1} feedbacks" in resumed.stdout
    assert len(await stored_feedback(database_url)) == total


async def test_a_server_lost_mid_run_stops_it_in_seconds_and_resume_sends_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    total = 3000
    path = write_jsonl(tmp_path / "feedback.jsonl", conversions(total))
    async with ServerLauncher(database_url) as servers:
        server = await servers.start()
        process = await asyncio.create_subprocess_exec(
            BACKCHANNEL, "send", "--file", str(path), "--concurrency", "2",
            "--server", server.address, env=environment(), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None and process.stdout is not None
        try:
            await asyncio.wait_for(process.stderr.readline(), COMMAND_TIMEOUT)  # 300 sent
            await server.kill()
            lost_at = time.monotonic()
            rest, out = await asyncio.wait_for(
                asyncio.gather(process.stderr.read(), process.stdout.read()), COMMAND_TIMEOUT
            )
            code = await asyncio.wait_for(process.wait(), COMMAND_TIMEOUT)
            took = time.monotonic() - lost_at
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        stderr = rest.decode()

        assert code == 6, stderr
        assert took < 15, f"took {took:.1f}s after the server was lost"
        assert len(stderr.splitlines()) <= 3, stderr
        resume_at = int(stderr.split("stopped at line ")[1].split(";")[0])
        assert "not sent" in out.decode()

        restarted = await servers.start()
        resumed = await cli("send", "--file", str(path), "--resume", str(resume_at),
                            "--server", restarted.address, running=None)  # fmt: skip

        assert resumed.code == 0, resumed.stderr
        assert len(await stored_feedback(database_url)) == total


async def test_all_or_nothing_sends_nothing_and_prints_each_violation_once(
    backchannel: RunningServer, database_url: str, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "feedback.jsonl",
        [
            {"kind": "conversion", "lead": {"leadId": "L1"}},
            {"kind": "conversion", "lead": {"leadId": "L2"},
             "outcome": {"value": {"currencyCode": "USD", "amount": "not-money"}}},
            {"kind": "bogus", "lead": {"leadId": "L3"}},
            {"kind": "quality", "lead": {"leadId": "L4"}, "quality": {"overallScore": 150}},
        ],
    )  # fmt: skip

    run = await cli("send", "--file", str(path), "--all-or-nothing", running=backchannel)

    assert run.code == 5, run.stderr
    assert await stored_feedback(database_url) == []
    lines = run.stderr.splitlines()
    assert [line.split()[1].rstrip(":") for line in lines if line.startswith("line ")] == [
        "2", "3", "4",
    ]  # fmt: skip
    assert run.stderr.count("feedback.outcome.value.amount") == 1
    assert run.stderr.count("unknown feedback kind 'bogus'") == 1
    assert run.stderr.count("feedback.quality.overall_score") == 1
    assert "3 of 4 items are not valid feedback; nothing was sent" in run.stderr


async def test_without_all_or_nothing_bad_items_are_named_once_and_the_rest_sent_exit_1(
    backchannel: RunningServer, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text(
        '{"kind": "conversion", "lead": {"leadId": "L1"}}\n{oops\n'
        '{"kind": "quality", "lead": {"leadId": "L3"}, "quality": {"overallScore": 150}}\n'
    )

    run = await cli("send", "--file", str(path), running=backchannel)

    assert run.code == 1, run.stderr
    assert len(await stored_feedback(database_url)) == 1
    assert "line 2: not JSON" in run.stderr
    assert "line 3 (request id send-v1-" in run.stderr
    assert run.stderr.count("feedback.quality.overall_score") == 1
    assert "sent 1 of 3 feedbacks, 2 failed" in run.stdout


async def test_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    missing = await cli("send", "--file", str(tmp_path / "nothing.jsonl"), running=None)
    not_text = await cli("send", "--file", "-", running=None, stdin=b"\xff\xfe\x00oops")

    assert missing.code == 2 and "cannot read" in missing.stderr
    assert not_text.code == 2, not_text.stderr
    assert "cannot read -: not UTF-8 text" in not_text.stderr


async def test_send_help_documents_the_item_format_and_the_request_ids() -> None:
    run = await cli("send", "--help", running=None)

    assert run.code == 0
    for text in (
        "items of --file:",
        "JSONL",
        "quality.NAME",
        "requestId and recipientIds",
        "Enums by short name (conversion",
        "RFC 8785",
        "--id-namespace",
        "--resume",
    ):
        assert text in run.stdout, text


def readme_example(language: str) -> str:
    """The README's example file of that language, under "Sending a file"."""
    readme = Path(__file__).parents[2].joinpath("README.md").read_text()
    section = readme.split("### Sending a file", 1)[1]
    block = section.split(f"```{language}\n", 1)[1].split("```", 1)[0]
    return "".join(line.strip() + "\n" for line in block.splitlines())


async def test_the_readmes_example_files_send_as_written(
    backchannel: RunningServer, database_url: str, tmp_path: Path
) -> None:
    jsonl = tmp_path / "feedback.jsonl"
    jsonl.write_text(readme_example("jsonl"))
    csv = tmp_path / "feedback.csv"
    csv.write_text(readme_example("csv"))

    runs = [await cli("send", "--file", str(path), running=backchannel) for path in (jsonl, csv)]

    assert [run.code for run in runs] == [0, 0], [run.stderr for run in runs]
    assert "sent 2 of 2 feedbacks, 0 failed" in runs[0].stdout
    stored = await stored_feedback(database_url)
    assert len(stored) == 3 and "crm-42" in {request_id for _, request_id in stored}


async def test_json_output_has_a_result_per_item_in_file_order(
    backchannel: RunningServer, tmp_path: Path
) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"kind": "conversion", "lead": {"leadId": "L1"}}\n{oops\n'
                    '{"kind": "return", "lead": {"leadId": "L3"}}\n')  # fmt: skip

    run = await cli("send", "--file", str(path), "--json", running=backchannel)

    assert run.code == 1, run.stderr
    summary = run.json()
    assert isinstance(summary, dict)
    assert (summary["sent"], summary["failed"], summary["stopped"]) == (1, 2, None)
    results = summary["results"]
    assert [r["item"] for r in results] == ["line 1", "line 2", "line 3"]
    assert results[0]["error"] is None and results[0]["feedbackId"].startswith("fb_")
    assert results[1]["error"]["message"].startswith("not JSON")
    assert results[2]["error"]["code"] == "INVALID_ARGUMENT"
    assert results[2]["requestId"].startswith("send-v1-")
