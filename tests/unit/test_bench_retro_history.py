"""bench.retro_history's resume point: the first chunk a stopped load did not leave whole."""

from __future__ import annotations

import pytest

from bench.retro_history import first_missing


@pytest.mark.parametrize("loaded", [0, 1, 2, 699, 700, 701, 1399, 1400, 5_000])
def test_the_first_chunk_not_whole_is_found_in_a_few_probes(loaded: int) -> None:
    probes: list[int] = []

    def whole(n: int) -> bool:
        probes.append(n)
        return n < loaded

    assert first_missing(whole, 700) == loaded
    assert len(probes) <= 2 * (loaded.bit_length() + 11)  # galloping + bisection, not a scan


def test_a_guess_of_nothing_still_searches() -> None:
    assert first_missing(lambda n: n < 37, 0) == 37
