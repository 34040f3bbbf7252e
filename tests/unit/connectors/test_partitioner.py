"""The memoised partitioner places every key where Kafka's default partitioner does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from connectors.partitioner import MemoPartitioner

PARTITIONS = st.integers(min_value=1, max_value=64).map(lambda n: list(range(n)))


@given(keys=st.lists(st.binary(max_size=64), min_size=1, max_size=50), partitions=PARTITIONS)
def test_every_key_goes_where_the_default_partitioner_puts_it(
    keys: list[bytes], partitions: list[int]
) -> None:
    memo = MemoPartitioner(max_keys=8)  # small: the memo starts over within the run
    for key in keys + keys:  # the second pass answers from the memo
        assert memo(key, partitions, partitions) == DefaultPartitioner()(
            key, partitions, partitions
        )


def test_a_known_key_keeps_its_placement_when_partitions_are_added() -> None:
    memo = MemoPartitioner()
    key = b"3f2b9c1e-5d4a-4f7b-9e2a-1c2d3e4f5a6b"
    for count in (4, 4, 12, 4):
        partitions = list(range(count))
        assert memo(key, partitions, partitions) == DefaultPartitioner()(
            key, partitions, partitions
        )


def test_the_memo_is_bounded() -> None:
    memo = MemoPartitioner(max_keys=10)
    for n in range(1000):
        memo(str(n).encode(), [0, 1, 2], [0, 1, 2])
    assert len(memo._hashes) <= 10


def test_a_keyless_record_goes_to_an_available_partition() -> None:
    assert MemoPartitioner()(None, [0, 1, 2, 3], [2]) == 2
