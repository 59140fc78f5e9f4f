"""The first admin token, made on the database directly (``backchannel tokens
bootstrap``): with authentication on nobody can call the API before one exists. It may do
everything; its creation is audited as made by the local operator who ran the command."""

from __future__ import annotations

import asyncpg

from backchannel.ids import new_id
from backchannel.model import AuditEntry, FieldChange, Grant, NewToken, TokenRecord
from backchannel.store import tokens as token_store
from backchannel.token_secrets import new_token_text, token_digest


async def bootstrap_token(
    pool: asyncpg.Pool, name: str, operator: str, grant: Grant | None = None
) -> tuple[str, TokenRecord]:
    """A new token (every scope unless ``grant`` says less) and its text, shown once."""
    grant = grant or Grant()
    text = new_token_text()
    token = NewToken(
        id=new_id("tok"),
        name=name,
        sha256=token_digest(text),
        grant=grant,
        expire_time=None,
        created_by=f"local:{operator}",
    )
    audit = AuditEntry(
        actor=f"local:{operator}",
        actor_kind="local",
        actor_token_id="",
        action="token.create",
        target=f"tokens/{token.id}",
        changes=(
            FieldChange("name", new_value=f'"{name}"'),
            FieldChange("scopes", new_value=", ".join(sorted(grant.scopes))),
        ),
        details=(("how", "tokens bootstrap"),),
    )
    return text, await token_store.create_token(pool, token, audit)
