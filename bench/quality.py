"""Benchmark 2: our matcher on the Chinese generator (a 2,000-person roster, 100k events).

Precision, recall and F1 over (event, person) pairs, false leads per 10k events, and the same
broken down by how the event's name and id arrived (hanzi / pinyin; id present / damaged /
masked / missing) and, for false leads, by what the event really was (relative, namesake,
recycled phone, stranger, and the hard decoys of ``matchers.synthetic.hard``: a namesake
with the same birth date, a recycled number's common-named holder, a sibling in the household,
a masked id that collides; ``decoys`` gives each kind's false leads per 10k events). Only
``dropped_out`` roster people are traced, so only events about them count as true links.

Every lead counts, whatever its tier: the worker indexes leads of every tier and ``tracer
reprocess`` writes them all (the contract's "every lead that would be indexed"), so the tier
floors are posterior probabilities high enough that a ``low`` lead is still precise
(``matchers.model.TIER_PROBABILITIES``). ``by_tier`` gives each tier's own precision.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

from bench.common import Metrics, latency, match_events, pair_metrics, usable

__all__ = ["build_quality_world", "run_quality", "run_trained", "truth_pairs"]

NAME_GROUP = {"hanzi": "hanzi", "traditional": "hanzi", "homophone": "hanzi", "pinyin": "pinyin"}


def build_quality_world(
    *, events: int, watchlist: int, people: int, seed: int, hard_decoys: bool = True
) -> tuple[Any, float]:
    """The benchmark's world; with the hard decoys (``matchers.synthetic.hard``) by default."""
    from matchers.synthetic import SimulationConfig, build_world

    started = time.perf_counter()
    world = build_world(
        SimulationConfig(
            people=people, watchlist=watchlist, events=events, seed=seed, hard_decoys=hard_decoys
        )
    )
    return world, time.perf_counter() - started


def truth_pairs(world: Any) -> set[tuple[str, str]]:
    """True (event_id, person_id) links: events about people the matcher traces."""
    return {
        (t["event_id"], t["person_id"])
        for t in world.truth
        if t["kind"] == "match" and t["person_status"] == "dropped_out"
    }


def run_quality(world: Any, *, generated: float = 0.0) -> dict[str, Any]:
    from matchers.matcher import Matcher
    from matchers.model import TIER_PROBABILITIES
    from matchers.modelfile import default_model

    config = world.config
    events = config.events
    model = default_model()
    matcher = Matcher(model)
    for record in world.roster:
        matcher.apply_roster(record)
    if hasattr(matcher, "freeze"):
        matcher.freeze()  # as tracer reprocess does after its roster load
    tiers: dict[tuple[str, str], str] = {}
    predicted, samples, counts = match_events(
        matcher, (e.payload for e in world.events), tiers=tiers
    )
    truth = truth_pairs(world)
    overall = pair_metrics(predicted, truth)
    by_id = {e.event_id: e for e in world.events}
    result: dict[str, Any] = {
        "config": {
            "events": events,
            "watchlist": config.watchlist,
            "people": config.people,
            "seed": config.seed,
            "hard_decoys": getattr(config, "hard_decoys", False),
        },
        "model_version": model.version,
        "generate_seconds": round(generated, 2),
        "traced_people": len(matcher),
        "counts": counts,
        "true_links": len(truth),
        "overall": overall.as_dict(),
        "false_leads_per_10k_events": _per_10k(overall.fp, events),
        "by_name": _groups(predicted, truth, by_id, lambda e: NAME_GROUP[e.plan.name]),
        "by_id": _groups(predicted, truth, by_id, lambda e: e.plan.id_group),
        "by_source": _groups(predicted, truth, by_id, lambda e: e.source),
        "by_min_tier": _by_tier(predicted, truth, tiers, events),
        "by_tier": _tier_precision(predicted, truth, tiers),
        "tier_probabilities": dict(TIER_PROBABILITIES),
        "false_leads_by_event_kind": dict(
            Counter(by_id[event_id].kind for event_id, _ in predicted - truth)
        ),
        "decoys": _decoys(predicted - truth, by_id, events),
        "latency": latency(samples).as_dict(),
        "malformed_lines": sum(1 for t in world.truth if t["kind"] == "malformed"),
    }
    result["latency_samples_ns"] = samples
    return result


def run_trained(world: Any) -> dict[str, Any]:
    """The unsupervised path (``tracer train``) on the same roster and events: no labels."""
    from matchers.estimate import train_model
    from matchers.matcher import Matcher
    from matchers.records import event_from_raw, person_from_raw

    events = [e.payload for e in world.events if isinstance(e.payload, dict)]
    started = time.perf_counter()
    model = train_model(
        usable(person_from_raw, world.roster),
        usable(event_from_raw, events),
        version="synthetic-em-unsupervised",
        seed=0,
    )
    trained = time.perf_counter() - started
    matcher = Matcher(model)
    for record in world.roster:
        matcher.apply_roster(record)
    predicted, _, _ = match_events(matcher, events)
    metrics = pair_metrics(predicted, truth_pairs(world))
    return {
        "train_seconds": round(trained, 2),
        **metrics.as_dict(),
        "false_leads_per_10k_events": _per_10k(metrics.fp, world.config.events),
    }


def _groups(
    predicted: set[tuple[str, str]],
    truth: set[tuple[str, str]],
    by_id: dict[str, Any],
    key: Any,
) -> dict[str, dict[str, Any]]:
    """Metrics per group of events; a pair belongs to its event's group."""
    pred: dict[str, set[tuple[str, str]]] = defaultdict(set)
    true: dict[str, set[tuple[str, str]]] = defaultdict(set)
    sizes: Counter[str] = Counter()
    for event in by_id.values():
        if event.plan is not None:
            sizes[key(event)] += 1
    for pair in predicted:
        event = by_id[pair[0]]
        if event.plan is not None:
            pred[key(event)].add(pair)
    for pair in truth:
        true[key(by_id[pair[0]])].add(pair)
    out: dict[str, dict[str, Any]] = {}
    for group in sorted(sizes):
        metrics: Metrics = pair_metrics(pred[group], true[group])
        out[group] = {
            **metrics.as_dict(),
            "events": sizes[group],
            "true_links": len(true[group]),
            "false_leads_per_10k_events": _per_10k(metrics.fp, sizes[group]),
        }
    return out


def _by_tier(
    predicted: set[tuple[str, str]],
    truth: set[tuple[str, str]],
    tiers: dict[tuple[str, str], str],
    events: int,
) -> dict[str, dict[str, Any]]:
    """Metrics if only leads of at least this tier counted; ``low`` is the headline (every
    tier is indexed, so every tier is a lead an officer sees)."""
    out = {}
    for name, allowed in (
        ("high", {"high"}),
        ("medium", {"high", "medium"}),
        ("low", {"high", "medium", "low"}),
    ):
        kept = {pair for pair in predicted if tiers.get(pair) in allowed}
        metrics = pair_metrics(kept, truth)
        out[name] = {
            **metrics.as_dict(),
            "false_leads_per_10k_events": _per_10k(metrics.fp, events),
        }
    return out


def _tier_precision(
    predicted: set[tuple[str, str]], truth: set[tuple[str, str]], tiers: dict[tuple[str, str], str]
) -> dict[str, dict[str, Any]]:
    """Leads and precision of each tier on its own: a low lead must be precise too."""
    out: dict[str, dict[str, Any]] = {}
    for tier in ("high", "medium", "low"):
        leads = {pair for pair in predicted if tiers.get(pair) == tier}
        right = len(leads & truth)
        out[tier] = {
            "leads": len(leads),
            "false": len(leads) - right,
            "precision": right / len(leads) if leads else None,
        }
    return out


def _decoys(
    false: set[tuple[str, str]], by_id: dict[str, Any], events: int
) -> dict[str, dict[str, Any]]:
    """Per kind of event that is not a true link: how many there are and the false leads they
    drew, also per 10k events of the whole stream (what an officer's queue feels)."""
    sizes = Counter(e.kind for e in by_id.values() if e.kind not in {"match", "malformed"})
    wrong = Counter(by_id[event_id].kind for event_id, _ in false)
    return {
        kind: {
            "events": sizes[kind],
            "false_leads": wrong[kind],
            "false_leads_per_10k_events": _per_10k(wrong[kind], events),
            "false_lead_rate": round(wrong[kind] / sizes[kind], 4) if sizes[kind] else 0.0,
        }
        for kind in sorted(set(sizes) | set(wrong))
    }


def _per_10k(fp: int, events: int) -> float:
    return round(fp * 10_000 / events, 2) if events else 0.0
