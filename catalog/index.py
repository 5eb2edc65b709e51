"""The tag index: built once when the catalogue changes, queried on every request.

A query costs a few vector operations over the channel arrays (numpy), not a scan of names:
postings map each tag to the positions of the channels carrying it.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from catalog.channel import Channel
from catalog.query import Bound, TagQuery

Positions = npt.NDArray[np.intp]
MASK_CACHE = 4096  # distinct queries remembered per catalogue
Mask = npt.NDArray[np.bool_]


class TagIndex:
    def __init__(self, channels: Sequence[Channel]) -> None:
        self.channels: tuple[Channel, ...] = tuple(channels)
        self.size = len(self.channels)
        self.position_by_id: dict[str, int] = {c.id: i for i, c in enumerate(self.channels)}
        postings: dict[str, list[int]] = {}
        for position, channel in enumerate(self.channels):
            for tag in channel.tags:
                postings.setdefault(tag, []).append(position)
        # Postings packed into one array (CSR): most tags belong to one or two channels, and an
        # array object per tag would cost ~110 bytes of header for 8 bytes of data.
        self._tag_number: dict[str, int] = {tag: n for n, tag in enumerate(postings)}
        lengths = np.fromiter((len(p) for p in postings.values()), dtype=np.intp, count=len(postings))
        self._starts = np.zeros(len(postings) + 1, dtype=np.intp)
        np.cumsum(lengths, out=self._starts[1:])
        self._flat: Positions = np.fromiter(
            itertools.chain.from_iterable(postings.values()), dtype=np.intp, count=int(self._starts[-1])
        )
        del postings
        nan = float("nan")
        self.params_b = np.array(
            [nan if c.params_b is None else c.params_b for c in self.channels], dtype=np.float64
        )
        self.context_tokens = np.array(
            [nan if c.context_tokens is None else c.context_tokens for c in self.channels],
            dtype=np.float64,
        )
        self.free: Mask = np.array([c.is_free for c in self.channels], dtype=np.bool_)
        self.local: Mask = np.array([c.local for c in self.channels], dtype=np.bool_)
        self.all: Mask = np.ones(self.size, dtype=np.bool_)
        # Capabilities: only a known "no" excludes; unknown is allowed (see README, filters).
        self.no_tools: Mask = np.array(
            [c.supports_function_calling is False for c in self.channels], dtype=np.bool_
        )
        fingerprints: dict[str, list[int]] = {}
        for position, channel in enumerate(self.channels):
            if channel.key_fingerprint:
                fingerprints.setdefault(channel.key_fingerprint, []).append(position)
        self.positions_by_key: dict[str, Positions] = {
            fp: np.asarray(p, dtype=np.intp) for fp, p in fingerprints.items()
        }
        self.no_vision: Mask = np.array([c.supports_vision is False for c in self.channels], dtype=np.bool_)
        self._sorted_tags: list[str] | None = None
        self._masks: dict[TagQuery, Mask] = {}
        # float views of the static flags, so a signal is one gather, not a gather and a cast
        self.free_f = self.free.astype(np.float64)
        self.local_f = self.local.astype(np.float64)
        # Per-catalogue derived arrays (priority order, static signals), built on first use.
        self.cache: dict[str, npt.NDArray[np.float64]] = {}

    @property
    def tag_count(self) -> int:
        return len(self._tag_number)

    def posting(self, tag: str) -> Positions | None:
        """Positions of the channels carrying `tag` (a view), None when no channel does."""
        number = self._tag_number.get(tag)
        if number is None:
            return None
        return self._flat[self._starts[number] : self._starts[number + 1]]

    def mask(self, query: TagQuery) -> Mask:
        """Channels matching the query, as a boolean mask over positions (a fresh copy: callers
        narrow it). The index never changes, so a query's answer is computed once."""
        cached = self._masks.get(query)
        if cached is None:
            if len(self._masks) >= MASK_CACHE:
                self._masks.clear()
            cached = self._masks[query] = self._compute_mask(query)
        return cached.copy()

    def _compute_mask(self, query: TagQuery) -> Mask:
        if query.include:
            hits = np.zeros(self.size, dtype=np.int32)
            for tag in query.include:
                posting = self.posting(tag)
                if posting is None:
                    return np.zeros(self.size, dtype=np.bool_)
                hits[posting] += 1
            mask = hits == len(query.include)
        else:
            mask = self.all.copy()
        for tag in query.exclude:
            posting = self.posting(tag)
            if posting is not None:
                mask[posting] = False
        for bound in query.params:
            mask &= _compare(self.params_b, bound)
        for bound in query.context:
            mask &= _compare(self.context_tokens, bound)
        return mask

    def unknown_tags(self, query: TagQuery) -> list[str]:
        return sorted(tag for tag in query.include if tag not in self._tag_number)

    def closest_tags(self, tag: str, limit: int = 5) -> list[str]:
        if self._sorted_tags is None:
            self._sorted_tags = sorted(self._tag_number)
        close = difflib.get_close_matches(tag, self._sorted_tags, n=limit, cutoff=0.6)
        if len(close) < limit:  # prefix matches catch `qwen` -> `qwen3` that difflib ranks low
            close += [t for t in self._sorted_tags if t.startswith(tag) and t not in close]
        return close[:limit]

    def tag_counts(self) -> dict[str, int]:
        sizes = np.diff(self._starts)
        return {tag: int(sizes[n]) for tag, n in sorted(self._tag_number.items())}


def _compare(values: npt.NDArray[np.float64], bound: Bound) -> Mask:
    # NaN (unknown size) compares False everywhere: an unknown size never satisfies a bound.
    with np.errstate(invalid="ignore"):
        if bound.op == ">=":
            return values >= bound.value
        if bound.op == "<=":
            return values <= bound.value
        if bound.op == ">":
            return values > bound.value
        if bound.op == "<":
            return values < bound.value
        return values == bound.value
