"""A compact hash table from 64-bit block-key hashes to the person slots filed under them.

The blocking index of a million people holds about nine million keys. In a ``dict`` each key
costs its int object (32 bytes) plus the entry and index (about 40 bytes); here it costs two
bytes in two flat arrays (a 64-bit key, a 32-bit value; open addressing, linear probing, 35 to
70 % full), about a fifth of that. A key filing one person holds the slot itself; a shared key
holds the index of a small ``array`` of slots.

    table = Postings()
    table.add(hash("nm:zhangwei"), 7)
    table.add(hash("nm:zhangwei"), 9)
    table.get(hash("nm:zhangwei"))   # array('i', [7, 9])
    table.discard(hash("nm:zhangwei"), 7)
    table.get(hash("nm:zhangwei"))   # 9

Deleted keys leave a tombstone until the next resize, so a key's probe chain stays intact.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Final

__all__ = ["Postings"]

# Final: the compiled build reads them as constants, not from the module's dict on every probe
# of every lookup (about a sixth of a lookup's instructions).
_EMPTY: Final = -(2**63)
_TOMBSTONE: Final = _EMPTY + 1
_MIN_SIZE: Final = 1024
_MAX_LOAD: Final = 0.7


def _norm(key: int) -> int:
    # The two reserved values stand for free cells; a key that happens to hash to one of
    # them moves next door (a collision only ever adds a candidate that scoring rejects).
    return key + 2 if key <= _TOMBSTONE else key


class Postings:
    """Map 64-bit key hashes to one slot (an ``int``) or several (an ``array('i')``)."""

    __slots__ = ("_free_shared", "_keys", "_live", "_mask", "_shared", "_used", "_values")

    def __init__(self) -> None:
        self._shared: list[array[int] | None] = []
        self._free_shared: list[int] = []
        self._reset(_MIN_SIZE)

    def _reset(self, size: int) -> None:
        self._keys = array("q", [_EMPTY]) * size
        # >= 0: the one slot filed under the key; < 0: -(i + 1) indexes ``_shared``.
        self._values = array("i", [0]) * size
        self._mask = size - 1
        self._used = 0  # live keys and tombstones: what makes probe chains long
        self._live = 0

    def __len__(self) -> int:
        return self._live

    @property
    def capacity(self) -> int:
        """How many cells the table has (its memory: 12 bytes a cell)."""
        return self._mask + 1

    def _find(self, key: int) -> int:
        keys, mask = self._keys, self._mask
        i = key & mask
        while True:
            k = keys[i]
            if k == key:
                return i
            if k == _EMPTY:
                return -1
            i = (i + 1) & mask

    def get(self, key: int) -> int | array[int] | None:
        """The slot or slots filed under ``key``, or ``None``."""
        # _norm and _find inlined: every event looks up a handful of keys.
        if key <= _TOMBSTONE:
            key += 2
        keys, mask = self._keys, self._mask
        i = key & mask
        while True:
            k = keys[i]
            if k == key:
                break
            if k == _EMPTY:
                return None
            i = (i + 1) & mask
        value = self._values[i]
        return value if value >= 0 else self._shared[-value - 1]

    def add(self, key: int, slot: int) -> None:
        """File ``slot`` under ``key`` (the caller files a slot under a key once)."""
        key = _norm(key)
        i = self._find(key)
        if i >= 0:
            self._append(i, slot)
            return
        if (self._used + 1) > _MAX_LOAD * (self._mask + 1):
            self._grow()
        keys, mask = self._keys, self._mask
        i = key & mask
        while keys[i] != _EMPTY and keys[i] != _TOMBSTONE:
            i = (i + 1) & mask
        if keys[i] == _EMPTY:
            self._used += 1
        keys[i] = key
        self._values[i] = slot
        self._live += 1

    def _append(self, i: int, slot: int) -> None:
        value = self._values[i]
        if value >= 0:
            if value != slot:
                self._values[i] = self._new_shared(array("i", (value, slot)))
            return
        slots = self._shared[-value - 1]
        if slots is not None:
            # No duplicate check: the index adds a fresh slot once per key (a frozenset), and
            # a check would cost the size of the block on every add to 张伟's key.
            slots.append(slot)

    def _new_shared(self, slots: array[int]) -> int:
        if self._free_shared:
            n = self._free_shared.pop()
            self._shared[n] = slots
        else:
            n = len(self._shared)
            self._shared.append(slots)
        return -(n + 1)

    def discard(self, key: int, slot: int) -> None:
        """Unfile ``slot`` from ``key`` (no-op when it is not filed there)."""
        i = self._find(_norm(key))
        if i < 0:
            return
        value = self._values[i]
        if value >= 0:
            if value == slot:
                self._keys[i] = _TOMBSTONE
                self._live -= 1
            return
        n = -value - 1
        slots = self._shared[n]
        if slots is None or slot not in slots:
            return
        slots.remove(slot)
        if len(slots) == 1:
            self._values[i] = slots[0]
            self._shared[n] = None
            self._free_shared.append(n)

    def items(self) -> Iterator[tuple[int, int | array[int]]]:
        """Every live key with its slot or slots."""
        for key, value in zip(self._keys, self._values, strict=True):
            if key not in (_EMPTY, _TOMBSTONE):
                shared = self._shared[-value - 1] if value < 0 else None
                yield key, (value if shared is None else shared)

    def _grow(self) -> None:
        old_keys, old_values, live = self._keys, self._values, self._live
        size = self._mask + 1
        while live + 1 > size / 2:  # double at 70 % full: 35 %, room to grow before the next
            size *= 2
        self._reset(size)  # same size when only tombstones filled the table: it sweeps them
        keys, values, mask = self._keys, self._values, self._mask
        for k, v in zip(old_keys, old_values, strict=True):
            if k > _TOMBSTONE:
                i = k & mask
                while keys[i] != _EMPTY:
                    i = (i + 1) & mask
                keys[i] = k
                values[i] = v
        self._used = self._live = live
