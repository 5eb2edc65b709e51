from catalog.channel import Channel
from strategies.rotation import rotate_pools


def ch(id: str, model: str = "m", base: str = "http://x") -> Channel:
    return Channel(id=id, model_name=id, upstream_model=model, provider="openai", channel="c", api_base=base)


def test_pool_members_take_turns_in_their_slots() -> None:
    ranked = [ch("k1"), ch("other", model="n"), ch("k2")]
    assert [c.id for c in rotate_pools(ranked, {})] == ["k1", "other", "k2"]
    assert [c.id for c in rotate_pools(ranked, {"k1": 5.0})] == ["k2", "other", "k1"]
    assert [c.id for c in rotate_pools(ranked, {"k1": 5.0, "k2": 6.0})] == ["k1", "other", "k2"]


def test_different_endpoints_are_different_pools() -> None:
    ranked = [ch("a", base="http://a"), ch("b", base="http://b")]
    assert [c.id for c in rotate_pools(ranked, {"a": 9.0})] == ["a", "b"]
