"""A PNG chart of replication lag over the recent validation runs (matplotlib, no display needed)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any


def _when(report: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(report["started_at"])
    except (KeyError, TypeError, ValueError):
        return None


def lag_chart(reports: list[dict[str, Any]], path: Path) -> Path:
    """A -> B and B -> C lag in bytes per run, then, after a cutover, C -> A (the way back) in the same chart;
    runs that found problems are marked in red."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a worker
    import matplotlib.pyplot as plt

    points = [(t, r) for r in reports if (t := _when(r)) is not None]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    try:
        top = 0
        for key, label, colour in (("a_to_b_lag_bytes", "A -> B (bytes)", "tab:blue"),
                                   ("b_to_c_lag_bytes", "B -> C (bytes)", "tab:green"),
                                   ("c_to_a_lag_bytes", "C -> A, the way back after the cutover (bytes)",
                                    "tab:orange")):
            xs = [t for t, r in points if r.get("figures", {}).get(key) is not None]
            ys = [r["figures"][key] for t, r in points if r.get("figures", {}).get(key) is not None]
            if not ys and key == "c_to_a_lag_bytes":
                continue  # no cutover yet: no legend entry for a series that cannot have points
            # matplotlib plots datetimes through its units registry; its annotations admit numbers only.
            ax.plot(xs, ys, marker="o", label=label, color=colour)  # type: ignore[arg-type]
            top = max([top, *ys])
        failed = [t for t, r in points if r.get("problems")]
        for t in failed:
            ax.axvline(t, color="tab:red", alpha=0.3, linewidth=6)  # type: ignore[arg-type]  # as above
        # Linear up to 1 KiB, logarithmic above: zero lag and a runaway slot fit on one chart.
        ax.set_yscale("symlog", linthresh=1024)
        ax.set_ylim(0, max(4096, top * 2))
        ax.set_ylabel("lag (bytes)")
        ax.set_title(f"pgshift replication lag, last {len(points)} validation runs "
                     f"({len(failed)} with problems, in red)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
        fig.autofmt_xdate()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.png")
        fig.savefig(tmp, format="png")
        tmp.replace(path)
    finally:
        plt.close(fig)
    return path
