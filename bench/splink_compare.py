"""Benchmark 4: the same generated data through Splink 5 (DuckDB backend), beside our matcher.

A reasonable Splink model as a careful user would build it, with no labels: names folded to
simplified characters and romanised (pypinyin), compared joined and as a sorted bag of
syllables (so "WEI ZHANG" meets 张伟); ids upper-cased, masked ids treated as missing;
birth date, phone (digits, last 11) and address compared as strings. u by random sampling,
the prior from deterministic rules, m by EM over three blocking rules; term-frequency
adjustment on the name. Any pair at match probability >= 0.5 is a predicted link (the same
posterior our ``low`` tier starts at).

Batch: ``linker.inference.predict`` over roster x events. Event at a time:
``linker.inference.predict_between(roster, one_event)`` per event on a sample, as a streaming
deployment of Splink would have to do.

Whole job (``bench.reprocess`` runs it beside ``tracer reprocess`` on the same files)::

    python -m bench.splink_compare --roster R.jsonl --events E.jsonl [--threads N]

reads the JSONL files, prepares the columns, trains and predicts on ``N`` DuckDB threads, and
prints a JSON line as each stage ends (a job stopped at a time limit still says how far it
got), the last one the whole: wall and CPU seconds (DuckDB's threads included) to load and
prepare, to train, to predict, the links found and the peak RSS.
"""

from __future__ import annotations

import argparse
import logging
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import latency, pair_metrics

__all__ = ["main", "run_splink", "whole_job"]

_DIGITS = re.compile(r"\D")
_LETTERS = re.compile(r"[^a-z ]")
_THRESHOLD = 0.5


_T2S: Any = None


def _name_columns(name: Any, cache: dict[str, tuple[str | None, str | None]]) -> tuple[Any, Any]:
    global _T2S  # noqa: PLW0603 - one converter for the run, built on first use
    if not isinstance(name, str) or not name.strip():
        return None, None
    hit = cache.get(name)
    if hit is not None:
        return hit
    import opencc
    from pypinyin import lazy_pinyin

    if _T2S is None:
        _T2S = opencc.OpenCC("t2s")
    text = _T2S.convert(name.strip())
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        tokens = [t for t in lazy_pinyin(text) if t.isalpha()]
    else:
        tokens = _LETTERS.sub(" ", text.lower()).split()
    joined = "".join(tokens) or None
    bag = " ".join(sorted(tokens)) or None
    cache[name] = (joined, bag)
    return joined, bag


def _id(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    return None if not text or "*" in text else text


def _phone(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    digits = _DIGITS.sub("", value)
    return digits[-11:] if len(digits) >= 7 else None


def _rows(
    roster: list[dict[str, Any]], events: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cache: dict[str, tuple[str | None, str | None]] = {}
    left = []
    for r in roster:
        if r.get("status") != "dropped_out":
            continue  # only dropped-out people are traced, as in our matcher
        joined, bag = _name_columns(r.get("name"), cache)
        phones = r.get("phones") or [None]
        addresses = r.get("addresses") or [None]
        left.append(
            {
                "unique_id": r["person_id"],
                "name_joined": joined,
                "name_bag": bag,
                "id_number": _id(r.get("id_number")),
                "birth_date": r.get("birth_date"),
                "gender": r.get("gender"),
                "phone": _phone(phones[0]),
                "address": addresses[0],
            }
        )
    right = []
    for e in events:
        joined, bag = _name_columns(e.get("name"), cache)
        right.append(
            {
                "unique_id": e["event_id"],
                "name_joined": joined,
                "name_bag": bag,
                "id_number": _id(e.get("id_number")),
                "birth_date": e.get("birth_date"),
                "gender": e.get("gender"),
                "phone": _phone(e.get("phone")),
                "address": e.get("address") or e.get("registered_address"),
            }
        )
    return left, right


def _settings() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_joined"),
            cll.ExactMatchLevel("name_joined").configure(tf_adjustment_column="name_joined"),
            cll.ExactMatchLevel("name_bag"),
            cll.JaroWinklerLevel("name_joined", 0.92),
            cll.JaroWinklerLevel("name_joined", 0.8),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="link_only",
        comparisons=[
            name,
            cl.LevenshteinAtThresholds("id_number", [1, 2]),
            cl.LevenshteinAtThresholds("birth_date", [1, 2]),
            cl.ExactMatch("gender"),
            cl.ExactMatch("phone"),
            cl.JaroWinklerAtThresholds("address", [0.95, 0.85]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("name_joined"),
            block_on("name_bag"),
            block_on("id_number"),
            block_on("phone"),
            block_on("substr(id_number, 1, 14)"),
            block_on("birth_date", "substr(name_joined, 1, 2)"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def _train(linker: Any) -> None:
    from splink import block_on

    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("id_number"), block_on("phone", "name_joined")], recall=0.7
    )
    training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in (block_on("name_joined"), block_on("id_number"), block_on("phone")):
        training.estimate_parameters_using_expectation_maximisation(
            rule, record_sample_proportion=1.0
        )


def run_splink(
    roster: list[dict[str, Any]],
    events: list[dict[str, Any]],
    truth: set[tuple[str, str]],
    *,
    stream_sample: int = 200,
    say: Any = print,
) -> dict[str, Any]:
    import pandas as pd
    from splink import DuckDBAPI, Linker

    for noisy in ("splink", "splink.internals"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    left, right = _rows(roster, events)
    started = time.perf_counter()
    import duckdb

    # One thread, like our matcher: the comparison is per core.
    db_api = DuckDBAPI(connection=duckdb.connect(config={"threads": 1}))
    roster_sdf = db_api.register(pd.DataFrame(left), dataset_display_name="roster")
    events_sdf = db_api.register(pd.DataFrame(right), dataset_display_name="events")
    linker = Linker([roster_sdf, events_sdf], _settings(), log_level=None)
    _train(linker)
    trained = time.perf_counter() - started
    say(f"splink: trained in {trained:.1f} s; batch predict over {len(right):,} events")
    started = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=_THRESHOLD)
    frame = predictions.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    batch_seconds = time.perf_counter() - started
    predicted = set()
    for l_id, r_id, l_src in zip(
        frame["unique_id_l"], frame["unique_id_r"], frame["source_dataset_l"], strict=True
    ):
        predicted.add((r_id, l_id) if l_src == "roster" else (l_id, r_id))
    metrics = pair_metrics(predicted, truth)
    linker.table_management.compute_tf_table("name_joined")
    stream = _stream(linker, db_api, roster_sdf, right[:stream_sample], pd)
    return {
        "train_seconds": round(trained, 2),
        "batch_predict_seconds": round(batch_seconds, 2),
        "batch_events_per_s": round(len(right) / batch_seconds) if batch_seconds else 0,
        "events": len(right),
        "roster_traced": len(left),
        **{f"batch_{k}": v for k, v in metrics.as_dict().items()},
        "stream": stream,
    }


def _stream(
    linker: Any, db_api: Any, roster_sdf: Any, sample: list[dict[str, Any]], pd: Any
) -> Any:
    samples = []
    for n, row in enumerate(sample):
        start = time.perf_counter_ns()
        one = db_api.register(pd.DataFrame([row]), table_name=f"event_{n}")
        linker.inference.predict_between(
            roster_sdf, one, threshold_match_probability=_THRESHOLD
        ).as_pandas_dataframe()
        samples.append(time.perf_counter_ns() - start)
    return latency(samples).as_dict()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object of a file (the feed's malformed lines skipped, as Splink needs rows)."""
    found = []
    with path.open("rb") as handle:
        for line in handle:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and isinstance(value.get("event_id", ""), str):
                found.append(value)
    return found


class _Stages:
    """Wall and CPU seconds of each stage of one job, each stage said as it ends.

    CPU is this process's (``getrusage``: DuckDB's threads included). Each stage is written at
    once as a JSON line, so a job stopped at its time limit still says how far it got.
    """

    def __init__(self, say: Callable[[str], object]) -> None:
        self._say = say
        self.figures: dict[str, Any] = {}
        self._wall, self._cpu = time.perf_counter(), _cpu_seconds()
        self._first_wall, self._first_cpu = self._wall, self._cpu

    def done(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        self.figures[f"{stage}_seconds"] = round(wall - self._wall, 2)
        self.figures[f"{stage}_cpu_seconds"] = round(cpu - self._cpu, 2)
        self.figures["whole_seconds"] = round(wall - self._first_wall, 2)
        self.figures["whole_cpu_seconds"] = round(cpu - self._first_cpu, 2)
        self.figures["peak_rss_mb"] = _peak_rss_mb()
        self._wall, self._cpu = wall, cpu
        self._say(orjson.dumps({"stage": stage, **self.figures}).decode())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux


def whole_job(
    roster_path: Path,
    events_path: Path,
    *,
    threads: int,
    say: Callable[[str], object] = lambda _line: None,
) -> dict[str, Any]:
    """Splink's whole job on the files: load and prepare, train, predict; seconds of each.

    Args:
        roster_path: the roster JSONL.
        events_path: the events JSONL.
        threads: DuckDB's threads.
        say: called with a JSON line of the figures so far as each stage ends.
    """
    import duckdb
    import pandas as pd
    from splink import DuckDBAPI, Linker

    for noisy in ("splink", "splink.internals"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    stages = _Stages(say)
    roster = _read_jsonl(roster_path)
    events = [e for e in _read_jsonl(events_path) if e.get("event_id")]
    left, right = _rows(roster, events)
    del roster, events  # Splink reads the frames; the dicts would only hold memory
    db_api = DuckDBAPI(connection=duckdb.connect(config={"threads": threads}))
    roster_sdf = db_api.register(pd.DataFrame(left), dataset_display_name="roster")
    events_sdf = db_api.register(pd.DataFrame(right), dataset_display_name="events")
    sizes = {"threads": threads, "roster_traced": len(left), "events": len(right)}
    stages.figures.update(sizes)
    del left, right
    stages.done("load")
    linker = Linker([roster_sdf, events_sdf], _settings(), log_level=None)
    _train(linker)
    stages.done("train")
    predictions = linker.inference.predict(threshold_match_probability=_THRESHOLD)
    stages.figures["links"] = len(predictions.as_pandas_dataframe())  # type: ignore[no-untyped-call]
    stages.done("predict")
    return stages.figures


def main(argv: list[str] | None = None) -> None:
    """Run :func:`whole_job` on files; print each stage's figures, the last line the whole."""
    parser = argparse.ArgumentParser(description="Splink 5's whole job on JSONL files.")
    parser.add_argument("--roster", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    result = whole_job(args.roster, args.events, threads=args.threads, say=say)
    say(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
