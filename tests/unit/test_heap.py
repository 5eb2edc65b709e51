"""The start-up heap leaves the collector's full passes (router_ext/runtime/heap.py)."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from router_ext.runtime.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process goes on as it was


def test_a_full_pass_no_longer_walks_what_start_up_left(unfrozen: None) -> None:
    start_up = [{"id": i, "info": {"n": [i]}} for i in range(300_000)]  # a Router's worth of dicts
    began = time.perf_counter()
    gc.collect()
    before = time.perf_counter() - began
    assert freeze_startup_heap() >= len(start_up)
    began = time.perf_counter()
    gc.collect()
    after = time.perf_counter() - began
    assert after < before / 5, (before, after)


def test_start_up_garbage_in_cycles_is_collected_not_frozen(unfrozen: None) -> None:
    class Node:
        me: Node

    def garbage_cycle() -> weakref.ref[Node]:
        node = Node()
        node.me = node
        return weakref.ref(node)

    gc.disable()  # no pass of its own before the freeze
    try:
        left = [garbage_cycle() for _ in range(1000)]
        assert all(ref() is not None for ref in left)
        freeze_startup_heap()
    finally:
        gc.enable()
    assert all(ref() is None for ref in left)  # collected first: a frozen one would live on
