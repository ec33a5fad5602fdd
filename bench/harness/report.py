"""What a run leaves behind: a terminal table, a JSON document and a PNG report."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness.stats import percentile, throughput_series


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain aligned text table; numbers right-aligned."""
    if not rows:
        return "(no rows)"
    cols = list(columns) if columns is not None else list(rows[0])
    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    numeric = [
        all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) for c in cols
    ]

    def line(items: Sequence[str]) -> str:
        return "  ".join(
            it.rjust(w) if num else it.ljust(w)
            for it, w, num in zip(items, widths, numeric, strict=True)
        ).rstrip()

    out = [line(cols), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def _clean(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(doc), indent=2, sort_keys=False) + "\n")


# long: one figure, panel by panel
def write_png(
    path: Path,
    title: str,
    submit_times: Sequence[float],
    commit_times: Sequence[float],
    latencies: Sequence[float],
    origin: float,
    sweep: Sequence[dict[str, Any]] = (),
    bound: float | None = None,
) -> None:
    """Throughput over time (offered and committed), the latency distribution and, for a
    sweep, committed TPS and p99 against the offered rate."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "--png needs matplotlib, a benchmark extra: pip install -e '.[bench]'"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if sweep else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5))
    ax = axes[0]
    for times, label in ((submit_times, "submitted"), (commit_times, "committed")):
        series = throughput_series(times, origin)
        if series:
            ax.step([t for t, _ in series], [r for _, r in series], where="post", label=label)
    if bound:
        ax.axhline(bound, linestyle="--", color="grey", label=f"bound B = {bound:,.0f}")
        ax.axhline(bound / 2, linestyle=":", color="grey", label="0.5 B")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("tx/s (1 s bins)")
    ax.set_title("throughput over time")
    ax.legend(loc="best", fontsize="small")

    ax = axes[1]
    if latencies:
        ax.hist(latencies, bins=60, color="tab:blue", alpha=0.7)
        for q, style in ((50, "-"), (95, "--"), (99, ":")):
            v = percentile(latencies, q)
            ax.axvline(v, color="black", linestyle=style, label=f"p{q} = {v:.3f} s")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel("submit -> commit latency (s)")
    ax.set_ylabel("transactions")
    ax.set_title("latency distribution")

    if sweep:
        ax = axes[2]
        offered = [s["offered_tps"] for s in sweep]
        ax.plot(offered, [s["tps"] for s in sweep], marker="o", label="committed tx/s")
        ax.set_xlabel("offered tx/s")
        ax.set_ylabel("committed tx/s")
        ax2 = ax.twinx()
        ax2.plot(
            offered, [s["latency_p99_s"] for s in sweep], marker="s", color="tab:red", label="p99"
        )
        ax2.axhline(3.0, color="tab:red", linestyle=":")
        ax2.set_ylabel("p99 latency (s)")
        ax.set_title("sweep")
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
