"""The operator commands of ``backchannel``, run as a subprocess against a real server:
send (flags, files, stdin), events (list, --json, --follow), feedback get, recipients
apply (plan, apply, unchanged), and errors in words with exit codes that mean them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import re
import signal
import textwrap
from pathlib import Path

import pytest
from backchannel_client.v1 import feedback_pb2, feedback_service_pb2, recipient_service_pb2
from support.cli_runs import BACKCHANNEL, COMMAND_TIMEOUT, cli, environment
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer
from support.postgres_cluster import free_port
from support.receiver import WebhookReceiver
from support.webhook_recipients import create_webhook_recipient


async def stored_feedback_ids(running: RunningServer, ids: list[str]) -> list[str]:
    found = []
    for feedback_id in ids:
        answer = await running.feedback.GetFeedback(
            feedback_service_pb2.GetFeedbackRequest(feedback_id=feedback_id)
        )
        found.append(answer.feedback.id)
    return found


# --- send --------------------------------------------------------------------------------


async def test_send_with_flags_stores_the_feedback_and_names_its_delivery(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)

    run = await cli(
        "send", "--kind", "conversion", "--lead-id", "LC123456789", "--source-id",
        "SOURCE_ABC", "--status", "converted", "--value", "1250.00", "--currency", "usd",
        "--product", "home_insurance", "--score", "85", "--quality", "data_quality=90",
        "--recipient", "acme", "--json",
        running=backchannel,
    )  # fmt: skip

    assert run.code == 0, run.stderr
    answer = run.json()
    assert isinstance(answer, dict)
    feedback = answer["feedback"]
    assert feedback["lead"] == {"leadId": "LC123456789", "sourceId": "SOURCE_ABC"}
    assert feedback["outcome"]["value"] == {"currencyCode": "USD", "amount": "1250.00"}
    assert feedback["quality"] == {"overallScore": 85.0, "dimensions": {"data_quality": 90.0}}
    assert [d["recipientId"] for d in answer["deliveries"]] == ["acme"]
    event = await wait_for_event(backchannel, feedback["id"])
    assert event.recipient_id == "acme"


async def test_send_says_in_words_what_was_sent(backchannel: RunningServer) -> None:
    run = await cli(
        "send", "--kind", "return", "--lead-id", "L1", "--return-reason", "DUPLICATE",
        "--request-id", "words-1",
        running=backchannel,
    )  # fmt: skip

    assert run.code == 0, run.stderr
    assert run.stdout.startswith("sent feedback fb_")
    assert "(request id words-1)" in run.stdout
    assert "no recipient" in run.stdout


async def test_send_from_a_jsonl_file_sends_every_line_with_its_own_request_id(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, tmp_path: Path
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    lines = [
        {"kind": "FEEDBACK_KIND_CONVERSION", "lead": {"leadId": "L1"}},
        {"kind": "FEEDBACK_KIND_QUALITY", "lead": {"leadId": "L2"},
         "quality": {"overallScore": 70}},
        {
            "requestId": "chosen-3",
            "recipientIds": [],
            "feedback": {"kind": "FEEDBACK_KIND_RETURN", "lead": {"leadId": "L3"},
                         "returnDetails": {"reasonCode": "BAD_PHONE"}},
        },
    ]  # fmt: skip
    path = tmp_path / "feedback.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    run = await cli("send", "--file", str(path), "--recipient", "acme", "--json",
                    running=backchannel)  # fmt: skip

    assert run.code == 0, run.stderr
    summary = run.json()
    assert isinstance(summary, dict)
    assert (summary["sent"], summary["failed"]) == (3, 0)
    results = summary["results"]
    assert [r["item"] for r in results] == ["line 1", "line 2", "line 3"]
    request_ids = [r["requestId"] for r in results]
    assert len(set(request_ids)) == 3 and request_ids[2] == "chosen-3"
    assert [[d["recipientId"] for d in r["deliveries"]] for r in results] == [["acme"]] * 3
    ids = [r["feedbackId"] for r in results]
    assert await stored_feedback_ids(backchannel, ids) == ids
    assert "3/3 done" in run.stderr  # plain counts when stderr is not a terminal


async def test_send_from_a_file_draws_a_progress_bar_on_a_terminal(
    backchannel: RunningServer, tmp_path: Path
) -> None:
    path = tmp_path / "feedback.json"
    path.write_text(
        json.dumps([{"kind": "FEEDBACK_KIND_CONVERSION", "lead": {"leadId": f"L{i}"}}
                    for i in range(4)])
    )  # fmt: skip
    terminal, stderr = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            BACKCHANNEL, "send", "--file", str(path), env=environment(backchannel),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        os.close(stderr)
        out, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
        drawn = b""
        with contextlib.suppress(OSError):  # EIO once the program's end is closed
            while chunk := os.read(terminal, 4096):
                drawn += chunk
    finally:
        os.close(terminal)

    assert process.returncode == 0
    assert b"\rsending [##############################] 4/4 done  " in drawn
    assert re.search(rb"4/4 done  [0-9.]+/s, 0:00 left", drawn), drawn
    assert out.decode() == "sent 4 of 4 feedbacks, 0 failed\n"


async def test_send_from_csv_on_stdin_reports_each_bad_row_once_sends_the_rest_and_exits_1(
    backchannel: RunningServer,
) -> None:
    csv_text = textwrap.dedent(
        """\
        request_id,kind,lead_id,source_id,value,currency,quality.data_quality
        csv-1,conversion,L1,SRC,10.50,USD,90
        csv-2,conversion,L2,SRC,not-money,USD,
        csv-3,quality,L3,SRC,,,75
        """
    )

    run = await cli("send", "--file", "-", "--format", "csv", running=backchannel, stdin=csv_text)

    assert run.code == 1, run.stderr  # some were sent: a partial failure
    assert "line 3 (request id csv-2): invalid argument: request has 1 invalid field\n" in (
        run.stderr
    )
    assert run.stderr.count("feedback.outcome.value.amount:") == 1
    assert "sent 2 of 3 feedbacks, 1 failed" in run.stdout


async def test_a_file_with_an_unreadable_line_sends_nothing_with_all_or_nothing(
    backchannel: RunningServer, tmp_path: Path
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"kind": "FEEDBACK_KIND_CONVERSION", "lead": {"leadId": "L1"}}\n{oops\n')

    run = await cli("send", "--file", str(path), "--all-or-nothing", running=backchannel)

    assert run.code == 5
    assert "1 of 2 items are not valid feedback; nothing was sent" in run.stderr
    assert "line 2: not JSON" in run.stderr


# --- errors ------------------------------------------------------------------------------


async def test_a_bad_request_prints_every_field_violation_once_and_exits_5(
    backchannel: RunningServer,
) -> None:
    run = await cli(
        "send", "--kind", "quality", "--lead-id", "L1", "--score", "150",
        "--quality", "data_quality=-5", "--recipient", "Not An Id",
        running=backchannel,
    )  # fmt: skip

    assert run.code == 5
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert lines[0] == "backchannel: invalid argument: request has 3 invalid fields"
    assert "  recipient_ids[0]: is not a valid recipient id" in lines
    assert any(line.startswith("  feedback.quality.overall_score: ") for line in lines)
    assert any(line.startswith("  feedback.quality.dimensions['data_quality']: ") for line in lines)


async def test_a_bad_request_with_json_prints_the_error_as_json_on_stderr(
    backchannel: RunningServer,
) -> None:
    run = await cli("send", "--kind", "quality", "--lead-id", "L1", "--score", "150", "--json",
                    running=backchannel)  # fmt: skip

    assert run.code == 5
    error = json.loads(run.stderr)["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in error["fieldViolations"]] == ["feedback.quality.overall_score"]


async def test_an_unknown_feedback_exits_4(backchannel: RunningServer) -> None:
    run = await cli("feedback", "get", "fb_nothing", running=backchannel)

    assert run.code == 4
    assert "not found [FEEDBACK_NOT_FOUND]: feedback 'fb_nothing' does not exist" in run.stderr


async def test_an_unreachable_server_exits_6_and_says_so() -> None:
    address = f"127.0.0.1:{free_port()}"

    run = await cli("recipients", "list", "--server", address, running=None)

    assert run.code == 6
    assert f"the Backchannel server at {address} cannot be reached" in run.stderr
    assert "--server or BACKCHANNEL_SERVER" in run.stderr


async def test_deliver_without_a_database_exits_3_and_names_the_setting() -> None:
    run = await cli("deliver", running=None)

    assert run.code == 3
    assert "deliver needs BACKCHANNEL_DATABASE_URL" in run.stderr


async def test_a_bad_command_line_exits_2() -> None:
    run = await cli("send", "--kind", "conversion", running=None)

    assert run.code == 2
    assert "give --kind and --lead-id" in run.stderr


async def test_an_unknown_option_shows_the_usage_of_its_subcommand() -> None:
    send = await cli("send", "--bogus", running=None)
    apply = await cli("recipients", "apply", "r.yaml", "--nope", running=None)

    assert send.code == apply.code == 2
    assert send.stderr.startswith("usage: backchannel send ")
    assert "backchannel send: error: unrecognized arguments: --bogus" in send.stderr
    assert apply.stderr.startswith("usage: backchannel recipients apply ")
    assert "unrecognized arguments: --nope" in apply.stderr


# --- events and feedback get -------------------------------------------------------------


async def test_events_json_prints_one_event_per_line_and_feedback_get_shows_the_attempts(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    sent = await cli("send", "--kind", "conversion", "--lead-id", "LC1", "--recipient", "acme",
                     "--json", running=backchannel)  # fmt: skip
    feedback_id = sent.json()["feedback"]["id"]  # type: ignore[index]
    event = await wait_for_event(backchannel, feedback_id)

    listed = await cli("events", "--json", "--recipient", "acme", running=backchannel)
    none = await cli("events", "--json", "--lead", "nobody", running=backchannel)
    table = await cli("events", "--status", "succeeded", running=backchannel)
    shown = await cli("feedback", "get", feedback_id, running=backchannel)
    shown_json = await cli("feedback", "get", feedback_id, "--json", running=backchannel)

    assert listed.code == none.code == table.code == shown.code == shown_json.code == 0
    [line] = listed.json_lines()
    assert line["eventId"] == event.event_id and line["cursor"] == event.cursor
    assert line["processingStatus"] == "PROCESSING_STATUS_SUCCEEDED"
    assert none.stdout == ""
    header, row = table.stdout.splitlines()
    assert header.split() == ["TIME", "STATUS", "RECIPIENT", "TRY", "CODE", "LATENCY",
                              "FEEDBACK", "LEAD"]  # fmt: skip
    assert row.split()[1:5] == ["succeeded", "acme", "1", "204"]
    assert f"feedback {feedback_id}" in shown.stdout
    assert "to acme: succeeded, 1 attempt" in shown.stdout
    assert "#1 " in shown.stdout and "succeeded  204" in shown.stdout
    deliveries = shown_json.json()["deliveries"]  # type: ignore[index]
    assert deliveries[0]["attempts"][0]["eventId"] == event.event_id


async def test_events_follow_prints_new_events_live_and_ends_on_ctrl_c(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    # From the beginning of a log that holds nothing yet: the feedback sent below is new
    # whether the command has subscribed by then (it arrives live) or not (it is replayed);
    # "from now" would miss it on a machine slow to start the command.
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "events", "--follow", "--from-beginning", "--json",
        env=environment(backchannel),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        answer = await backchannel.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id="live-1",
                feedback=feedback_pb2.Feedback(
                    kind=feedback_pb2.FEEDBACK_KIND_CONVERSION,
                    lead=feedback_pb2.LeadReference(lead_id="LIVE"),
                ),
                recipient_ids=["acme"],
            )
        )
        line = await asyncio.wait_for(process.stdout.readline(), COMMAND_TIMEOUT)
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), COMMAND_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    event = json.loads(line)
    assert event["feedbackId"] == answer.feedback.id and event["leadId"] == "LIVE"
    assert code == 0


async def test_events_since_takes_a_duration_before_now_as_well_as_a_time(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    sent = await cli("send", "--kind", "conversion", "--lead-id", "LC1", "--recipient", "acme",
                     "--json", running=backchannel)  # fmt: skip
    await wait_for_event(backchannel, sent.json()["feedback"]["id"])  # type: ignore[index]

    hour = await cli("events", "--since", "1h", "--json", running=backchannel)
    later = await cli("events", "--since", "2999-01-01T00:00:00Z", "--json", running=backchannel)
    audit = await cli("audit", "--since", "30m", "--until", "1d", running=backchannel)
    wrong = await cli("events", "--since", "1 fortnight", running=backchannel)

    assert hour.code == later.code == audit.code == 0, hour.stderr + audit.stderr
    assert [e["leadId"] for e in hour.json_lines()] == ["LC1"]
    assert later.stdout == ""
    assert audit.stdout == ""  # until a day ago: nothing yet
    assert wrong.code == 2
    assert "nor a duration before now like 30m, 1h, 2d" in wrong.stderr


async def _on_a_terminal(
    backchannel: RunningServer, env: dict[str, str], *args: str
) -> tuple[int | None, list[str], bytes]:
    """``backchannel ARGS`` with its standard output on a pseudo-terminal: its exit code,
    the lines the terminal showed and its standard error."""
    terminal, stdout = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            BACKCHANNEL, *args, env=environment(backchannel, env),
            stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        os.close(stdout)
        _, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the program's end is closed
            while chunk := os.read(terminal, 4096):
                shown += chunk
    finally:
        os.close(terminal)
    return process.returncode, shown.decode().splitlines(), err


async def test_events_and_audit_page_through_the_pager_on_a_terminal_only(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    await create_webhook_recipient(backchannel, "acme", receiver.url, signing_secret)
    sent = await cli("send", "--kind", "conversion", "--lead-id", "LC1", "--recipient", "acme",
                     "--json", running=backchannel)  # fmt: skip
    await wait_for_event(backchannel, sent.json()["feedback"]["id"])  # type: ignore[index]
    pager = {"PAGER": "sed s/^/paged:/"}

    code, lines, err = await _on_a_terminal(backchannel, pager, "events")
    audit_code, audit_lines, audit_err = await _on_a_terminal(backchannel, pager, "audit")
    piped = await cli("events", running=backchannel, env=pager)
    audit_piped = await cli("audit", running=backchannel, env=pager)

    assert code == 0, err
    assert lines[0].startswith("paged:TIME") and lines[1].startswith("paged:")
    assert "LC1" in lines[1]
    assert piped.code == 0
    assert "paged:" not in piped.stdout and piped.stdout.startswith("TIME")
    # The recipient's creation is the trail's one record (anonymous: no authentication),
    # a line for it and one per field it set.
    assert audit_code == 0, audit_err
    assert audit_lines and all(line.startswith("paged:") for line in audit_lines)
    assert "recipient.create" in audit_lines[0]
    assert audit_piped.code == 0 and audit_piped.stdout.count("recipient.create") == 1
    assert "paged:" not in audit_piped.stdout


# --- recipients apply --------------------------------------------------------------------


def recipients_yaml(url: str, timeout: int = 5) -> str:
    return textwrap.dedent(
        f"""\
        recipients:
          - id: acme-leads
            display_name: ACME leads
            recipient_type: source
            transport: webhook
            format: json
            transport_settings:
              url: {url}
              timeout_seconds: {timeout}
            secret_settings:
              signing_secrets: {{env: ACME_SIGNING_SECRET}}
            subscription:
              kinds: [conversion, return]
          - id: crm
            recipientType: RECIPIENT_TYPE_SYSTEM
            transport: webhook
            transportSettings: {{url: "{url}"}}
            state: paused
        """
    )


async def test_recipients_apply_shows_a_plan_applies_it_and_then_finds_nothing_to_change(
    backchannel: RunningServer,
    receiver: WebhookReceiver,
    signing_secret: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_SIGNING_SECRET", signing_secret)
    path = tmp_path / "recipients.yaml"
    path.write_text(recipients_yaml(receiver.url))

    dry = await cli("recipients", "apply", str(path), "--dry-run", running=backchannel)
    first = await cli("recipients", "apply", str(path), running=backchannel)
    second = await cli("recipients", "apply", str(path), running=backchannel)
    path.write_text(recipients_yaml(receiver.url, timeout=9))
    changed = await cli("recipients", "apply", str(path), "--json", running=backchannel)

    for run in (dry, first, second, changed):
        assert run.code == 0, run.stderr
        assert signing_secret not in run.stdout + run.stderr
    assert dry.stdout.splitlines()[0] == "+ create acme-leads"
    assert "    secret_settings.signing_secrets: (secret set)" in dry.stdout
    # Enums by short name, as the file may write them.
    assert '    recipient_type: "source"' in dry.stdout
    assert '    recipient_type: "system"' in dry.stdout
    assert '    subscription: {"kinds": ["conversion", "return"]}' in dry.stdout
    assert '    state: "paused"' in dry.stdout
    assert "RECIPIENT_" not in dry.stdout and "FEEDBACK_KIND_" not in dry.stdout
    assert "plan: 2 to create, 0 to update, 0 unchanged" in dry.stdout
    assert dry.stdout.rstrip().endswith("dry run: nothing was changed")
    assert "plan: 2 to create" in first.stdout
    assert "created acme-leads" in first.stdout and "created crm" in first.stdout
    assert second.stdout.splitlines() == [
        "= unchanged acme-leads",
        "= unchanged crm",
        "plan: 0 to create, 0 to update, 2 unchanged",
        "nothing to change",
    ]
    plan = changed.json()
    assert isinstance(plan, dict) and plan["applied"] is True and plan["errors"] == []
    assert plan["plan"] == [
        {
            "id": "acme-leads",
            "action": "update",
            "changes": [{"field": "transport_settings.timeout_seconds", "from": 5.0, "to": 9.0}],
        },
        {"id": "crm", "action": "unchanged", "changes": []},
    ]
    stored = await backchannel.recipients.GetRecipient(
        recipient_service_pb2.GetRecipientRequest(recipient_id="acme-leads")
    )
    assert stored.recipient.transport_settings["timeout_seconds"] == 9
    assert list(stored.recipient.secret_setting_names) == ["signing_secrets"]
    assert list(stored.recipient.subscription.kinds) == [1, 2]


async def test_recipients_get_and_list_show_secrets_only_as_set(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> None:
    created = await cli(
        "recipients", "create", "acme", "--type", "source", "--transport", "webhook",
        "--setting", f"url={receiver.url}", "--secret", f"signing_secrets={signing_secret}",
        running=backchannel,
    )  # fmt: skip
    shown = await cli("recipients", "get", "acme", running=backchannel)
    listed = await cli("recipients", "list", running=backchannel)

    for run in (created, shown, listed):
        assert run.code == 0, run.stderr
        assert signing_secret not in run.stdout
    assert "    signing_secrets: (secret set)" in shown.stdout
    assert listed.stdout.splitlines()[1].split() == [
        "acme", "source", "webhook", "json", "active", "closed", "signing_secrets",
    ]  # fmt: skip
