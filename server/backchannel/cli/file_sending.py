"""Sending the items of a file, ``concurrency`` at a time, so that a run can stop early
and be continued: on Ctrl-C, or as soon as the server is unavailable beyond the client's
retries of one item (a server that is down fails the run, not every one of its lines).

Only ``concurrency`` items are ever in flight, so stopping waits for nothing queued; the
items in flight when the run stops may or may not have been stored, and sending them again
is safe (their request ids are the same)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from backchannel_client import BackchannelError, Client, SendFeedbackRequest, SendFeedbackResponse

_UNAVAILABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@dataclass(frozen=True)
class Outcome:
    """What became of one sent item (``index`` into the items given)."""

    index: int
    response: SendFeedbackResponse | None = None
    error: BackchannelError | None = None


@dataclass
class FileRun:
    total: int
    outcomes: dict[int, Outcome]
    interrupted: bool = False
    #: The error that stopped the run because the server was unavailable.
    unavailable: BackchannelError | None = None

    def answered(self, index: int) -> bool:
        """Whether item ``index`` got an answer: sent, or refused for good. Not when it was
        never sent, failed as unavailable, or was in flight at the stop (it may have been
        stored: sending it again is safe)."""
        outcome = self.outcomes.get(index)
        return outcome is not None and (outcome.error is None or not is_unavailable(outcome.error))

    def resume_index(self) -> int | None:
        """The first item without an answer (every one before it has one), or None."""
        return next((i for i in range(self.total) if not self.answered(i)), None)

    def unanswered(self) -> int:
        return sum(1 for index in range(self.total) if not self.answered(index))


def is_unavailable(error: BackchannelError) -> bool:
    return error.code in _UNAVAILABLE


def send_requests(
    client: Client,
    requests: Sequence[SendFeedbackRequest],
    concurrency: int,
    on_outcome: Callable[[Outcome], None],
) -> FileRun:
    """Sends ``requests`` in order, at most ``concurrency`` in flight. Stops taking new
    ones on Ctrl-C (``interrupted``) or when one fails for unavailability after its retries
    (``unavailable``); returns what is known then."""
    run = FileRun(len(requests), {})
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency)
    in_flight: dict[concurrent.futures.Future[Outcome], int] = {}

    def send(index: int) -> Outcome:
        request = requests[index]
        try:
            answer = client.send_feedback(
                request.feedback, request.recipient_ids, request.request_id
            )
        except BackchannelError as error:
            return Outcome(index, error=error)
        return Outcome(index, response=answer)

    def collect() -> None:
        done, _ = concurrent.futures.wait(in_flight, return_when="FIRST_COMPLETED")
        for future in done:
            del in_flight[future]
            outcome = future.result()
            run.outcomes[outcome.index] = outcome
            on_outcome(outcome)
            error = outcome.error
            if error is not None and is_unavailable(error) and run.unavailable is None:
                run.unavailable = error

    try:
        for index in range(len(requests)):
            while len(in_flight) >= concurrency:
                collect()
            if run.unavailable is not None:
                break
            in_flight[pool.submit(send, index)] = index
        while in_flight:
            collect()
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        # Calls still in flight end when the caller closes the client.
        pool.shutdown(wait=False, cancel_futures=True)
    return run
