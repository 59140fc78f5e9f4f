"""Secret settings are stored sealed: a dump of the whole database holds none of them, in
any spelling, while the servers still deliver with them. Secrets an earlier version stored
in plain text are sealed at the first start."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import asyncssh
from backchannel_client.v1 import feedback_service_pb2, recipient_service_pb2
from support.brief_example import brief_example_feedback
from support.database_dump import dump_database
from support.feedback_calls import wait_for_event
from support.in_process_server import RunningServer, serving
from support.postgres_cluster import PostgresCluster
from support.receiver import WebhookReceiver
from support.secret_recipients import (
    BEARER_TOKEN,
    SecretKinds,
    every_kind_of_secret,
)
from support.smtp_server import Certificates
from support.teams_receiver import self_signed_certificate

from backchannel.store.migrations import bundled_migrations


def kinds_of_secret(tmp_path: Path) -> SecretKinds:
    """Recipients of every kind of secret, pointing at ports nothing listens on (storing
    them is what is tested here, not sending)."""
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    teams_ca = self_signed_certificate(tmp_path).pem
    return every_kind_of_secret(
        "http://127.0.0.1:9",
        ("127.0.0.1", 2222, f"[127.0.0.1]:2222 {host_key.strip()}"),
        ("127.0.0.1", 2525, Certificates.create(tmp_path).ca_pem),
        ("https://127.0.0.1:9/workflows/x/triggers/manual/paths/invoke?sv=1.0&sig=", teams_ca),
    )


def found_in(text: str, spellings: list[str]) -> list[str]:
    """The spellings ``text`` holds, shown by their length only."""
    return [f"a spelling of {len(s)} characters" for s in spellings if s in text]


async def test_a_dump_of_the_database_holds_no_spelling_of_any_secret(
    backchannel: RunningServer, postgres: PostgresCluster, database_url: str, tmp_path: Path
) -> None:
    kinds = kinds_of_secret(tmp_path)
    for recipient in kinds.recipients:
        await backchannel.recipients.CreateRecipient(
            recipient_service_pb2.CreateRecipientRequest(recipient=recipient)
        )

    dump = await dump_database(postgres, database_url)

    assert "wh-bearer" in dump
    assert found_in(dump, kinds.spellings()) == []


async def test_what_an_earlier_version_stored_in_plain_text_is_sealed_at_the_first_start(
    postgres: PostgresCluster, database_url: str, receiver: WebhookReceiver
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await schema_of_version(connection, 4)
        await connection.execute(
            "INSERT INTO recipients (id, recipient_type, transport, format, state,"
            " transport_settings, secret_settings) VALUES ('old', 'partner', 'webhook', 'json',"
            " 'active', $1::jsonb, $2::jsonb)",
            f'{{"url": "{receiver.url}", "auth": "bearer"}}',
            f'{{"bearer_token": "{BEARER_TOKEN}"}}',
        )
    finally:
        await connection.close()

    async with serving(database_url) as running:
        dump = await dump_database(postgres, database_url)
        sent = await running.feedback.SendFeedback(
            feedback_service_pb2.SendFeedbackRequest(
                request_id="after-sealing", feedback=brief_example_feedback()
            )
        )
        await wait_for_event(running, sent.feedback.id)

    assert BEARER_TOKEN not in dump
    [delivered] = receiver.requests
    assert delivered.headers["authorization"] == f"Bearer {BEARER_TOKEN}"


async def schema_of_version(connection: asyncpg.Connection, version: int) -> None:
    """The database as migrations up to ``version`` left it: an earlier release's schema."""
    await connection.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in bundled_migrations():
        if migration.version <= version:
            await connection.execute(migration.text)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
