"""Benchmark 2: our matcher on the Chinese generator (a 2,000-person roster, 100k events).

Precision, recall and F1 over (event, person) pairs, false leads per 10k events, and the same
broken down by how the event's name and id arrived (hanzi / pinyin; id present / damaged /
masked / missing) and, for false leads, by what the event really was (relative, namesake,
recycled phone, stranger, and the hard decoys of ``simulator.hard``: a namesake
with the same birth date, a recycled number's common-named holder, a sibling in the household,
a masked id that collides; ``decoys`` gives each kind's false leads per 10k events). Only
``dropped_out`` roster people are traced, so only events about them count as true links.

Every lead counts, whatever its tier: the worker indexes leads of every tier and ``tracer
reprocess`` writes them all (the contract's "every lead that would be indexed"), so the tier
floors are posterior probabilities high enough that a ``low`` lead is still precise
(``matchers.scoring.model.TIER_PROBABILITIES``). ``by_tier`` gives each tier's own precision.

Two feed mixes are reported (``--mix``): ``classic`` (the generator as it was) and ``hainan``
(``simulator.hainan``: Hainan's names and heaped birth dates, ids as clerks and OCR
write them, dialect passport names, an exact id beside a name off by one character, namesakes
whose valid ids differ in sequence digits). For ``hainan`` the report adds ``by_phenomenon``
(recall of the true events carrying each phenomenon, false leads of the events carrying it)
and ``ceiling``: the share of true events with evidence beyond the name, the best recall the
rule that a name alone never makes a lead allows.

Run alone: ``python -m bench.quality [--mix classic|hainan] [--events N] [--watchlist N]
[--people N] [--seed N]`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from typing import Any

from bench.common import Metrics, latency, match_events, pair_metrics, usable

__all__ = [
    "build_quality_world",
    "main",
    "namesake_curve",
    "run_quality",
    "run_trained",
    "truth_pairs",
]

NAME_GROUP = {
    "hanzi": "hanzi",
    "traditional": "hanzi",
    "homophone": "hanzi",
    "shape_alike": "hanzi",
    "dropped_char": "hanzi",
    "pinyin": "pinyin",
    "dialect": "dialect",
}
# Corruption words that name a phenomenon of real registries (the hainan mix), and the older
# ones worth a row beside them.
PHENOMENA = (
    "name_shape_alike",
    "name_dropped_char",
    "name_homophone",
    "name_wade_giles",
    "name_dialect_hokkien",
    "name_dialect_hainanese",
    "name_dialect_cantonese",
    "name_dialect_teochew",
    "name_dialect_wade_giles",
    "contact_new",
    "id_ocr_letters",
    "id_fullwidth",
    "id_spaced",
    "id_masked_6_4",
    "id_masked_4_4",
    "id_masked_last2",
    "phone_0086",
    "phone_dashed",
    "phone_plus86",
    "birth_date_cjk",
    "birth_date_slashes",
    "birth_date_heaped",
    "address_no_province",
    "address_old_name",
    "address_building_suffix",
    "address_fullwidth",
)


def build_quality_world(
    *,
    events: int,
    watchlist: int,
    people: int,
    seed: int,
    hard_decoys: bool = True,
    mix: str = "classic",
) -> tuple[Any, float]:
    """The benchmark's world; with the hard decoys (``simulator.hard``) by default."""
    from simulator import SimulationConfig, build_world

    started = time.perf_counter()
    world = build_world(
        SimulationConfig(
            people=people,
            watchlist=watchlist,
            events=events,
            seed=seed,
            hard_decoys=hard_decoys,
            mix=mix,  # type: ignore[arg-type]
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
    from matchers.scoring.model import TIER_PROBABILITIES
    from matchers.scoring.modelfile import default_model
    from matchers.watchlist.matcher import Matcher

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
            "mix": getattr(config, "mix", "classic"),
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
    if result["config"]["mix"] != "classic":
        result["ceiling"] = _ceiling(world)
        result["by_phenomenon"] = _phenomena(predicted, truth, by_id, events)
    result["false_leads"] = _cases(matcher, sorted(predicted - truth), by_id, tiers)
    lost = {t["event_id"] for t in world.truth if t.get("evidence_beyond_name")}
    result["lost_with_evidence"] = _cases(
        matcher, sorted(p for p in truth - predicted if p[0] in lost), by_id, tiers
    )
    result["latency_samples_ns"] = samples
    return result


def _ceiling(world: Any) -> float | None:
    """Share of true (traced) events with evidence beyond the name, as the truth says."""
    traced = [
        t for t in world.truth if t["kind"] == "match" and t["person_status"] == "dropped_out"
    ]
    flagged = [t for t in traced if "evidence_beyond_name" in t]
    if not flagged:
        return None
    return round(sum(t["evidence_beyond_name"] for t in flagged) / len(flagged), 4)


def _cases(
    matcher: Any, pairs: list[tuple[str, str]], by_id: dict[str, Any], tiers: dict[Any, str]
) -> list[dict[str, Any]]:
    """Each pair with what its event really was and every field's level: what to look at."""
    from matchers.records import event_from_raw
    from matchers.scoring.compare import compare_records

    out = []
    for event_id, person_id in pairs:
        event, person = by_id[event_id], matcher.person(person_id)
        levels = {}
        if person is not None and isinstance(event.payload, dict):
            comparison = compare_records(person, event_from_raw(event.payload))
            levels = {c.field: c.level for c in comparison.fields}
        out.append(
            {
                "event_id": event_id,
                "person_id": person_id,
                "kind": event.kind,
                "source": event.source,
                "tier": tiers.get((event_id, person_id)),
                "levels": levels,
                "corruptions": list(event.corruptions),
            }
        )
    return out


def _heaped(event: Any) -> bool:
    payload = event.payload
    birth = payload.get("birth_date") if isinstance(payload, dict) else None
    return isinstance(birth, str) and birth[4:] in {"-01-01", "-07-01"}


def _phenomena(
    predicted: set[tuple[str, str]],
    truth: set[tuple[str, str]],
    by_id: dict[str, Any],
    events: int,
) -> dict[str, dict[str, Any]]:
    """Per phenomenon: the true links whose event carries it (found, recall) and the false
    leads of events carrying it (per 10k events of the whole stream)."""
    words: dict[str, set[str]] = {}
    for event in by_id.values():
        carried = set(event.corruptions) & set(PHENOMENA)
        if _heaped(event):
            carried.add("birth_date_heaped")
        if carried:
            words[event.event_id] = carried
    true: Counter[str] = Counter()
    found: Counter[str] = Counter()
    false: Counter[str] = Counter()
    for pair in truth:
        for word in words.get(pair[0], ()):
            true[word] += 1
            found[word] += pair in predicted
    for pair in predicted - truth:
        for word in words.get(pair[0], ()):
            false[word] += 1
    return {
        word: {
            "true_links": true[word],
            "found": found[word],
            "recall": round(found[word] / true[word], 4) if true[word] else None,
            "false_leads": false[word],
            "false_leads_per_10k_events": _per_10k(false[word], events),
        }
        for word in PHENOMENA
        if true[word] or false[word]
    }


def main(argv: list[str] | None = None) -> int:
    """Run the quality part alone and print its figures as JSON (no latency samples)."""
    parser = argparse.ArgumentParser(prog="python -m bench.quality")
    parser.add_argument("--mix", choices=("classic", "hainan"), default="classic")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--watchlist", type=int, default=2_000)
    parser.add_argument("--people", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--trained", action="store_true", help="also a model trained here without labels"
    )
    parser.add_argument(
        "--namesake-bounds",
        default="",
        help="also P/R at each of these tf.namesake_bound values (comma-separated)",
    )
    args = parser.parse_args(argv)
    world, generated = build_quality_world(
        events=args.events,
        watchlist=args.watchlist,
        people=args.people,
        seed=args.seed,
        mix=args.mix,
    )
    result = run_quality(world, generated=generated)
    result.pop("latency_samples_ns")
    if args.trained:
        result["trained_unsupervised"] = run_trained(world)
    if args.namesake_bounds:
        bounds = [float(b) for b in args.namesake_bounds.split(",")]
        result["namesake_curve"] = namesake_curve(world, bounds)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


def namesake_curve(world: Any, bounds: list[float]) -> list[dict[str, Any]]:
    """P/R with the default model at each ``tf.namesake_bound`` (the gate's namesake rule).

    The bound is the most others expected to share a lead's name, birth date and gender when
    nothing else supports it (``matchers.scoring.gate.uncommon_name_support``).
    """
    from dataclasses import replace

    from matchers.scoring.modelfile import default_model
    from matchers.watchlist.matcher import Matcher

    truth = truth_pairs(world)
    model = default_model()
    out = []
    for bound in bounds:
        matcher = Matcher(replace(model, tf=replace(model.tf, namesake_bound=bound)))
        for record in world.roster:
            matcher.apply_roster(record)
        matcher.freeze()
        predicted, _, _ = match_events(matcher, (e.payload for e in world.events))
        metrics = pair_metrics(predicted, truth)
        out.append({"namesake_bound": bound, **metrics.as_dict()})
    return out


def run_trained(world: Any) -> dict[str, Any]:
    """The unsupervised path (``tracer train``) on the same roster and events: no labels."""
    from matchers.records import event_from_raw, person_from_raw
    from matchers.training.estimate import train_model
    from matchers.watchlist.matcher import Matcher

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


if __name__ == "__main__":
    raise SystemExit(main())
