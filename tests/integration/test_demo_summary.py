"""``tracer demo``'s summary counts the dead letters of its own input, not a backlog's.

A worker started on a group with an unread backlog (an interrupted earlier demo) dead-letters
that backlog first; the summary once said 200 dead letters where the run's input had 100.
"""

from __future__ import annotations

from connectors.deadletter import MessageOrigin, build_dead_letter, encode_dead_letter
from connectors.feed_history import FeedHistory
from tests.integration.streaming import Run, publish
from tracer.commands.demo import count_own_dead_letters, partition_ends


def _dead_letter(run: Run, topic: str, partition: int, offset: int) -> None:
    origin = MessageOrigin(topic, partition, offset, b"k", 1_700_000_000_000)
    letter = build_dead_letter(b"not json", reason="not_json_object", origin=origin)
    publish(run, "deadletter", encode_dead_letter(letter), b"k")


def test_only_dead_letters_of_input_published_after_the_mark_count(run: Run) -> None:
    bank = run.topic("feeds.bank")
    # The backlog: three messages published (one key: one partition), none read yet.
    for _ in range(3):
        publish(run, "feeds.bank", b"old", b"same")
    history = FeedHistory(run.settings, client_id="test-demo")
    try:
        before = partition_ends(history, [bank, run.topic("deadletter")])
        [partition] = [p for (topic, p), end in before.items() if topic == bank and end == 3]
        publish(run, "feeds.bank", b"new", b"same")
        _dead_letter(run, bank, partition, 1)  # the backlog's: before the mark
        _dead_letter(run, bank, partition, 3)  # this run's
        _dead_letter(run, bank, (partition + 1) % 4, 0)  # a partition nothing was written to
        _dead_letter(run, run.topic("feeds.hukou"), 0, 7)  # a topic this run did not mark
        publish(run, "deadletter", b"\xff not a dead letter", None)

        own = count_own_dead_letters(history, run.topic("deadletter"), before)
    finally:
        history.close()

    assert own == 2  # this run's, and one from a partition whose mark was 0
