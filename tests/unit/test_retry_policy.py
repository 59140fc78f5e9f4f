"""retry_policy.next_step: what follows an attempt (done, retry when, fail, give up)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backchannel.delivery.retry_policy import (
    MAX_RETRY_AFTER_SECONDS,
    NextStep,
    RetryPolicy,
    next_step,
)
from backchannel.model import RecipientRecord
from backchannel.plugin import DeliveryResult
from backchannel.settings import DEFAULT_RETRY_SCHEDULE

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
#: Draws enough that a jitter narrower than +-20%, or none, shows up.
DRAWS = 2000

FAILED_500 = DeliveryResult(succeeded=False, retryable=True, remote_code=500)
NO_ANSWER = DeliveryResult(succeeded=False, retryable=True)
BAD_REQUEST = DeliveryResult(succeeded=False, retryable=False, remote_code=400)


def policy(
    *delays: float, max_attempts: int = 10, max_age: float | None = None, throttle: float = 5.0
) -> RetryPolicy:
    return RetryPolicy(delays, max_attempts, max_age, throttle)


def step(
    result: DeliveryResult,
    retry_policy: RetryPolicy,
    attempt: int = 1,
    policy_start: datetime = NOW,
) -> NextStep:
    return next_step(attempt, result, retry_policy, NOW, policy_start)


def delay_of(next_one: NextStep) -> float:
    assert next_one.next_attempt_time is not None, next_one
    return (next_one.next_attempt_time - NOW).total_seconds()


def recipient(**policy_fields: object) -> RecipientRecord:
    values: dict[str, object] = {
        "id": "acme",
        "display_name": "",
        "recipient_type": "source",
        "transport": "webhook",
        "transport_settings": {},
        "sealed_secrets": {},
        "format": "json",
        "format_options": {},
        "subscribed_kinds": (),
        "subscribed_source_ids": (),
        "state": "active",
        "revision": 1,
        "create_time": NOW,
        "update_time": NOW,
    }
    values.update(policy_fields)
    return RecipientRecord(**values)  # type: ignore[arg-type]


def test_success_is_final() -> None:
    assert step(DeliveryResult(succeeded=True, remote_code=204), policy(1.0)) == NextStep(
        "succeeded", "succeeded", None
    )


@pytest.mark.parametrize(("attempt", "delay"), [(1, 10.0), (2, 60.0), (3, 600.0)])
def test_nth_failure_waits_the_nth_delay_of_the_schedule(attempt: int, delay: float) -> None:
    next_one = step(FAILED_500, policy(10.0, 60.0, 600.0), attempt=attempt)
    assert (next_one.delivery_state, next_one.processing_status) == ("pending", "retry_scheduled")
    assert delay * 0.8 <= delay_of(next_one) <= delay * 1.2


def test_failures_beyond_the_schedule_repeat_its_last_delay() -> None:
    assert 48.0 <= delay_of(step(FAILED_500, policy(10.0, 60.0), attempt=7)) <= 72.0


def test_jitter_spreads_delays_over_plus_minus_20_percent_and_no_further() -> None:
    delays = [delay_of(step(FAILED_500, policy(100.0))) for _ in range(DRAWS)]
    low, high = min(delays), max(delays)
    assert low >= 80.0 and high <= 120.0
    assert low < 84.0 and high > 116.0


def test_an_empty_schedule_retries_at_once() -> None:
    assert delay_of(step(FAILED_500, policy())) == 0.0


def test_the_last_allowed_attempt_failing_makes_the_delivery_dead() -> None:
    assert step(FAILED_500, policy(1.0, max_attempts=3), attempt=3) == NextStep(
        "dead", "dead", None
    )


def test_attempts_before_the_last_allowed_one_are_retried() -> None:
    assert step(FAILED_500, policy(1.0, max_attempts=3), attempt=2).delivery_state == "pending"


def test_a_retry_due_after_the_max_age_makes_the_delivery_dead() -> None:
    started = NOW - timedelta(seconds=50)
    assert (
        step(FAILED_500, policy(20.0, max_age=60.0), policy_start=started).delivery_state == "dead"
    )


def test_a_retry_due_within_the_max_age_is_scheduled() -> None:
    started = NOW - timedelta(seconds=50)
    assert (
        step(FAILED_500, policy(5.0, max_age=60.0), policy_start=started).delivery_state
        == "pending"
    )


def test_retry_after_longer_than_the_schedule_is_honoured() -> None:
    result = DeliveryResult(succeeded=False, retryable=True, remote_code=500, retry_after=120.0)
    assert delay_of(step(result, policy(1.0))) == 120.0


def test_retry_after_shorter_than_the_schedule_does_not_shorten_it() -> None:
    result = DeliveryResult(succeeded=False, retryable=True, remote_code=500, retry_after=1.0)
    assert delay_of(step(result, policy(100.0))) >= 80.0


def test_retry_after_is_clamped_to_one_hour() -> None:
    result = DeliveryResult(succeeded=False, retryable=True, remote_code=429, retry_after=86400.0)
    assert MAX_RETRY_AFTER_SECONDS == 3600.0
    assert delay_of(step(result, policy(1.0))) == 3600.0


def test_a_negative_retry_after_does_not_bring_the_retry_forward() -> None:
    result = DeliveryResult(succeeded=False, retryable=True, remote_code=500, retry_after=-30.0)
    assert delay_of(step(result, policy(10.0))) >= 8.0


@pytest.mark.parametrize("code", [429, 502, 503, 504])
def test_slow_down_answers_wait_at_least_the_throttling_minimum(code: int) -> None:
    result = DeliveryResult(succeeded=False, retryable=True, remote_code=code)
    assert delay_of(step(result, policy(0.5, throttle=5.0))) == 5.0


@pytest.mark.parametrize("code", [500, 408])
def test_other_retryable_answers_wait_only_the_schedule(code: int) -> None:
    result = DeliveryResult(succeeded=False, retryable=True, remote_code=code)
    assert delay_of(step(result, policy(0.5, throttle=5.0))) <= 0.6


def test_a_failure_without_an_answer_is_retried_on_the_schedule() -> None:
    assert 8.0 <= delay_of(step(NO_ANSWER, policy(10.0))) <= 12.0


def test_a_permanent_failure_fails_at_once() -> None:
    assert step(BAD_REQUEST, policy(1.0), attempt=1) == NextStep("failed", "failed", None)


def test_gone_fails_at_once_even_if_marked_retryable() -> None:
    gone = DeliveryResult(succeeded=False, retryable=True, remote_code=410, gone=True)
    assert step(gone, policy(1.0)) == NextStep("failed", "failed", None)


def test_a_permanent_failure_on_the_last_attempt_is_failed_not_dead() -> None:
    assert step(BAD_REQUEST, policy(1.0, max_attempts=1)).delivery_state == "failed"


def test_without_a_recipient_policy_the_server_schedule_applies() -> None:
    chosen = RetryPolicy.for_recipient(recipient(), DEFAULT_RETRY_SCHEDULE, 5.0)
    assert chosen.retry_delays == DEFAULT_RETRY_SCHEDULE[1:]
    assert chosen.max_attempts == len(DEFAULT_RETRY_SCHEDULE)
    assert chosen.max_age_seconds is None


def test_the_default_schedule_is_the_standard_webhooks_one() -> None:
    minutes, hours = 60.0, 3600.0
    standard = (0.0, 5.0, 5 * minutes, 30 * minutes, *(h * hours for h in (2, 5, 10, 14, 20, 24)))
    assert standard == DEFAULT_RETRY_SCHEDULE


def test_recipient_retry_delays_replace_the_server_schedule_and_bound_the_attempts() -> None:
    chosen = RetryPolicy.for_recipient(
        recipient(retry_delays=(1.0, 2.0)), DEFAULT_RETRY_SCHEDULE, 5.0
    )
    assert (chosen.retry_delays, chosen.max_attempts) == ((1.0, 2.0), 3)


def test_recipient_max_attempts_and_max_age_override_the_defaults() -> None:
    chosen = RetryPolicy.for_recipient(
        recipient(max_attempts=4, max_age_seconds=600.0), DEFAULT_RETRY_SCHEDULE, 5.0
    )
    assert (chosen.retry_delays, chosen.max_attempts) == (DEFAULT_RETRY_SCHEDULE[1:], 4)
    assert chosen.max_age_seconds == 600.0
