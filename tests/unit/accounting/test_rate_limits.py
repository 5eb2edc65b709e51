"""Rate-limit windows: the three header formats (as in the real samples), the bound that never
sends past a limit whatever order answers come back in, configured caps, resets."""

from __future__ import annotations

import datetime as dt

from accounting.rate_limits import Cap, LimitBook, headers_in_body, parse_limit_headers

NOW = 1_764_888_655.0  # 2025-12-04T22:50:55Z

GROQ = {  # ../shared/fixtures/groq/rate_limit_headers_success_2024.headers.txt
    "x-ratelimit-limit-requests": "14400",
    "x-ratelimit-limit-tokens": "7000",
    "x-ratelimit-remaining-requests": "14399",
    "x-ratelimit-remaining-tokens": "6818",
    "x-ratelimit-reset-requests": "6s",
    "x-ratelimit-reset-tokens": "1.559999999s",
}
ANTHROPIC = {  # ../shared/fixtures/anthropic/messages_nonstream_with_ratelimit_headers.headers.txt
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": "2025-12-04T22:50:56Z",
    "anthropic-ratelimit-output-tokens-limit": "80000",
    "anthropic-ratelimit-output-tokens-remaining": "80000",
    "anthropic-ratelimit-output-tokens-reset": "2025-12-04T22:50:57Z",
}
OPENROUTER_429 = {  # ../shared/fixtures/openrouter/error_429_free_models_per_min.json
    "error": {
        "message": "Rate limit exceeded: free-models-per-min. ",
        "code": 429,
        "metadata": {
            "headers": {
                "X-RateLimit-Limit": "20",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "1764888720000",
            }
        },
    }
}


def test_openai_and_groq_headers_with_durations() -> None:
    found = parse_limit_headers(GROQ, NOW)
    assert (found["requests"].limit, found["requests"].remaining, found["requests"].reset_at) == (
        14400,
        14399,
        NOW + 6,
    )
    assert found["tokens"].remaining == 6818 and abs(found["tokens"].reset_at - (NOW + 1.56)) < 1e-6


def test_anthropic_headers_with_rfc3339_resets() -> None:
    found = parse_limit_headers(ANTHROPIC, NOW)
    assert found["requests"].reset_at == dt.datetime(2025, 12, 4, 22, 50, 56, tzinfo=dt.UTC).timestamp()
    assert found["output-tokens"].limit == 80000


def test_openrouter_headers_in_a_429_body_with_an_epoch_ms_reset() -> None:
    found = parse_limit_headers(headers_in_body(OPENROUTER_429), NOW)
    assert (found["requests"].limit, found["requests"].remaining, found["requests"].reset_at) == (
        20,
        0,
        1764888720.0,
    )


def test_litellm_prefixed_headers_are_read_and_nothing_is_nothing() -> None:
    assert (
        parse_limit_headers({f"llm_provider-{k}": v for k, v in GROQ.items()}, NOW)["requests"].limit == 14400
    )
    assert parse_limit_headers({"content-type": "application/json"}, NOW) == {}


def announce(remaining: int, limit: int = 5, reset_in: float = 60.0) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": f"{reset_in}s",
    }


def test_in_flight_requests_count_so_answers_out_of_order_never_overshoot() -> None:
    book = LimitBook()
    for request in ("r1", "r2", "r3", "r4"):  # before any answer: nothing known
        book.sent("a", NOW, request_id=request)
    assert book.spent(NOW) == {}
    # r4's answer comes first and says 4 left: r1..r3 may reach the upstream still.
    book.observe("a", announce(4), NOW, "r4")
    assert book.windows("a", NOW)[0].remaining == 1
    book.sent("a", NOW, request_id="r5")
    assert "a" in book.spent(NOW)  # 4 - 4 in flight: no more until an answer says otherwise
    for request, remaining in (("r1", 3), ("r3", 1), ("r2", 2)):  # older, higher counts
        book.observe("a", announce(remaining), NOW, request)
    book.observe("a", announce(0), NOW, "r5")
    assert book.windows("a", NOW)[0].remaining == 0 and "a" in book.spent(NOW)


def test_the_bound_is_exact_once_the_answers_are_in() -> None:
    book = LimitBook()
    book.sent("a", NOW, request_id="r1")
    book.sent("a", NOW, request_id="r2")
    book.observe("a", announce(4), NOW, "r1")
    assert book.windows("a", NOW)[0].remaining == 3  # r2 still out
    book.observe("a", announce(3), NOW, "r2")
    assert book.windows("a", NOW)[0].remaining == 3 and book.headroom("a", NOW) == 0.6


def test_a_request_counted_when_routed_is_not_counted_again_when_sent() -> None:
    book = LimitBook()
    book.set_caps({"free": [Cap("requests", 2, 60.0)]})
    book.sent("free", NOW, request_id="r1")  # routed here
    book.sent("free", NOW, request_id="r1")  # the call itself
    assert book.windows("free", NOW)[0].remaining == 1 and "free" not in book.spent(NOW)
    book.sent("free", NOW, request_id="r2")
    assert "free" in book.spent(NOW)


def test_a_request_refused_after_routing_gives_its_count_back() -> None:
    book = LimitBook()
    book.set_caps({"free": [Cap("requests", 1, 60.0)]})
    book.sent("a", NOW, request_id="r1")
    book.observe("a", announce(1), NOW, "r1")
    book.sent("a", NOW, request_id="r2")
    book.sent("free", NOW, request_id="r2")
    assert {"a", "free"} <= set(book.spent(NOW))
    book.withdraw("a", "r2", NOW)
    book.withdraw("free", "r2", NOW)
    book.withdraw("free", "never-sent", NOW)  # unknown: nothing to give back
    assert book.spent(NOW) == {}
    assert book.windows("a", NOW)[0].remaining == 1 and book.windows("free", NOW)[0].remaining == 1


def test_an_ended_request_is_in_flight_nowhere() -> None:
    book = LimitBook()
    for channel in ("a", "b"):  # a hedge and its primary; or an attempt whose failure had no hook
        book.sent(channel, NOW, request_id="r1")
        book.observe(channel, announce(1), NOW, "r0")
    book.observe("a", announce(1), NOW, "r1")  # a answered
    assert "b" in book.spent(NOW)
    assert book.finish("r1") == ["b"] and book.finish("r1") == []
    assert book.spent(NOW) == {} and book.windows("b", NOW)[0].remaining == 1


def test_a_spent_window_comes_back_at_its_reset() -> None:
    book = LimitBook()
    book.sent("a", NOW, request_id="r1")
    book.observe("a", announce(0, reset_in=10), NOW, "r1")
    why, back = book.spent(NOW)["a"]
    assert back == NOW + 10 and "announced by the upstream" in why
    assert book.due(NOW + 5) == [] and book.due(NOW + 10.5) == ["a"]
    assert book.spent(NOW + 10.5) == {} and book.headroom("a", NOW + 10.5) == 1.0


def test_a_new_window_replaces_the_old_count() -> None:
    book = LimitBook()
    book.observe("a", announce(0, reset_in=1), NOW)
    book.observe("a", announce(4, reset_in=60), NOW + 2)  # the next window
    assert book.windows("a", NOW + 2)[0].remaining == 4


def test_configured_caps_are_counted_here_per_minute_and_per_utc_day() -> None:
    book = LimitBook()
    book.set_caps({"free": [Cap("requests", 2, 60.0), Cap("requests", 3, 86_400.0)]})
    for request in ("r1", "r2"):
        book.sent("free", NOW, request_id=request)
        book.observe("free", None, NOW, request)
    assert "free" in book.spent(NOW)
    book.sent("free", NOW + 61, request_id="r3")  # a new minute: the day cap is then spent
    why, back = book.spent(NOW + 61)["free"]
    assert "per day" in why and back == dt.datetime(2025, 12, 5, tzinfo=dt.UTC).timestamp()


def test_replicas_share_windows_by_the_same_rule_as_answers() -> None:
    first, second = LimitBook(), LimitBook()
    first.observe("a", announce(3), NOW, "r1")
    shared = first.export(first.dirty, NOW)
    assert second.merge("a", shared["a"], NOW) and second.windows("a", NOW)[0].remaining == 3
    second.observe("a", announce(1), NOW, "r2")  # lower in the same window: kept over a higher one
    assert not second.merge("a", shared["a"], NOW) and second.windows("a", NOW)[0].remaining == 1
    assert first.merge("a", second.export(["a"], NOW)["a"], NOW) and first.windows("a", NOW)[0].remaining == 1
    assert not first.merge("a", {"requests": {"remaining": "x"}}, NOW)  # garbage is ignored


def test_replicas_add_up_what_they_sent_against_a_configured_cap() -> None:
    shared: dict[str, float] = {}  # what Redis holds: HINCRBYFLOAT of each replica's share
    replicas = [LimitBook(), LimitBook()]
    for book in replicas:
        book.set_caps({"free": [Cap("requests", 4, 60.0)]})
    now = 1_800_000_000.0 + 5  # 5 s into a clock-aligned minute

    def sync(book: LimitBook) -> None:
        for name, amount in book.take_cap_use(now).items():
            shared[name] = shared.get(name, 0.0) + amount
        book.merge_cap_totals(shared, now)

    for book in replicas:
        book.sent("free", now)
        book.sent("free", now)
        sync(book)
    sync(replicas[0])  # the first hears of the second's two
    assert [book.spent(now).keys() for book in replicas] == [{"free"}, {"free"}]
    assert [book.windows("free", now)[0].remaining for book in replicas] == [0, 0]
    # a share that did not reach Redis is sent again, not lost
    later = now + 1
    taken = replicas[0].take_cap_use(later)
    assert taken == {}
    replicas[1].sent("free", later)
    lost = replicas[1].take_cap_use(later)
    replicas[1].give_back_cap_use(lost)
    assert replicas[1].take_cap_use(later) == lost
    # the next minute is a fresh window for both
    assert replicas[0].windows("free", now + 60) == []
