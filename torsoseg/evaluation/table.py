"""Tables of metrics in the form of Table 1 of Roth et al. 2017: one row per case, then avg, std, min, max.

Statistics skip undefined values (NaN: an organ empty in both reference and prediction, or not
annotated in that case); ``std`` is the population standard deviation (``ddof=0``) over the cases that
count. A column with no defined value shows ``n/a`` (markdown) or an empty cell (CSV).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

METRICS = ("dice", "hd95", "surface_dice")
STATISTICS = ("avg", "std", "min", "max")

# Dice per organ published in Table 1 of Roth et al. 2017 (the fine-tuned model on the unseen torso set).
ROTH2017_TABLE1_DICE: Mapping[str, float] = {
    "lung_right": 0.96,
    "lung_left": 0.97,
    "liver": 0.95,
    "gallbladder": 0.77,
    "spleen": 0.90,
    "kidney_right": 0.90,
    "kidney_left": 0.88,
    "pancreas": 0.36,
}


def check_metric(metric: str) -> str:
    """Returns ``metric`` or raises a ValueError listing the valid names."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    return metric


@dataclass(frozen=True)
class Stats:
    """avg, std (population), min, max and the number of defined values of one column."""

    avg: float
    std: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        """Statistics over the finite values (NaN everywhere when there is none).

        Example:
            >>> Stats.of([0.5, float("nan"), 1.0])
            Stats(avg=0.75, std=0.25, min=0.5, max=1.0, n=2)
        """
        a = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
        if a.size == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, 0)
        return cls(float(a.mean()), float(a.std()), float(a.min()), float(a.max()), int(a.size))

    def get(self, name: str) -> float:
        return float(getattr(self, name))

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in vars(self).items()}


def format_value(value: float, digits: int, empty: str) -> str:
    """``value`` with ``digits`` decimals, or ``empty`` when it is undefined (None or not finite)."""
    if value is None or not math.isfinite(value):
        return empty
    return f"{value:.{digits}f}"


def default_digits(metric: str) -> int:
    """3 decimals for Dice-like scores, 2 for distances in mm."""
    return 2 if metric == "hd95" else 3


def build_rows(
    values: Mapping[str, Mapping[str, float]], organs: Sequence[str]
) -> tuple[list[tuple[str, list[float]]], dict[str, Stats]]:
    """Per-case rows and per-organ statistics of a ``case -> organ -> value`` mapping."""
    rows = [(case, [float(per.get(o, float("nan"))) for o in organs]) for case, per in values.items()]
    stats = {o: Stats.of([r[1][i] for r in rows]) for i, o in enumerate(organs)}
    return rows, stats


def format_table(
    values: Mapping[str, Mapping[str, float]],
    organs: Sequence[str],
    fmt: str = "md",
    digits: int = 3,
    first_column: str = "case",
) -> str:
    """Renders ``case -> organ -> value`` as the paper's table (rows = cases, then avg, std, min, max).

    Args:
        values: per case (row order kept) the value of each organ (missing or NaN = undefined).
        organs: column order.
        fmt: ``"md"`` (markdown) or ``"csv"``.
        digits: decimals (markdown); CSV keeps 6.
        first_column: header of the row-label column.

    Returns:
        The table as text (ending with a newline).

    Example:
        >>> print(format_table({"c1": {"liver": 0.9}, "c2": {"liver": 0.8}}, ["liver"]), end="")
        | case | liver |
        |---|---|
        | c1 | 0.900 |
        | c2 | 0.800 |
        | **avg** | 0.850 |
        | **std** | 0.050 |
        | **min** | 0.800 |
        | **max** | 0.900 |
    """
    rows, stats = build_rows(values, organs)
    if fmt == "md":
        lines = ["| " + " | ".join([first_column, *organs]) + " |", "|" + "---|" * (len(organs) + 1)]
        for case, vals in rows:
            lines.append("| " + " | ".join([case, *(format_value(v, digits, "n/a") for v in vals)]) + " |")
        for s in STATISTICS:
            cells = [format_value(stats[o].get(s), digits, "n/a") for o in organs]
            lines.append("| " + " | ".join([f"**{s}**", *cells]) + " |")
        return "\n".join(lines) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([first_column, *organs])
        for case, vals in rows:
            w.writerow([case, *(format_value(v, 6, "") for v in vals)])
        for s in STATISTICS:
            w.writerow([s, *(format_value(stats[o].get(s), 6, "") for o in organs)])
        return buf.getvalue()
    raise ValueError(f"unknown table format {fmt!r}; valid: md, csv")


def comparison_table(
    summaries: Mapping[str, Mapping[str, Stats]],
    organs: Sequence[str],
    reference: Mapping[str, float] | None = None,
    reference_name: str = "Roth et al. 2017",
    digits: int = 3,
) -> str:
    """Markdown table with one row per organ and one ``avg ± std`` column per model (side by side).

    Args:
        summaries: model name -> organ -> :class:`Stats` (e.g. from ``EvaluationResult.summary()``).
        organs: row order.
        reference: optional published values per organ (e.g. :data:`ROTH2017_TABLE1_DICE`).
        reference_name: header of the published column.
        digits: decimals.

    Returns:
        Markdown text, with a final ``mean`` row averaging each column's organ means.
    """
    models = list(summaries)
    header = ["organ", *models] + ([reference_name] if reference is not None else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for o in organs:
        cells = []
        for m in models:
            st = summaries[m].get(o)
            if st is None or st.n == 0:
                cells.append("n/a")
            else:
                cells.append(f"{st.avg:.{digits}f} ± {st.std:.{digits}f}")
        if reference is not None:
            cells.append(format_value(reference.get(o, float("nan")), 2, "n/a"))
        lines.append("| " + " | ".join([o, *cells]) + " |")
    means = []
    for m in models:
        avgs = [summaries[m][o].avg for o in organs if o in summaries[m] and summaries[m][o].n > 0]
        means.append(format_value(float(np.mean(avgs)) if avgs else float("nan"), digits, "n/a"))
    if reference is not None:
        ref_vals = [reference[o] for o in organs if o in reference]
        means.append(format_value(float(np.mean(ref_vals)) if ref_vals else float("nan"), 2, "n/a"))
    lines.append("| " + " | ".join(["**mean**", *means]) + " |")
    return "\n".join(lines) + "\n"
