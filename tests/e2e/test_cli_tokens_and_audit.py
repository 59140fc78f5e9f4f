"""``backchannel tokens`` and ``backchannel audit`` against a server that requires a token,
and the CLI's care with it: the token goes only where it cannot be read on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.access import Secured
from support.cli_runs import Run, cli


async def run_cli(*args: str, env: dict[str, str]) -> Run:
    """``backchannel ARGS`` with ``env`` (which names the server) and no other
    BACKCHANNEL_* variable."""
    return await cli(*args, running=None, env=env)


def as_admin(secured: Secured, token: str | None = None) -> dict[str, str]:
    return {
        "BACKCHANNEL_SERVER": secured.running.address,
        "BACKCHANNEL_TOKEN": token or secured.admin_token.text,
    }


async def test_tokens_create_prints_the_text_once_and_it_works(secured: Secured) -> None:
    created = await run_cli(
        "tokens", "create", "--name", "crm-sync", "--scope", "recipients:read",
        "--source", "SOURCE_ABC", "--expires", "30d", env=as_admin(secured),
    )  # fmt: skip
    secret = created.stdout.strip()
    listed = await run_cli("recipients", "list", env=as_admin(secured, secret))
    tokens = await run_cli("tokens", "list", "--json", env=as_admin(secured))

    assert created.code == 0, created.stderr
    assert secret.startswith("bck_") and "shown only now" in created.stderr
    assert listed.code == 0, listed.stderr
    [crm] = [t for t in tokens.json_lines() if t["name"] == "crm-sync"]
    assert crm["scopes"] == ["recipients:read"] and crm["sourceIds"] == ["SOURCE_ABC"]
    expires = datetime.fromisoformat(str(crm["expireTime"]).replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    assert secret not in tokens.stdout


async def test_tokens_revoke_then_the_token_is_refused(secured: Secured) -> None:
    created = await run_cli(
        "tokens", "create", "--name", "temp", "--scope", "recipients:read", "--json",
        env=as_admin(secured),
    )  # fmt: skip
    answer = created.json()
    assert isinstance(answer, dict)

    revoked = await run_cli("tokens", "revoke", answer["token"]["id"], env=as_admin(secured))
    refused = await run_cli("recipients", "list", env=as_admin(secured, answer["secret"]))

    assert revoked.code == 0 and "revoked" in revoked.stdout
    assert refused.code == 8  # unauthenticated or denied
    assert "unauthenticated" in refused.stderr


async def test_a_missing_scope_is_named(secured: Secured) -> None:
    created = await run_cli(
        "tokens", "create", "--name", "reader", "--scope", "recipients:read",
        env=as_admin(secured),
    )  # fmt: skip

    refused = await run_cli(
        "tokens", "create", "--name", "x", "--scope", "recipients:read",
        env=as_admin(secured, created.stdout.strip()),
    )  # fmt: skip

    assert refused.code == 8
    assert "tokens:admin" in refused.stderr


async def test_audit_lists_who_changed_what(secured: Secured) -> None:
    await run_cli(
        "tokens", "create", "--name", "crm-sync", "--scope", "feedback:send",
        env=as_admin(secured),
    )  # fmt: skip

    run = await run_cli(
        "audit", "--action", "token.create", "--actor", "admin", env=as_admin(secured)
    )
    since_later = await run_cli(
        "audit", "--since", (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        env=as_admin(secured),
    )  # fmt: skip

    assert run.code == 0, run.stderr
    assert "admin" in run.stdout and "token.create" in run.stdout
    assert 'name: (none) -> "crm-sync"' in run.stdout
    assert since_later.code == 0 and since_later.stdout == ""


async def test_the_token_is_not_sent_in_plaintext_to_another_machine() -> None:
    run = await run_cli(
        "recipients", "list",
        env={"BACKCHANNEL_SERVER": "10.255.255.1:50051", "BACKCHANNEL_TOKEN": "bck_" + "A" * 43},
    )  # fmt: skip

    assert run.code == 3
    assert "refusing to send BACKCHANNEL_TOKEN over a plaintext connection" in run.stderr
    assert "--insecure" in run.stderr
    assert "bck_" not in run.stderr


async def test_tokens_bootstrap_makes_a_token_with_every_scope(database_url: str) -> None:
    run = await run_cli(
        "tokens", "bootstrap", "--name", "root", env={"BACKCHANNEL_DATABASE_URL": database_url}
    )

    assert run.code == 0, run.stderr
    assert run.stdout.strip().startswith("bck_")
    assert "with every scope" in run.stderr and "shown only now" in run.stderr
