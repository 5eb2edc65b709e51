"""Key rotation: channels that serve the same model through different keys share load.

Ranking puts a pool's members at some positions of the list; those positions are handed to
the members least recently used first, so consecutive requests walk the keys round-robin
while the pool keeps the places its score earned. A dead key is simply not a member (its
breaker excludes it before ranking), so it never takes the model down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from catalog.channel import Channel


def rotate_pools(ranked: Sequence[Channel], last_used: Mapping[str, float]) -> list[Channel]:
    by_pool: dict[tuple[str, str, str | None], list[int]] = {}
    for slot, channel in enumerate(ranked):
        by_pool.setdefault(channel.pool, []).append(slot)
    result = list(ranked)
    for slots in by_pool.values():
        if len(slots) < 2:
            continue
        # sorted() is stable: members never used keep their ranked order.
        members = sorted((ranked[s] for s in slots), key=lambda c: last_used.get(c.id, 0.0))
        for slot, member in zip(slots, members, strict=True):
            result[slot] = member
    return result
