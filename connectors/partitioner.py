"""Kafka's default partitioning, with each key's hash remembered.

aiokafka's ``DefaultPartitioner`` computes the Java client's murmur2 of every key in pure
Python: about 28 µs a key here, on the worker's event loop. The alerts topic is keyed by
subscription id, so the same few thousand keys come back for every notification; this
partitioner keeps each key's hash (bounded) and places the record exactly as the default does
(``murmur2(key) & 0x7fffffff`` modulo the partition count), so consumers and other producers see
the same partition for a key.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner, murmur2

__all__ = ["MemoPartitioner"]

#: Keys whose hash is kept: the alerts topic's subscription ids, with room to spare.
DEFAULT_MAX_KEYS = 65_536


class MemoPartitioner:
    """A ``partitioner`` for aiokafka's producer: the default placement, the hash memoised.

    Args:
        max_keys: hashes kept at most; when full, the memo starts over (a bound, not an LRU:
            the keys of a topic keyed by subscription fit many times over).
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._hashes: dict[bytes, int] = {}

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        """The partition of ``key``: the default partitioner's answer, from the kept hash."""
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        found = self._hashes.get(key)
        if found is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            found = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[found % len(all_partitions)]
