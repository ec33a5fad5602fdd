"""One PNG per run, drawn from the run's JSON document alone (so a recorded result can be
drawn again): ``bench.run`` (throughput over time, latency CDF, CPU per tx by stage, the
sweep's steps) and ``bench.crypto`` (operations per CPU second by primitive and backend beside
``openssl speed``, and the ratios). Every figure carries the machine, commit, date and bound.

The JSON keeps compact series for this (:func:`run_series`): 1-second throughput bins and the
latency distribution as quantiles, not one entry per transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness.stagecpu import ORDER
from bench.harness.stats import percentile, throughput_series

#: Quantiles (%) kept of the latency distribution: the body coarsely, the tail finely.
CDF_QUANTILES = (
    [float(q) for q in range(0, 90)]
    + [90 + q / 10 for q in range(0, 90)]
    + [99 + q / 100 for q in range(0, 100)]
    + [100.0]
)
NICE_SECONDS = [m * 10.0**e for e in range(-4, 3) for m in (1, 2, 5)]
#: Bar colours (matplotlib's tab10): the stages, then bench.crypto's backends.
COLOURS_HEX = {
    "http": "#1f77b4",
    "admission": "#17becf",
    "verify": "#d62728",
    "execute": "#2ca02c",
    "commit": "#bcbd22",
    "consensus": "#9467bd",
    "compaction": "#8c564b",
    "checkpoint": "#e377c2",
    "background": "#8c564b",
    "event_loop": "#ff7f0e",
    "other": "#d3d3d3",
    "native": "#d62728",
    "backend": "#1f77b4",
    "openssl speed": "#7f7f7f",
}


def run_series(
    submit_times: Sequence[float],
    commit_times: Sequence[float],
    latencies: Sequence[float],
    origin: float,
    bin_s: float = 1.0,
) -> dict[str, Any]:
    """What the figure needs of a phase, small enough for the JSON (~1 KB + 2 numbers/s)."""
    sub = throughput_series(submit_times, origin, bin_s)
    com = throughput_series(commit_times, origin, bin_s)
    return {
        "bin_s": bin_s,
        "submitted_per_s": [round(r, 1) for _, r in sub],
        "committed_per_s": [round(r, 1) for _, r in com],
        "latency_quantiles": latency_quantiles(latencies),
    }


def latency_quantiles(latencies: Sequence[float]) -> list[list[float]]:
    """[[quantile %, seconds]] at :data:`CDF_QUANTILES` ([] for no latencies)."""
    ordered = sorted(latencies)
    return [[q, round(percentile(ordered, q), 6)] for q in CDF_QUANTILES] if ordered else []


def provenance(doc: dict[str, Any]) -> str:
    """The line under every figure: machine, commit, date, bound."""
    m = doc.get("machine") or {}
    commit = (doc.get("commit") or "unknown")[:12]
    dirty = "+dirty" if str(doc.get("commit", "")).endswith("+dirty") else ""
    parts = [
        f"{m.get('cores', '?')} cores {m.get('cpu_model', '?')}",
        f"commit {commit}{dirty}",
        str(doc.get("started_at", "?")),
    ]
    if doc.get("bound"):
        parts.append(f"bound B = {doc['bound']:,.0f} tx/s")
    load = m.get("loadavg_at_start")
    if load:
        parts.append(f"load {load[0]:.1f}")
    return " | ".join(parts)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "PNG reports need matplotlib, a benchmark extra: pip install -e '.[bench]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ticker() -> Any:
    import matplotlib.ticker

    return matplotlib.ticker


def _throughput(ax: Any, doc: dict[str, Any]) -> None:
    s = doc.get("series") or {}
    ax.set_title("throughput over time")
    if not s.get("committed_per_s"):  # the light-load mode: one tx at a time
        bps = doc.get("blocks_per_s")
        note = f"one tx at a time\n{doc.get('txs', '?')} txs"
        note += f", {bps:.1f} blocks/s" if bps else ""
        ax.text(0.5, 0.5, note, ha="center", va="center")
        ax.set_axis_off()
        return
    bin_s = s.get("bin_s", 1.0)
    peak = 0.0
    for key, label in (("submitted_per_s", "submitted"), ("committed_per_s", "committed")):
        ys = s.get(key) or []
        if ys:  # each bin drawn over its whole width (the last one too)
            xs = [i * bin_s for i in range(len(ys) + 1)]
            ax.stairs(ys, xs, label=label, lw=1.5)
            peak = max(peak, *ys)
    offered = (doc.get("parameters") or {}).get("rate")
    if offered:
        ax.axhline(offered, color="tab:blue", linestyle=":", label=f"offered {offered:,.0f}/s")
    bound = doc.get("bound")
    if bound and bound <= 3 * peak:
        ax.axhline(bound, linestyle="--", color="grey", label=f"bound B = {bound:,.0f}")
    elif bound:  # far above the series: named, not drawn (it would flatten them)
        ax.plot([], [], " ", label=f"bound B = {bound:,.0f} (off scale)")
    tps = doc.get("tps")
    if tps and math.isfinite(tps) and tps <= 2 * peak:
        # (a run shorter than its blocks has no meaningful steady rate: not drawn)
        ax.axhline(
            tps,
            color="tab:orange",
            linestyle="-.",
            lw=1,
            label=f"steady {tps:,.0f}/s",
        )
    ax.set_xlabel("time since the phase started (s)")
    ax.set_ylabel(f"tx/s ({bin_s:g} s bins)")
    ax.legend(loc="best", fontsize="small")


def _latency_cdf(ax: Any, doc: dict[str, Any]) -> None:
    ticker = _ticker()
    pts = (doc.get("series") or {}).get("latency_quantiles") or []
    pts = [(q, v) for q, v in pts if v is not None and v > 0]
    if pts:
        xs = [v for _, v in pts]
        ax.plot(xs, [q / 100 for q, _ in pts], color="tab:blue")
        if max(xs) > 4 * min(xs):  # log only where it spreads something
            ax.set_xscale("log")
            lo, hi = min(xs), max(xs)
            ax.xaxis.set_major_locator(
                ticker.FixedLocator([t for t in NICE_SECONDS if lo / 1.5 <= t <= hi * 1.5])
            )
            ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        for q, style in ((50, "-"), (99, ":")):
            v = doc.get(f"latency_p{q}_s")
            if v:
                ax.axvline(v, color="black", linestyle=style, lw=1, label=f"p{q} = {v:.3f} s")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("submit -> commit latency (s)")
    ax.set_ylabel("fraction of committed txs")
    ax.set_title("latency CDF")
    ax.grid(True, which="both", alpha=0.3)


def _stage_cpu(ax: Any, doc: dict[str, Any]) -> None:
    sc = doc.get("stage_cpu")
    ax.set_title("node CPU per committed tx, by stage")
    if not sc:
        ax.text(0.5, 0.5, "no per-stage counters", ha="center", va="center")
        ax.set_axis_off()
        return
    committed = sc["committed"]
    rows = [
        {k: 1e6 * v / committed for k, v in node.items() if k != "process"}
        for node in sc["per_node"]
    ]
    labels = [f"node {i}" for i in range(len(rows))]
    rows.append(dict(sc["us_per_tx"]))
    labels.append("mean")
    stages = [k for k in ORDER if any(k in r for r in rows)]
    stages += sorted({k for r in rows for k in r} - set(stages))
    left = [0.0] * len(rows)
    for st in stages:
        widths = [r.get(st, 0.0) for r in rows]
        ax.barh(labels, widths, left=left, label=st, color=COLOURS_HEX.get(st))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    verify_rate = doc.get("sm2_verify_per_cpu_s_backend") or doc.get("sm2_verify_per_cpu_s")
    if verify_rate:
        ax.axvline(
            1e6 / verify_rate,
            color="black",
            linestyle="--",
            lw=1,
            label=f"one SM2 verify ({1e6 / verify_rate:.0f} us)",
        )
    for i, total in enumerate(left):
        ax.text(total, i, f" {total:,.0f}", va="center", fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("CPU us per committed tx per node")
    ax.set_xlim(0, 1.15 * max(left))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5, fontsize="x-small")


def _sweep(ax: Any, steps: Sequence[dict[str, Any]], limit_s: float) -> None:
    offered = [s["offered_tps"] for s in steps]
    ax.plot(offered, [s["tps"] for s in steps], marker="o", label="committed tx/s")
    ax.set_xlabel("offered tx/s (per step)")
    ax.set_ylabel("committed tx/s")
    ax2 = ax.twinx()
    ax2.plot(
        offered,
        [s["latency_p99_s"] for s in steps],
        marker="s",
        color="tab:red",
        label="p99 latency",
    )
    ax2.axhline(limit_s, color="tab:red", linestyle=":")
    ax2.set_ylabel("p99 latency (s)", color="tab:red")
    ax.set_title("sweep: each step")
    ax.legend(loc="upper left", fontsize="small")


def write_run_png(path: Path, doc: dict[str, Any], title: str, p99_limit_s: float = 3.0) -> None:
    """The figure of one ``bench.run`` result document."""
    plt = _pyplot()
    steps = doc.get("sweep") or []
    panels = 4 if steps else 3
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 5.2))
    _throughput(axes[0], doc)
    _latency_cdf(axes[1], doc)
    _stage_cpu(axes[2], doc)
    if steps:
        _sweep(axes[3], steps, p99_limit_s)
    fig.suptitle(title)
    fig.text(0.5, 0.005, provenance(doc), ha="center", va="bottom", fontsize="small")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def crypto_bars(doc: dict[str, Any]) -> list[tuple[str, float]]:
    """(label, operations per CPU second) of the SM2 primitives by backend, then openssl speed."""
    out: list[tuple[str, float]] = []
    for be, v in (doc.get("sm2") or {}).items():
        for op in ("sign", "verify"):
            r = v.get(f"{op}_per_cpu_s") if isinstance(v, dict) else None
            if r:
                out.append((f"{op} {be}", float(r)))
    sp = doc.get("openssl_speed") or {}
    for op in ("sign", "verify"):
        if sp.get(f"{op}_per_s"):
            out.append((f"{op} openssl speed", float(sp[f"{op}_per_s"])))
    return out


def _crypto_rates(ax: Any, doc: dict[str, Any]) -> None:
    bars = crypto_bars(doc)
    colours = [
        COLOURS_HEX[
            "openssl speed" if "openssl speed" in k else "native" if "native" in k else "backend"
        ]
        for k, _ in bars
    ]
    ax.barh([k for k, _ in bars], [v for _, v in bars], color=colours)
    for i, (_, v) in enumerate(bars):
        ax.text(v, i, f" {v:,.0f}", va="center", fontsize="x-small")
    ax.set_xscale("log")
    if bars:
        ax.set_xlim(right=3 * max(v for _, v in bars))
    ax.invert_yaxis()
    ax.set_xlabel("operations per CPU second, one core (log)")
    ax.set_title("SM2 by backend beside `openssl speed sm2`")


def crypto_ratios(doc: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    """(label, ratio, target or None) of a ``bench.crypto`` result, those it measured."""
    ra = doc.get("ratios") or {}
    targets = doc.get("targets") or {}
    shown = [
        ("verify default / openssl speed", "verify_ours_over_openssl_speed", "verify_ratio"),
        (
            "verify openssl backend / speed",
            "verify_openssl_backend_over_openssl_speed",
            "openssl_backend_verify_ratio",
        ),
        ("sign default / openssl speed", "sign_ours_over_openssl_speed", None),
        ("batch all cores / one (wall)", "batch_over_single_core", "batch_speedup"),
        ("batch speedup (CPU estimate)", "batch_speedup_cpu_estimate", "batch_speedup"),
    ]
    return [
        (label, float(ra[key]), targets.get(target) if target else None)
        for label, key, target in shown
        if ra.get(key) is not None
    ]


def _crypto_ratios(ax: Any, doc: dict[str, Any]) -> None:
    shown = crypto_ratios(doc)
    ax.barh([k for k, _, _ in shown], [v for _, v, _ in shown], color="tab:green")
    for i, (_, v, t) in enumerate(shown):
        ax.text(
            v, i, f" {v:.2f}x" + (f" (target {t:g})" if t else ""), va="center", fontsize="x-small"
        )
        if t:
            ax.plot([t, t], [i - 0.4, i + 0.4], color="black", lw=2)
    ax.axvline(1.0, color="grey", lw=1)
    top = max([v for _, v, _ in shown] + [t for _, _, t in shown if t] + [1.0])
    ax.set_xlim(0, 1.35 * top)  # room for the labels
    ax.invert_yaxis()
    ax.set_xlabel("ratio (measured in alternating rounds of one run)")
    ax.set_title("ratios")


def write_crypto_png(path: Path, doc: dict[str, Any]) -> None:
    """The figure of one ``bench.crypto`` result document."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    _crypto_rates(axes[0], doc)
    _crypto_ratios(axes[1], doc)
    fig.suptitle(f"bench.crypto: default backend {doc.get('sm2_backend', '?')}")
    line = provenance(doc)
    b4 = crypto_bound(doc, 4)
    if b4:
        line += (
            f" | B = cores x verify/CPU s / validators: {b4:,.0f} (4 val), {4 * b4:,.0f} (1 val)"
        )
    fig.text(0.5, 0.005, line, ha="center", va="bottom", fontsize="small")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def crypto_bound(doc: dict[str, Any], validators: int) -> float | None:
    """The bound B these verify rates give ``validators`` validators on this machine."""
    rate = (doc.get("verify_rounds") or {}).get("verify_per_cpu_s")
    cores = (doc.get("machine") or {}).get("cores")
    return float(cores * rate / validators) if rate and cores else None
