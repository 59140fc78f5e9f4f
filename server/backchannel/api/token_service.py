"""backchannel.v1.TokenService: bearer tokens, created (text shown once), listed and
revoked. A caller hands on only what it holds: scopes among its own, sources and
recipients within its own grant; it lists and revokes only tokens it could have made."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
from backchannel_client.v1 import token_service_pb2, token_service_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from backchannel.api.audit_entries import audit_entry
from backchannel.api.caller import current_caller
from backchannel.api.conversions import timestamp
from backchannel.api.cursors import page_size_of
from backchannel.api.errors import ApiError, Violations, not_found
from backchannel.api.validation import RECIPIENT_ID, check_text
from backchannel.ids import new_id
from backchannel.model import FieldChange, Grant, NewToken, Scope, TokenRecord
from backchannel.store import tokens as token_store
from backchannel.token_secrets import new_token_text, token_digest

Context = grpc.aio.ServicerContext[Any, Any]

TOKEN_ID = re.compile(r"tok_[0-9a-z]{26}")
MAX_NAME = 100
MAX_IDS = 1000
MAX_SOURCE_ID = 1024
#: The longest life a token may be given.
MAX_TTL = timedelta(days=3650)
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31
_SCOPES = {s.value: s for s in Scope}


def token_message(token: TokenRecord) -> token_service_pb2.AccessToken:
    message = token_service_pb2.AccessToken(
        id=token.id,
        name=token.name,
        scopes=sorted(token.grant.scopes),
        source_ids=sorted(token.grant.source_ids),
        recipient_ids=sorted(token.grant.recipient_ids),
        create_time=timestamp(token.create_time),
        revoked=token.revoked,
        created_by=token.created_by,
    )
    for name in ("expire_time", "last_use_time", "revoke_time"):
        moment = getattr(token, name)
        if moment is not None:
            getattr(message, name).CopyFrom(timestamp(moment))
    return message


def _grant_of(request: token_service_pb2.CreateTokenRequest, v: Violations) -> Grant:
    if not request.name.strip():
        v.add("name", "is required: what the token is for, e.g. crm-sync")
    elif len(request.name) > MAX_NAME or not request.name.isprintable():
        v.add("name", f"must be at most {MAX_NAME} printable characters")
    if not request.scopes:
        v.add("scopes", "must name at least one scope")
    for index, name in enumerate(request.scopes):
        if name not in _SCOPES:
            v.add(f"scopes[{index}]", f"{name!r} is not a scope; scopes: {', '.join(_SCOPES)}")
    for field in ("scopes", "source_ids", "recipient_ids"):
        if len(getattr(request, field)) > MAX_IDS:
            v.add(field, f"must hold at most {MAX_IDS} values")
    for index, source_id in enumerate(request.source_ids):
        if not source_id or len(source_id) > MAX_SOURCE_ID:
            v.add(f"source_ids[{index}]", f"must be 1 to {MAX_SOURCE_ID} characters")
    for index, recipient_id in enumerate(request.recipient_ids):
        if not RECIPIENT_ID.fullmatch(recipient_id):
            v.add(f"recipient_ids[{index}]", "is not a recipient id")
    return Grant(
        scopes=frozenset(_SCOPES[s] for s in request.scopes if s in _SCOPES),
        source_ids=frozenset(request.source_ids),
        recipient_ids=frozenset(request.recipient_ids),
    )


def _in_range(moment: Timestamp) -> bool:
    return _MIN_SECONDS <= moment.seconds <= _MAX_SECONDS and 0 <= moment.nanos < 10**9


def _expire_time(
    request: token_service_pb2.CreateTokenRequest, now: datetime, v: Violations
) -> datetime | None:
    which = request.WhichOneof("expiration")
    if which == "expire_time":
        if not _in_range(request.expire_time):
            v.add("expire_time", "is not a valid time")
            return None
        moment = request.expire_time.ToDatetime(tzinfo=UTC)
        if moment <= now:
            v.add("expire_time", "must be in the future")
        elif moment - now > MAX_TTL:
            v.add("expire_time", "must be within 10 years")
        return moment
    if which == "ttl":
        ttl = request.ttl
        valid = abs(ttl.seconds) <= MAX_TTL.total_seconds() and abs(ttl.nanos) < 10**9
        if not valid or (ttl.seconds, ttl.nanos) <= (0, 0):
            v.add("ttl", "must be a positive duration of at most 10 years")
            return None
        life = ttl.ToTimedelta()
        if life > MAX_TTL:
            v.add("ttl", "must be a positive duration of at most 10 years")
            return None
        return now + life
    return None


def _beyond(holder: Grant, wanted: Grant) -> list[str]:
    """What ``wanted`` grants that ``holder`` does not, in words."""
    problems = [f"scope {s.value}" for s in sorted(wanted.scopes - holder.scopes)]
    for what, held, asked in (
        ("sources", holder.source_ids, wanted.source_ids),
        ("recipients", holder.recipient_ids, wanted.recipient_ids),
    ):
        if held and not asked:
            problems.append(f"every one of the {what} (the caller holds only some)")
        elif held and not asked <= held:
            problems.append(f"{what} {', '.join(sorted(asked - held))}")
    return problems


class TokenService(token_service_pb2_grpc.TokenServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def CreateToken(
        self, request: token_service_pb2.CreateTokenRequest, context: Context
    ) -> token_service_pb2.CreateTokenResponse:
        v = Violations()
        check_text(request, "", v, max_len=MAX_SOURCE_ID)
        now = datetime.now(UTC)
        grant = _grant_of(request, v)
        expire_time = _expire_time(request, now, v)
        v.raise_if_any()
        caller = current_caller()
        beyond = _beyond(caller.grant, grant)
        if beyond:
            raise ApiError(
                grpc.StatusCode.PERMISSION_DENIED,
                "GRANT_EXCEEDS_CALLER",
                "a token may be given only what its creator holds; the caller does not hold "
                + "; ".join(beyond),
            )
        text = new_token_text()
        token = NewToken(
            id=new_id("tok"),
            name=request.name,
            sha256=token_digest(text),
            grant=grant,
            expire_time=expire_time,
            created_by=caller.identity,
        )
        audit = audit_entry(
            context, "token.create", f"tokens/{token.id}", changes=token_changes(token)
        )
        stored = await token_store.create_token(self._pool, token, audit)
        return token_service_pb2.CreateTokenResponse(token=token_message(stored), secret=text)

    async def ListTokens(
        self, request: token_service_pb2.ListTokensRequest, context: Context
    ) -> token_service_pb2.ListTokensResponse:
        page_size = page_size_of(request.page_size)
        after = request.page_token
        if after and not TOKEN_ID.fullmatch(after):
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                "page_token is not a token returned by ListTokens",
                [("page_token", "is not a token returned by ListTokens")],
            )
        holder = current_caller().grant
        found: list[TokenRecord] = []
        while len(found) <= page_size:
            rows = await token_store.list_tokens(
                self._pool, after, page_size + 1, request.show_revoked
            )
            found += [t for t in rows if holder.covers(t.grant)]
            if len(rows) <= page_size:
                break
            after = rows[-1].id
        page = found[:page_size]
        return token_service_pb2.ListTokensResponse(
            tokens=[token_message(t) for t in page],
            next_page_token=page[-1].id if len(found) > page_size else "",
        )

    async def RevokeToken(
        self, request: token_service_pb2.RevokeTokenRequest, context: Context
    ) -> token_service_pb2.RevokeTokenResponse:
        if not TOKEN_ID.fullmatch(request.token_id):
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                "token_id is not a token id",
                [("token_id", "is required: a token id, e.g. tok_01hq...")],
            )
        token = await token_store.get_token(self._pool, request.token_id)
        if token is None or not current_caller().grant.covers(token.grant):
            raise not_found("token", request.token_id, "TOKEN_NOT_FOUND")
        revoked = await token_store.revoke_token(
            self._pool,
            request.token_id,
            audit_entry(
                context,
                "token.revoke",
                f"tokens/{token.id}",
                changes=(FieldChange("revoked", "false", "true"),),
                details=(("name", token.name),),
            ),
        )
        if revoked is None:
            raise not_found("token", request.token_id, "TOKEN_NOT_FOUND")
        return token_service_pb2.RevokeTokenResponse(token=token_message(revoked))


def token_changes(token: NewToken) -> tuple[FieldChange, ...]:
    """A new token as audited: what it may do, never its text or digest."""
    changes = [
        FieldChange("name", new_value=_quoted(token.name)),
        FieldChange("scopes", new_value=_list(sorted(token.grant.scopes))),
    ]
    if token.grant.source_ids:
        changes.append(FieldChange("source_ids", new_value=_list(sorted(token.grant.source_ids))))
    if token.grant.recipient_ids:
        changes.append(
            FieldChange("recipient_ids", new_value=_list(sorted(token.grant.recipient_ids)))
        )
    if token.expire_time is not None:
        changes.append(FieldChange("expire_time", new_value=_quoted(token.expire_time.isoformat())))
    return tuple(changes)


def _quoted(text: str) -> str:
    return json.dumps(text)


def _list(values: list[str]) -> str:
    return json.dumps(values)
