"""How many values each normaliser's one cache keeps: the single table of cache sizes.

Each normaliser caches once, at the entry its public function reaches with a plain string
(``names._normalise`` behind :func:`matchers.fields.names.normalise_name`, and so on); nothing above
it (``matchers.records``) caches the same value again. The sizes are read from here, not written
beside each ``lru_cache``, so that they are chosen together and against one measurement.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["CACHE_SIZES", "CachedValue"]

#: What a cache is keyed by: a normaliser's whole value, or a part its work repeats on.
CachedValue = Literal[
    "name",
    "id",
    "phone",
    "address",
    "date",
    "id_embedded_date",
    "hanzi_simplified",
    "pinyin_segments",
    "char_readings",
    "char_default",
    "surname_readings",
    "given_readings",
    "wade_giles",
    "dialect_initials",
]

# The four whole-value caches keep the sizes the values had at their outermost cache before
# the stacked caches were removed (2^15 names and ids, 2^14 phones and addresses). Measured on a
# feed of 1M events of mostly new values (bench/reprocess.py): names repeat in 65 % of events,
# ids in 17 %, addresses in 13 %, and these sizes catch 38 %, 1.5 % and 0.7 % of them; 2^19 and
# 2^18 cut normalisation by 14 % on that feed but did not speed a 200k-event reprocess
# measurably and cost 160 MB more peak memory (bench/results/architecture.md), and roster
# values fill the same caches on a large watchlist: not worth it yet.
# The rest keep the sizes they had: dates (about 40,000 real birth dates, most events' in the
# commonest few thousand), and parts of a name (characters, syllables, surnames, given names),
# few and repeated even when whole names are new.
CACHE_SIZES: Final[dict[CachedValue, int]] = {
    "name": 1 << 15,
    "id": 1 << 15,
    "phone": 1 << 14,
    "address": 1 << 14,
    "date": 1 << 14,
    "id_embedded_date": 1 << 16,
    "hanzi_simplified": 1 << 15,
    "pinyin_segments": 1 << 14,
    "char_readings": 1 << 14,
    "char_default": 1 << 14,
    "surname_readings": 1 << 12,
    "given_readings": 1 << 15,
    "wade_giles": 1 << 11,
    "dialect_initials": 1 << 12,
}
