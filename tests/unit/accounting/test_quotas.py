import datetime as dt

from accounting.quotas import Quota, QuotaBook, next_reset

DAY = dt.datetime(2026, 11, 26, 23, 59, tzinfo=dt.UTC)


def test_a_channel_at_its_quota_comes_back_the_next_utc_day() -> None:
    book = QuotaBook()
    book.set_quotas({"free": Quota(requests=2), "tokens": Quota(tokens=100), "plain": Quota()})
    for _ in range(2):
        book.count("free", DAY, requests=1)
    book.count("tokens", DAY, requests=1, tokens=150)
    book.count("plain", DAY, requests=1000)
    assert book.exhausted(DAY) == {
        "free": "daily request quota of 2 reached",
        "tokens": "daily token quota of 100 reached",
    }
    assert book.remaining("free", DAY) == {"requests": 0, "tokens": None}
    tomorrow = DAY + dt.timedelta(minutes=2)
    assert book.exhausted(tomorrow) == {}
    assert book.remaining("free", tomorrow)["requests"] == 2
    assert next_reset(DAY) == dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
