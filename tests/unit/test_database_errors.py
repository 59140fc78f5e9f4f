"""store.database.is_unavailable: only a database that cannot be used right now is worth
retrying as it is; a statement the server refuses is a fault."""

from __future__ import annotations

import asyncpg
import pytest

from backchannel.store.database import is_transient, is_unavailable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        OSError("network is unreachable"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another server"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InternalClientError("unexpected error while performing authentication"),
    ],
)
def test_lost_or_restarting_databases_are_unavailable(error: BaseException) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UndefinedTableError('relation "nowhere" does not exist'),
        asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        ValueError("not a database error at all"),
    ],
)
def test_wrong_statements_and_bad_data_are_not_unavailability(error: BaseException) -> None:
    assert not is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ],
)
def test_refusals_for_now_are_transient_but_not_unavailability(error: BaseException) -> None:
    assert is_transient(error) and not is_unavailable(error)


def test_a_wrong_statement_is_not_transient() -> None:
    assert not is_transient(asyncpg.UndefinedTableError('relation "nowhere" does not exist'))
