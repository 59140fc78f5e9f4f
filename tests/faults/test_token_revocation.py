"""Revoking a token reaches every replica within seconds: two ``backchannel serve``
processes on one database, each caching verified tokens for five minutes, so only the
revocation's NOTIFY (not the cache expiring) can make the other one refuse in time. The
first admin token is made as an operator makes it, with ``backchannel tokens bootstrap``.
"""

from __future__ import annotations

import asyncio
import json
import os

import grpc
from backchannel_client.v1 import recipient_service_pb2, token_service_pb2
from support.access import calls_as, new_token
from support.polling import eventually
from support.server_process import BACKCHANNEL, ServerLauncher


async def bootstrap_with_the_cli(database_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["BACKCHANNEL_DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        BACKCHANNEL, "tokens", "bootstrap", "--name", "root", "--json", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    secret: str = json.loads(stdout)["secret"]
    return secret


async def test_a_token_revoked_on_one_replica_is_refused_by_the_other_within_seconds(
    database_url: str,
) -> None:
    async with ServerLauncher(database_url, auth="on", token_cache_seconds=300) as launcher:
        first = await launcher.start()
        second = await launcher.start()
        assert first.channel is not None and second.channel is not None
        admin_text = await bootstrap_with_the_cli(database_url)
        on_first = calls_as(first.channel, admin_text)
        token = await new_token(on_first, "short-lived", ["recipients:read"])
        on_second = calls_as(second.channel, token.text)
        # Verified, and now cached by the second replica.
        await on_second.recipients.ListRecipients(recipient_service_pb2.ListRecipientsRequest())

        await on_first.tokens.RevokeToken(token_service_pb2.RevokeTokenRequest(token_id=token.id))

        async def refused_by_the_second() -> bool:
            try:
                await on_second.recipients.ListRecipients(
                    recipient_service_pb2.ListRecipientsRequest()
                )
            except grpc.aio.AioRpcError as error:
                return error.code() == grpc.StatusCode.UNAUTHENTICATED
            return False

        assert await eventually(refused_by_the_second, timeout=5)
        # The admin token, never revoked, still works there.
        await calls_as(second.channel, admin_text).recipients.ListRecipients(
            recipient_service_pb2.ListRecipientsRequest()
        )
