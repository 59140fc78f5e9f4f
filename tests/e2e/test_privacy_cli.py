"""``backchannel recipients apply`` manages a recipient's data policy and required consent
like its other fields: a changed file shows the change in the plan and applies it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from backchannel_client.v1 import recipient_pb2, recipient_service_pb2
from support.cli_runs import cli
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver


def _yaml(url: str, private: bool) -> str:
    policy = (
        """\
            data_policy:
              allowed_fields: [lead_id, outcome]
            required_consent_purposes: [share_with_partners]
        """
        if private
        else ""
    )
    return textwrap.dedent(
        f"""\
        recipients:
          - id: partner
            recipient_type: partner
            transport: webhook
            transport_settings: {{url: "{url}"}}
        """
    ) + textwrap.indent(textwrap.dedent(policy), "    ")


async def test_apply_sets_a_data_policy_and_required_consent(
    backchannel: RunningServer, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "recipients.yaml"
    path.write_text(_yaml(receiver.url, private=False))
    created = await cli("recipients", "apply", str(path), running=backchannel)
    path.write_text(_yaml(receiver.url, private=True))
    changed = await cli("recipients", "apply", str(path), "--json", running=backchannel)
    again = await cli("recipients", "apply", str(path), running=backchannel)
    stored = await backchannel.recipients.GetRecipient(
        recipient_service_pb2.GetRecipientRequest(recipient_id="partner")
    )

    assert created.code == changed.code == again.code == 0, changed.stderr
    plan = changed.json()
    assert isinstance(plan, dict)
    [step] = plan["plan"]
    assert step["action"] == "update"
    assert {c["field"] for c in step["changes"]} == {"data_policy", "required_consent_purposes"}
    assert "plan: 0 to create, 0 to update, 1 unchanged" in again.stdout
    assert list(stored.recipient.data_policy.allowed_fields) == ["lead_id", "outcome"]
    assert list(stored.recipient.required_consent_purposes) == ["share_with_partners"]
    assert stored.recipient.effective_data_policy.subject_access == (
        recipient_pb2.SUBJECT_ACCESS_EXCLUDED
    )
