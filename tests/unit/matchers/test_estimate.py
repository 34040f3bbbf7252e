"""Estimation without labels: u from random pairs, m and prior by EM, a usable trained model."""

from __future__ import annotations

import contextlib
import random
from collections import Counter

import pytest

from matchers.errors import InvalidRecord
from matchers.levels import Level
from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.scoring.model import FIELDS
from matchers.scoring.modelfile import model_from_json
from matchers.training.estimate import (
    FIELD_LEVELS,
    estimate_u,
    event_name_table,
    event_part_table,
    expectation_maximisation,
    train_model,
)
from matchers.training.pairs import random_pair_levels
from tests.unit.matchers.test_matcher import synthetic_world


def _records(people: int, events: int) -> tuple[list[Person], list[EventRecord]]:
    roster, raw_events = synthetic_world(people, events, seed=11)
    persons = [person_from_raw(r) for r in roster]
    records = []
    for raw in raw_events:
        with contextlib.suppress(InvalidRecord):
            records.append(event_from_raw(raw))
    return persons, records


@pytest.fixture(scope="module")
def data() -> tuple[list[Person], list[EventRecord]]:
    return _records(200, 300)


def _mixture(n: int, prior: float, seed: int) -> Counter[tuple[Level, ...]]:
    """Vectors drawn from known m (matches agree) and u (non-matches disagree)."""
    rng = random.Random(seed)
    counts: Counter[tuple[Level, ...]] = Counter()
    for _ in range(n):
        match = rng.random() < prior
        agree = 0.9 if match else 0.05
        vector = tuple(
            ("exact" if rng.random() < agree else "disagree") if f != "gender" else "missing"
            for f in FIELDS
        )
        counts[vector] += 1  # type: ignore[index]
    return counts


def test_em_recovers_a_known_mixture() -> None:
    counts = _mixture(20_000, 0.2, seed=1)
    u = {f: {"exact": 0.05, "disagree": 0.95} for f in FIELDS}
    levels = dict.fromkeys(FIELDS, ("exact", "disagree"))
    result = expectation_maximisation(counts, u, levels=levels, iterations=50)  # type: ignore[arg-type]
    assert result.prior == pytest.approx(0.2, abs=0.02)
    assert result.m["name"]["exact"] == pytest.approx(0.9, abs=0.03)
    assert result.iterations <= 50


def test_u_from_random_pairs_is_a_distribution(
    data: tuple[list[Person], list[EventRecord]],
) -> None:
    counts = random_pair_levels(*data, pairs=2000, seed=3)
    assert sum(counts.values()) == 2000
    u = estimate_u(counts)
    for field in FIELDS:
        assert sum(u[field].values()) == pytest.approx(1.0)
        assert all(p > 0 for p in u[field].values())
        assert set(u[field]) == set(FIELD_LEVELS[field])
    # Random pairs almost never share an id or a phone.
    assert u["id_number"]["exact"] < 0.01
    assert u["phone"]["disagree"] > 0.9


def test_random_pairs_are_reproducible(data: tuple[list[Person], list[EventRecord]]) -> None:
    assert random_pair_levels(*data, pairs=500, seed=5) == random_pair_levels(
        *data, pairs=500, seed=5
    )


def test_trained_model_is_valid_and_sensible(
    data: tuple[list[Person], list[EventRecord]],
) -> None:
    model = train_model(*data, version="test", seed=1, random_pairs=3000)
    assert model_from_json(model.to_json()) == model
    assert 0 < model.prior < 1
    # A small world: the signs and the order matter, not the exact values.
    assert model.weight("id_number", "exact") > 5
    assert model.weight("phone", "exact") > 5
    assert model.weight("id_number", "disagree") < 0
    assert model.weight("name", "disagree") < 0
    assert model.weight("gender", "disagree") < 0
    assert model.training["blocked_pairs"] > 0


def test_training_is_deterministic(data: tuple[list[Person], list[EventRecord]]) -> None:
    first = train_model(*data, version="t", seed=2, random_pairs=1000)
    second = train_model(*data, version="t", seed=2, random_pairs=1000)
    assert first.to_json() == second.to_json()


def test_training_counts_a_name_table_over_the_events(
    data: tuple[list[Person], list[EventRecord]],
) -> None:
    model = train_model(*data, version="t", seed=2, random_pairs=1000)
    tf = model.tf
    assert tf.mode == "events"
    table, counted, unlisted = event_name_table(data[1])
    table.update(event_part_table(data[1]))
    assert (dict(tf.table), tf.table_total, tf.table_unlisted) == (table, counted, unlisted)
    assert model.training["tf_table"] == {"events_counted": counted, "keys": len(table)}
    assert tf.fields == ("name", "birth_date")


def _born(*dates: str) -> list[EventRecord]:
    return [
        event_from_raw(
            {
                "event_id": f"e{i}",
                "source": "hukou",
                "occurred_at": "2026-01-01T00:00:00Z",
                "name": name,
                "birth_date": date,
            }
        )
        for i, (name, date) in enumerate(
            zip(("王亚妹", "王文", "陈亚妹", "符翀"), dates, strict=False)
        )
    ]


def test_the_part_table_counts_surnames_given_names_and_heaped_dates() -> None:
    # 1965-01-01 four times (a heaped date), three other dates once each.
    events = _born("1965-01-01", "1965-01-01", "1972-03-04", "1988-09-17") + _born(
        "1965-01-01", "1965-01-01", "2001-11-30"
    )
    table = event_part_table(events, min_count=2)
    assert table["surname:王"] == 4 and table["surname:陈"] == 2
    assert table["given:亚妹"] == 4 and table["given:文"] == 2
    assert "given:翀" not in table and "surname:符" not in table  # seen once
    # Seven dates over four distinct: average 1.75, so only a date seen more than 3.5 times.
    assert {k for k in table if k.startswith("birth_date:")} == {"birth_date:1965-01-01"}
    assert table["birth_date:1965-01-01"] == 4


def _named(*names: str) -> list[EventRecord]:
    return [
        event_from_raw(
            {
                "event_id": f"e{i}",
                "source": "bank",
                "occurred_at": "2026-01-01T00:00:00Z",
                "name": n,
            }
        )
        for i, n in enumerate(names)
    ]


def test_the_name_table_keeps_the_most_frequent_keys_seen_often_enough() -> None:
    events = _named("张伟", "张伟", "张伟", "王芳", "王芳", "李娜", "符翀", "")
    table, counted, unlisted = event_name_table(events, size=10, min_count=2)
    assert table == {"name:张伟": 3, "name:王芳": 2}
    assert (counted, unlisted) == (7, 1)  # the nameless event is not counted
    small, _, left_out = event_name_table(events, size=1, min_count=2)
    assert small == {"name:张伟": 3} and left_out == 2  # 王芳 was left out at 2
    assert event_name_table([], size=10, min_count=2) == ({}, 0, 0)


def test_empty_inputs_still_give_a_valid_model() -> None:
    model = train_model([], [], version="empty", random_pairs=100)
    assert 0 < model.prior < 1
