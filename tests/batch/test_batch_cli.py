"""``backchannel batches``: preview the next file without sending it, run it, list the
recipient's batches, see one, against a real server."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.batch_calls import backchannel_cli, batch_recipient, create, finished, send_feedback
from support.in_process_server import RunningServer, serving
from support.receiver import WebhookReceiver


@pytest.fixture
async def server(database_url: str, receiver: WebhookReceiver) -> AsyncIterator[RunningServer]:
    async with serving(database_url) as running:
        await create(
            running.channel,
            batch_recipient(
                "files",
                "webhook",
                {"url": receiver.url},
                {},
                {
                    "schedule": {"cron": "0 2 * * *"},
                    "file": {"nameTemplate": "fb-{sequence}.{ext}"},
                },
                {"fields": ["lead_id", "outcome.value"]},
            ),
        )
        await send_feedback(running.channel, "files", 3)
        yield running


async def test_a_dry_run_prints_the_next_file_and_its_first_rows_and_sends_nothing(
    server: RunningServer, receiver: WebhookReceiver
) -> None:
    code, out, err = await backchannel_cli(
        server.address, "batches", "run", "files", "--dry-run", "--rows", "2"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "next file: fb-1.csv (3 feedback items waiting)"
    assert lines[1:] == ["lead_id,outcome.value", "lead-0,1250.00", "lead-1,1250.00"]
    code, out, _ = await backchannel_cli(server.address, "batches", "list", "files")
    assert (code, out.strip()) == (0, "files has no batches yet")
    assert receiver.requests == []


async def test_run_list_and_get_show_the_batch(server: RunningServer) -> None:
    code, out, err = await backchannel_cli(
        server.address, "batches", "run", "files", "--requested-by", "ops", "--json"
    )
    assert code == 0, err
    batch_id = json.loads(out)["batch"]["id"]
    await finished(server.channel, batch_id)
    code, out, _ = await backchannel_cli(server.address, "batches", "list", "files")
    assert code == 0 and batch_id in out and "succeeded" in out and "fb-1.csv" in out
    code, out, _ = await backchannel_cli(server.address, "batches", "get", batch_id)
    assert code == 0 and out.count("  item ") == 3 and "attempt 1: succeeded 204" in out
    code, _, err = await backchannel_cli(server.address, "batches", "retry", batch_id)
    assert code == 7 and "only failed, dead or held" in err


async def test_recipients_apply_takes_a_batch_recipient_from_yaml(
    server: RunningServer, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    key = tmp_path / "never-used.asc"
    key.write_text("not a key")
    spec = tmp_path / "recipients.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            recipients:
              - id: nightly
                recipient_type: system
                transport: webhook
                transport_settings: {{url: "{receiver.url}"}}
                format: csv
                format_options: {{fields: [lead_id, outcome.value]}}
                batch:
                  schedule: {{cron: "0 2 * * *", time_zone: America/New_York}}
                  when_empty: empty_file
                  file: {{format: xlsx, compression: zip, done_marker: true}}
                  invalid_rows: hold
            """
        )
    )
    code, out, err = await backchannel_cli(server.address, "recipients", "apply", str(spec))
    assert code == 0, out + err
    code, out, _ = await backchannel_cli(server.address, "recipients", "get", "nightly", "--json")
    batch = json.loads(out)["batch"]
    assert batch["file"] == {
        "format": "BATCH_FILE_FORMAT_XLSX",
        "compression": "BATCH_COMPRESSION_ZIP",
        "doneMarker": True,
    }
    assert batch["whenEmpty"] == "BATCH_WHEN_EMPTY_EMPTY_FILE"
    assert batch["invalidRows"] == "BATCH_INVALID_ROWS_HOLD"
    # Applying it again changes nothing.
    code, out, err = await backchannel_cli(server.address, "recipients", "apply", str(spec))
    assert code == 0 and "= unchanged nightly" in out, out + err
    text = spec.read_text().replace(
        "      file: {", f"      encryption: {{public_key: {{file: {key}}}}}\n      file: {{"
    )
    spec.write_text(text)
    code, _, err = await backchannel_cli(server.address, "recipients", "apply", str(spec))
    assert code == 5 and "recipient.batch.encryption.public_key" in err
