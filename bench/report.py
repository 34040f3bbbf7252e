"""Render benchmark results: a rich table on the terminal, ``latest.md``, and PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import RESULTS

__all__ = ["plot", "print_tables", "write_markdown"]

Row = tuple[str, str, str, str]  # figure, value, target, verdict


def _fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def _check(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def _row(figure: str, value: str, target: str = "", ok: bool | None = None) -> Row:
    return (figure, value, target, _check(ok))


def rows(results: dict[str, Any]) -> list[Row]:
    """The headline figures, one row each, with their targets where the brief sets one."""
    out: list[Row] = []
    if results.get("febrl"):
        out += _febrl_rows(results["febrl"])
    quality = results.get("quality")
    if quality:
        out += _quality_rows(quality)
    if results.get("quality_hainan"):
        out += _hainan_rows(results["quality_hainan"])
    for speed in results.get("speed", []):
        out += _speed_rows(speed)
    if results.get("splink") and quality:
        out += _splink_rows(results["splink"], quality)
    if results.get("e2e"):
        out += _e2e_rows(results["e2e"])
    if results.get("alerts"):
        out += _alerts_rows(results["alerts"])
    return out


def _alerts_rows(alerts: dict[str, Any]) -> list[Row]:
    """Issue 16's targets: searchable -> topic p99 under 1 s; throughput within 10 % of off."""
    out: list[Row] = []
    for key, case in alerts.items():
        if not isinstance(case, dict) or "throughput_ratio_mean" not in case:
            continue
        runs = case["pipeline"] if isinstance(case["pipeline"], list) else [case["pipeline"]]
        topic = runs[-1].get("to_topic", {})
        if topic.get("count"):
            p99 = topic["p99_ms"] / 1000
            out.append(
                _row(
                    f"alerts {key} subs: searchable -> topic p50 / p99",
                    f"{topic['p50_ms'] / 1000:.2f} / {p99:.2f} s",
                    "p99 < 1 s",
                    p99 < 1.0,
                )
            )
        ratio = case["throughput_ratio_mean"]
        out.append(
            _row(f"alerts {key} subs: events/s on / off", f"{ratio:.2f}", ">= 0.90", ratio >= 0.9)
        )
    return out


def _e2e_rows(e2e: dict[str, Any]) -> list[Row]:
    """End to end on the local stack: sustained rate, and produce-to-searchable latency."""
    out: list[Row] = []
    throughput = e2e.get("throughput")
    if throughput:
        rate = throughput["events_per_s"]
        busy = ", ".join(f"{k} {v:.0f}%" for k, v in throughput["cpu_percent"].items())
        out.append(
            _row(
                f"e2e, {throughput['workers']} worker(s): events/s sustained",
                f"{rate:,} (CPU: {busy})",
                ">= 5,000",
                rate >= 5_000,
            )
        )
    latency = e2e.get("latency")
    if latency:
        p99 = latency["p99_s"]
        out.append(
            _row(
                f"e2e produced -> searchable at {latency['rate']:,} events/s: p50 / p99",
                f"{latency['p50_s']:.2f} / {p99:.2f} s",
                "p99 <= 2 s",
                p99 <= 2.0,
            )
        )
    return out


def _febrl_rows(febrl: dict[str, Any]) -> list[Row]:
    out = []
    for label in ("trained_unsupervised", "default_model"):
        m = febrl[label]
        value = f"F1 {_fmt(m['f1'])} (P {_fmt(m['precision'])} R {_fmt(m['recall'])})"
        if label == "trained_unsupervised":
            out.append(_row(f"FEBRL4 5k x 5k, {label}", value, "F1 >= 0.999", m["f1"] >= 0.999))
        else:
            out.append(_row(f"FEBRL4 5k x 5k, {label}", value))
    return out


def _quality_rows(quality: dict[str, Any]) -> list[Row]:
    o = quality["overall"]
    config = quality["config"]
    size = f"{config['events']:,} events, {config['watchlist']:,} roster"
    out = [
        _row(f"Chinese synthetic ({size}): F1", _fmt(o["f1"]), ">= 0.97", o["f1"] >= 0.97),
        _row("  precision", _fmt(o["precision"]), ">= 0.995", o["precision"] >= 0.995),
        _row("  recall", _fmt(o["recall"])),
        _row("  false leads / 10k events", str(quality["false_leads_per_10k_events"])),
    ]
    trained = quality.get("trained_unsupervised")
    if trained:
        value = (
            f"F1 {_fmt(trained['f1'])} P {_fmt(trained['precision'])} R {_fmt(trained['recall'])}"
        )
        out.append(_row("  model trained here without labels (tracer train)", value))
    for tier, m in quality.get("by_min_tier", {}).items():
        value = f"F1 {_fmt(m['f1'])} P {_fmt(m['precision'])} R {_fmt(m['recall'])}"
        out.append(_row(f"  (diagnostic) leads of tier >= {tier} only", value))
    for axis in ("by_name", "by_id"):
        for group, m in quality[axis].items():
            value = f"F1 {_fmt(m['f1'])} P {_fmt(m['precision'])} R {_fmt(m['recall'])}"
            fl = m["false_leads_per_10k_events"]
            out.append(_row(f"  {axis[3:]} = {group}", f"{value}, false leads/10k {fl}"))
    return out


def _hainan_rows(quality: dict[str, Any]) -> list[Row]:
    """The hainan feed mix: headline, the ceiling the no-name-only rule allows, phenomena."""
    o = quality["overall"]
    config = quality["config"]
    size = f"{config['events']:,} events, {config['watchlist']:,} roster"
    ceiling = quality.get("ceiling")
    out = [
        _row(f"Hainan mix ({size}): F1", _fmt(o["f1"])),
        _row("  precision", _fmt(o["precision"]), ">= 0.998", o["precision"] >= 0.998),
        _row(
            "  recall (ceiling: true events with evidence beyond the name)",
            f"{_fmt(o['recall'])} (ceiling {_fmt(ceiling)})",
            "within 0.01 of the ceiling",
            None if ceiling is None else o["recall"] >= ceiling - 0.01,
        ),
        _row("  false leads / 10k events", str(quality["false_leads_per_10k_events"])),
    ]
    trained = quality.get("trained_unsupervised")
    if trained:
        value = (
            f"F1 {_fmt(trained['f1'])} P {_fmt(trained['precision'])} R {_fmt(trained['recall'])}"
        )
        out.append(_row("  model trained on this feed without labels (tracer train)", value))
    for word, m in quality.get("by_phenomenon", {}).items():
        value = f"recall {_fmt(m['recall'])} ({m['found']}/{m['true_links']})"
        out.append(_row(f"  phenomenon {word}", f"{value}, false leads {m['false_leads']}"))
    for kind, m in quality.get("decoys", {}).items():
        if m["false_leads"]:
            out.append(_row(f"  false leads from {kind}", f"{m['false_leads']} of {m['events']}"))
    return out


def _speed_rows(speed: dict[str, Any]) -> list[Row]:
    size, lat = speed["roster_size"], speed["latency"]
    p50, p99 = lat["p50_us"] / 1000, lat["p99_us"] / 1000
    memory = f"{speed['rss_after_roster_mb']:,.0f} MB (peak {speed['peak_rss_mb']:,.0f} MB)"
    load = f"{speed['roster_load_seconds']} s ({speed['roster_people_per_s']:,} people/s)"
    rate = f"{lat['events_per_s']:,.0f}"
    runs = speed.get("events_per_s_runs", [])
    if len(runs) > 1:
        rate += f" (median of {len(runs)} runs: {min(runs):,}-{max(runs):,})"
    out = []
    if size == 100_000:
        out.append(
            _row(
                f"speed, roster {size:,}: events/s, 1 core",
                rate,
                ">= 20,000",
                lat["events_per_s"] >= 20_000,
            )
        )
        out.append(
            _row("  p50 / p99 latency", f"{p50:.3f} / {p99:.3f} ms", "p99 <= 2 ms", p99 <= 2.0)
        )
    else:
        out.append(_row(f"speed, roster {size:,}: events/s, 1 core", rate))
        out.append(_row("  p50 / p99 latency", f"{p50:.3f} / {p99:.3f} ms"))
    if size >= 1_000_000:
        out.append(_row("  RSS after roster", memory, "<= 1 GB", speed["peak_rss_mb"] <= 1024))
    else:
        out.append(_row("  RSS after roster", memory))
    out.append(_row("  roster load", load))
    if "matchers_compiled" in speed:
        how = "compiled (mypyc, make compile)" if speed["matchers_compiled"] else "Python"
        out.append(_row("  matchers ran", how))
    if "normalise_us_per_event" in speed:
        split = (
            f"normalise {speed['normalise_us_per_event']} us + match "
            f"{speed['match_us_per_event']} us ({speed['candidates_per_event']} candidates)"
        )
        out.append(_row("  per event", split))
    return out


def _splink_rows(splink: dict[str, Any], quality: dict[str, Any]) -> list[Row]:
    ours = quality["latency"]["events_per_s"]
    stream = splink["stream"]
    stream_ratio = ours / stream["events_per_s"] if stream["events_per_s"] else 0.0
    batch_ratio = ours / splink["batch_events_per_s"] if splink["batch_events_per_s"] else 0.0
    ours_p50 = quality["latency"]["p50_us"] / 1000
    return [
        _row(
            "Splink 5 batch F1 (ours)",
            f"{_fmt(splink['batch_f1'])} ({_fmt(quality['overall']['f1'])})",
        ),
        _row(
            "  Splink precision / recall",
            f"{_fmt(splink['batch_precision'])} / {_fmt(splink['batch_recall'])}",
        ),
        _row(
            "  Splink batch events/s (ours, one at a time)",
            f"{splink['batch_events_per_s']:,} ({ours:,.0f})",
        ),
        _row("  Splink time / our time, batch", f"{batch_ratio:.2f}x"),
        _row(
            "  Splink event at a time: p50 (ours)",
            f"{stream['p50_us'] / 1000:.1f} ms ({ours_p50:.3f} ms)",
        ),
        _row("  Splink time / our time, event at a time", f"{stream_ratio:,.0f}x"),
    ]


def print_tables(results: dict[str, Any], console: Console) -> None:
    table = Table(title="tracer benchmarks", show_lines=False)
    for column in ("figure", "value", "target", ""):
        table.add_column(column)
    for figure, value, target, verdict in rows(results):
        style = {"PASS": "green", "MISS": "red"}.get(verdict, "")
        table.add_row(figure, value, target, f"[{style}]{verdict}[/]" if style else verdict)
    console.print(table)


def write_markdown(results: dict[str, Any], command: str) -> Path:
    env = results["environment"]
    lines = [
        "# Benchmark results (latest run)",
        "",
        f"Command: `{command}`  ",
        f"Started {env['started_at']} on {env['cpus']} CPUs (load {env['load_average_1m']}), "
        f"Python {env['python']}; total {results.get('total_seconds', 0):.0f} s.",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
    ]
    for figure, value, target, verdict in rows(results):
        lines.append(f"| {figure.strip()} | {value} | {target} | {verdict} |")
    lines += _notes(results)
    lines += ["", "Raw figures: `bench/results/*.json`; plots: `bench/results/*.png`.", ""]
    path = RESULTS / "latest.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _notes(results: dict[str, Any]) -> list[str]:
    out = [""]
    quality = results.get("quality")
    if quality:
        kinds = sorted(quality["false_leads_by_event_kind"].items())
        config = quality["config"]
        out.append(
            f"Synthetic data: `tracer simulate` logic, seed {config['seed']}, "
            f"{config['people']:,} people, model `{quality['model_version']}`. "
            "False leads by what the event really was: "
            + (", ".join(f"{k} {v}" for k, v in kinds) or "none")
            + "."
        )
    carried = results.get("carried_over")
    if carried:
        out.append(
            f"Parts {', '.join(carried['parts'])} carried over from the run started "
            f"{carried['from_run_started_at']}."
        )
    speed = results.get("speed")
    if speed:
        counts = ", ".join(f"{s['roster_size']:,}: {s['counts']['events']:,}" for s in speed)
        out.append(
            f"Speed: events per roster size ({counts}); each size in fresh processes, the run "
            "with the median events/s reported (latency, memory) and the range beside it; "
            "events/s = events / sum of per-event match times (JSON parsing excluded)."
        )
    if results.get("splink"):
        out.append(
            "Splink 5.0 on DuckDB with one thread; training time not in the batch figure; "
            "event at a time = `predict_between(roster, one_event)` on a sample."
        )
    return out


def plot(results: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    quality, splink = results.get("quality"), results.get("splink")
    if quality and splink:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.bar(
            ["tracer", "Splink 5"],
            [quality["overall"]["f1"], splink["batch_f1"]],
            color=["C0", "C1"],
        )
        ax1.set_ylim(0, 1)
        ax1.set_title("F1, Chinese synthetic feeds")
        labels = ["tracer\n(per event)", "Splink batch", "Splink\nevent at a time"]
        speeds = [
            quality["latency"]["events_per_s"],
            splink["batch_events_per_s"],
            splink["stream"]["events_per_s"],
        ]
        ax2.bar(labels, speeds, color=["C0", "C1", "C1"])
        ax2.set_yscale("log")
        ax2.set_title("events per second (1 core, log scale)")
        fig.tight_layout()
        written.append(RESULTS / "f1_speed.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    speeds = results.get("speed", [])
    if speeds:
        fig, ax = plt.subplots(figsize=(7, 4))
        for speed in speeds:
            q = speed["latency_quantiles_us"]
            ys = [i / len(q) for i in range(len(q))]
            ax.plot([v / 1000 for v in q], ys, label=f"roster {speed['roster_size']:,}")
        ax.set_xscale("log")
        ax.set_xlabel("per-event latency (ms, log)")
        ax.set_ylabel("share of events")
        ax.axvline(2.0, color="grey", linestyle=":", label="2 ms")
        ax.legend()
        ax.set_title("tracer match latency CDF")
        fig.tight_layout()
        written.append(RESULTS / "latency_cdf.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written
