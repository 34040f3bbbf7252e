"""The match pool runs the cyclic GC rarely while it lives, and gives the thresholds back."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

from batch.matching import GC_THRESHOLDS, ChunkMatcher, ChunkResult, MatchPool
from matchers.records import occurred_at_limit
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher


def _pool() -> MatchPool:
    chunk_matcher = ChunkMatcher(
        Matcher(default_model()),
        not_after=occurred_at_limit(datetime.now(UTC), timedelta(seconds=300)),
        run_id="gc",
        max_event_bytes=65536,
    )
    return MatchPool(chunk_matcher, workers=1)


def test_the_pool_raises_the_gc_thresholds_and_close_restores_them() -> None:
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS
    pool = _pool()
    try:
        assert gc.get_threshold() == GC_THRESHOLDS
        results: list[ChunkResult] = []
        pool.submit([(1, b"not json"), (2, b"{}")], None, lambda _tag, r: results.append(r))
        assert [reason for _ref, reason in results[0].invalid] == ["not_json", "missing_event_id"]
    finally:
        pool.close(abort=True)
    assert gc.get_threshold() == before
    pool.close()  # a second close (the command's finally) keeps them
    assert gc.get_threshold() == before
