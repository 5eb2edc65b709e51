from health.breaker import CLOSED, DISABLED, HALF_OPEN, OPEN, BreakerBook, BreakerPolicy
from health.classify import ErrorKind, Verdict

TEMP = Verdict(ErrorKind.TEMPORARY, "server_error", 500)
POLICY = BreakerPolicy(
    failure_threshold=3, base_cooldown_s=10, cooldown_multiplier=2, max_cooldown_s=35, min_calls=10
)


def test_opens_after_n_consecutive_failures_and_recovers_through_half_open() -> None:
    book = BreakerBook(POLICY)
    for t in (0, 1):
        book.record_failure("a", None, TEMP, now=t)
        assert book.allows("a", None, now=t)
    transition = book.record_failure("a", None, TEMP, now=2)
    assert (transition.before, transition.after) == (CLOSED, OPEN)
    assert not book.allows("a", None, now=11.9)
    assert book.allows("a", None, now=12)  # cooldown 10 s from t=2
    assert book.on_dispatch("a", now=12).after == HALF_OPEN
    assert not book.allows("a", None, now=13)  # one probe at a time
    assert book.record_success("a", now=13).after == CLOSED
    assert book.allows("a", None, now=13)


def test_cooldown_grows_exponentially_and_is_capped() -> None:
    book = BreakerBook(POLICY)
    for t in range(3):
        book.record_failure("a", None, TEMP, now=t)
    reopen = [book.breaker("a").reopen_at - 2]
    now = book.breaker("a").reopen_at
    for _ in range(3):
        book.on_dispatch("a", now)
        book.record_failure("a", None, TEMP, now)  # the half-open probe fails
        reopen.append(book.breaker("a").reopen_at - now)
        now = book.breaker("a").reopen_at
    assert reopen == [10, 20, 35, 35]


def test_failure_rate_over_the_window() -> None:
    book = BreakerBook(BreakerPolicy(failure_threshold=100, failure_rate=0.5, min_calls=10, window_s=60))
    for i in range(10):
        if i % 2:
            book.record_failure("a", None, TEMP, now=i)
        else:
            book.record_success("a", now=i)
    assert book.breaker("a").state == OPEN


def test_old_outcomes_leave_the_window() -> None:
    book = BreakerBook(BreakerPolicy(failure_threshold=100, failure_rate=0.5, min_calls=4, window_s=10))
    for i in range(3):
        book.record_failure("a", None, TEMP, now=i)
        book.record_success("a", now=i)  # resets consecutive count
    book.record_success("a", now=100)
    book.record_failure("a", None, TEMP, now=101)
    assert book.breaker("a").state == CLOSED  # the early failures are out of the window


def test_retry_after_opens_at_once_until_then() -> None:
    book = BreakerBook(POLICY)
    limited = Verdict(ErrorKind.TEMPORARY, "rate_limited", 429, retry_at=500.0)
    book.record_failure("a", None, limited, now=100)
    assert book.breaker("a").state == OPEN
    assert not book.allows("a", None, now=499)
    assert book.allows("a", None, now=500)


def test_permanent_error_disables_the_key_on_every_channel() -> None:
    book = BreakerBook(POLICY)
    dead = Verdict(ErrorKind.PERMANENT, "invalid_key", 401)
    book.record_failure("a", "fp-1", dead, now=0)
    assert book.breaker("a").state == DISABLED
    assert not book.allows("b", "fp-1", now=1e9)  # another channel on the same key
    assert book.allows("c", "fp-2", now=0)  # another key
    assert book.record_success("a", now=1) is None  # a late success does not re-enable
    book.enable("a", "fp-1", now=2)
    assert book.allows("a", "fp-1", now=2) and book.allows("b", "fp-1", now=2)


def test_caller_errors_do_not_punish_the_channel() -> None:
    book = BreakerBook(POLICY)
    for t in range(10):
        book.record_failure("a", None, Verdict(ErrorKind.CALLER, "context_length_exceeded", 400), now=t)
    assert book.breaker("a").state == CLOSED
    assert book.breaker("a").last_error_reason == "context_length_exceeded"


def test_model_unavailable_is_a_long_open() -> None:
    book = BreakerBook(POLICY)
    book.record_failure("a", "fp-1", Verdict(ErrorKind.MODEL_UNAVAILABLE, "model_not_found", 404), now=0)
    assert book.breaker("a").state == OPEN
    assert book.breaker("a").reopen_at == POLICY.model_unavailable_cooldown_s
    assert book.allows("b", "fp-1", now=0)  # the key is fine


def test_unavailable_lists_reasons() -> None:
    book = BreakerBook(POLICY)
    book.disable("x", now=0)
    book.record_failure("y", None, Verdict(ErrorKind.TEMPORARY, "rate_limited", 429, retry_at=50), now=0)
    listed = {cid: (why, until) for cid, why, until in book.unavailable(now=1)}
    assert listed["x"][0] == "disabled: by admin"
    assert listed["y"] == ("breaker open (rate_limited)", 50)
    assert "y" not in {cid for cid, _, _ in book.unavailable(now=60)}


def test_records_round_trip_for_shared_state() -> None:
    book = BreakerBook(POLICY)
    book.record_failure("a", None, Verdict(ErrorKind.TEMPORARY, "rate_limited", 429, retry_at=50), now=0)
    record = book.breaker("a").to_record()
    other = BreakerBook(POLICY)
    other.breakers["a"] = type(book.breaker("a")).from_record(record)
    assert not other.allows("a", None, now=10)
