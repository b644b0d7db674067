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


# The series every report may carry at its top: (figure, label, colour).
CHAIN_SERIES = (("a_to_b_lag_bytes", "A -> B (bytes)", "tab:blue"),
                ("b_to_c_lag_bytes", "B -> C (bytes)", "tab:green"),
                ("c_to_a_lag_bytes", "C -> A, the way back after the cutover (bytes)", "tab:orange"))
# Per database (a chain with ``databases``: the report's ``databases.<name>.figures``): (figure, label).
DATABASE_SERIES = (("b_to_c_lag_bytes", "B -> C {database} (bytes)"),
                   ("c_to_a_lag_bytes", "C -> A {database}, the way back (bytes)"))
# Colours of the per-database series, in the order the databases first appear (then again from the start).
DATABASE_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:olive", "tab:cyan", "tab:pink", "tab:gray",
                    "tab:orange")


def lag_series(reports: list[dict[str, Any]]) -> list[tuple[str, str, list[tuple[datetime, float]]]]:
    """The chart's series: (label, colour, points). A -> B is the cluster's, one series; B -> C (and C -> A after a
    cutover) one series per database for reports of a chain with ``databases`` (a series per logical slot), one for
    a chain of one unnamed database. A series without a point is left out (no legend entry for it)."""
    points = [(t, r) for r in reports if (t := _when(r)) is not None]
    series = []
    for key, label, colour in CHAIN_SERIES:
        series.append((label, colour, [(t, r["figures"][key]) for t, r in points
                                       if (r.get("figures") or {}).get(key) is not None]))
    names = list(dict.fromkeys(name for _, r in points for name in (r.get("databases") or {})))
    for i, name in enumerate(names):
        for key, label in DATABASE_SERIES:
            series.append((label.format(database=name), DATABASE_COLOURS[i % len(DATABASE_COLOURS)],
                           [(t, value) for t, r in points
                            if (value := (((r.get("databases") or {}).get(name) or {}).get("figures") or {}).get(key))
                            is not None]))
    return [(label, colour, xy) for label, colour, xy in series if xy or label == CHAIN_SERIES[0][1]]


def lag_chart(reports: list[dict[str, Any]], path: Path) -> Path:
    """A -> B and B -> C lag in bytes per run, then, after a cutover, C -> A (the way back) in the same chart, one
    B -> C (C -> A) series per database for a chain of several (:func:`lag_series`); runs that found problems are
    marked in red."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a worker
    import matplotlib.pyplot as plt

    points = [(t, r) for r in reports if (t := _when(r)) is not None]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    try:
        top = 0.0
        for label, colour, xy in lag_series(reports):
            xs, ys = [t for t, _ in xy], [v for _, v in xy]
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
