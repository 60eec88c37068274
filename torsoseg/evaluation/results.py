"""The records of an evaluation: per-case scores, the organ matching, tables and JSON (round trip)."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torsoseg.evaluation.matching import LabelMatching, OrganMatch
from torsoseg.evaluation.metrics import OrganScore
from torsoseg.evaluation.table import METRICS, Stats, check_metric, default_digits, format_table, format_value
from torsoseg.fileio import atomic_write_json, read_json

RESULT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CaseResult:
    """The scores of one case: organ -> :class:`OrganScore`, in the matching's organ order."""

    case: str
    reference: str
    prediction: str
    scores: dict[str, OrganScore]

    def to_json(self) -> dict:
        return {
            "case": self.case,
            "reference": self.reference,
            "prediction": self.prediction,
            "organs": {o: s.to_json() for o, s in self.scores.items()},
        }

    @classmethod
    def from_json(cls, d: Mapping) -> CaseResult:
        return cls(
            case=str(d["case"]),
            reference=str(d["reference"]),
            prediction=str(d["prediction"]),
            scores={o: OrganScore.from_json(s) for o, s in d["organs"].items()},
        )


@dataclass(frozen=True)
class Presence:
    """One organ over the cases that annotate it, split by whether the reference has it.

    A case without the organ (after a cholecystectomy or a nephrectomy, or a scan that ends above it)
    scores Dice 0 for any predicted voxel of it and n/a otherwise, so the table's average mixes how well
    the organ is outlined with how often it is hallucinated; this record keeps the two apart.

    Attributes:
        with_organ: cases whose reference has the organ.
        dice_with_organ: mean Dice over those (NaN when there is none).
        missed: of those, the cases with no predicted voxel of it.
        without_organ: annotated cases whose reference lacks it.
        false_positives: of those, the cases with predicted voxels of it (each scores Dice 0).
        false_positive_ml: the mean volume of those false predictions, mL (NaN when there is none).
    """

    with_organ: int
    dice_with_organ: float
    missed: int
    without_organ: int
    false_positives: int
    false_positive_ml: float

    @classmethod
    def of(cls, scores: Sequence[OrganScore]) -> Presence:
        """From one organ's scores in each case (``not_annotated`` ones are left out)."""
        present = [s for s in scores if s.reference_voxels > 0]
        absent = [s for s in scores if s.reference_voxels == 0 and s.status != "not_annotated"]
        false = [s.prediction_ml for s in absent if s.prediction_voxels > 0]
        return cls(
            with_organ=len(present),
            dice_with_organ=Stats.of([s.dice for s in present]).avg,
            missed=sum(1 for s in present if s.prediction_voxels == 0),
            without_organ=len(absent),
            false_positives=len(false),
            false_positive_ml=Stats.of(false).avg,
        )

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in vars(self).items()}


def presence_table(presence: Mapping[str, Presence], fmt: str = "md", only_uneven: bool = True) -> str:
    """Organ -> :class:`Presence` as a table, one row per organ (see
    :meth:`EvaluationResult.presence_table`; also for presences pooled over several evaluations)."""
    rows = {o: p for o, p in presence.items() if not only_uneven or p.without_organ or p.missed}
    if fmt not in ("md", "csv"):
        raise ValueError(f"unknown table format {fmt!r}; valid: md, csv")
    if not rows:
        return ""
    header = ["organ", "cases with it", "Dice on them", "missed", "cases without it",
              "false positives", "their mean mL"]

    def cells(p: Presence, digits: int, ml_digits: int, empty: str) -> list[str]:
        return [str(p.with_organ), format_value(p.dice_with_organ, digits, empty), str(p.missed),
                str(p.without_organ), str(p.false_positives),
                format_value(p.false_positive_ml, ml_digits, empty)]

    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([o, *cells(p, 3, 1, "n/a")]) + " |" for o, p in rows.items()]
        return "\n".join(lines) + "\n"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([h.replace(" ", "_") for h in header])
    for o, p in rows.items():
        w.writerow([o, *cells(p, 6, 6, "")])
    return buf.getvalue()


@dataclass(frozen=True)
class EvaluationResult:
    """Every score of an evaluation, with what was matched and what could not be evaluated.

    Attributes:
        cases: per-case results, sorted by case identifier.
        matching: which labels formed each organ; organs missing on either side.
        tolerance_mm: the surface Dice tolerance.
        reference_dir, prediction_dir: the evaluated folders.
        missing_predictions: reference cases without a prediction file.
        extra_predictions: prediction files without a reference case (ignored).
        failed: case -> error message for cases that could not be evaluated.
    """

    cases: tuple[CaseResult, ...]
    matching: LabelMatching
    tolerance_mm: float
    reference_dir: str = ""
    prediction_dir: str = ""
    missing_predictions: tuple[str, ...] = ()
    extra_predictions: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def organs(self) -> list[str]:
        """Evaluated organs (table columns)."""
        return self.matching.organs

    def values(self, metric: str = "dice") -> dict[str, dict[str, float]]:
        """``case -> organ -> value`` of one metric (``dice``, ``hd95`` or ``surface_dice``)."""
        check_metric(metric)
        return {c.case: {o: float(getattr(s, metric)) for o, s in c.scores.items()} for c in self.cases}

    def summary(self, metric: str = "dice") -> dict[str, Stats]:
        """Per organ avg/std/min/max over the cases where the metric is defined."""
        vals = self.values(metric)
        return {o: Stats.of([v.get(o, float("nan")) for v in vals.values()]) for o in self.organs}

    def table(self, metric: str = "dice", fmt: str = "md", digits: int | None = None) -> str:
        """The paper's table of ``metric``: rows = cases, then avg, std, min, max (``fmt`` md or csv)."""
        digits = default_digits(metric) if digits is None else digits
        return format_table(self.values(metric), self.organs, fmt=fmt, digits=digits)

    def presence(self) -> dict[str, Presence]:
        """Per organ: the cases with it (their mean Dice, how many were missed) and the cases without it
        (how many got a false one, and its mean volume). See :class:`Presence`."""
        return {o: Presence.of([c.scores[o] for c in self.cases if o in c.scores]) for o in self.organs}

    def presence_table(self, fmt: str = "md", only_uneven: bool = True) -> str:
        """:meth:`presence` as a table, one row per organ (``fmt`` md or csv).

        Args:
            fmt: ``"md"`` or ``"csv"``.
            only_uneven: keep only the organs that some case lacks or that some case missed (the rows
                where the Dice table's average hides something); "" when there is none.
        """
        return presence_table(self.presence(), fmt, only_uneven)

    def report(self) -> str:
        """Plain-text notes: organs not evaluated, cases missing or failed."""
        lines = []
        m = self.matching
        if m.missing_in_prediction:
            lines.append("reference organs the prediction lacks (not scored): "
                         + ", ".join(m.missing_in_prediction))
        if m.missing_in_reference:
            lines.append("predicted organs the reference lacks (not scored): "
                         + ", ".join(m.missing_in_reference))
        if self.missing_predictions:
            lines.append("reference cases without a prediction: " + ", ".join(self.missing_predictions))
        if self.extra_predictions:
            lines.append("predictions without a reference (ignored): " + ", ".join(self.extra_predictions))
        for case, msg in self.failed.items():
            lines.append(f"case {case} failed: {msg}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """JSON-ready dict (NaN as ``null``)."""
        return {
            "format_version": RESULT_FORMAT_VERSION,
            "reference_dir": self.reference_dir,
            "prediction_dir": self.prediction_dir,
            "tolerance_mm": self.tolerance_mm,
            "organs": self.organs,
            "matching": self.matching.to_json(),
            "summary": {
                metric: {o: s.to_json() for o, s in self.summary(metric).items()} for metric in METRICS
            },
            "presence": {o: p.to_json() for o, p in self.presence().items()},
            "cases": [c.to_json() for c in self.cases],
            "missing_predictions": list(self.missing_predictions),
            "extra_predictions": list(self.extra_predictions),
            "failed": dict(self.failed),
        }

    @classmethod
    def from_json(cls, d: Mapping, source: str = "results") -> EvaluationResult:
        if d.get("format_version") != RESULT_FORMAT_VERSION:
            raise ValueError(f"{source}: unsupported format_version {d.get('format_version')!r}")
        mj = d["matching"]
        matched = tuple(
            OrganMatch(
                organ=m["organ"],
                reference_values=tuple(int(v) for v in m["reference"].values()),
                prediction_values=tuple(int(v) for v in m["prediction"].values()),
                reference_names=tuple(m["reference"]),
                prediction_names=tuple(m["prediction"]),
            )
            for m in mj["matched"]
        )
        matching = LabelMatching(
            matched, tuple(mj["missing_in_prediction"]), tuple(mj["missing_in_reference"])
        )
        return cls(
            cases=tuple(CaseResult.from_json(c) for c in d["cases"]),
            matching=matching,
            tolerance_mm=float(d["tolerance_mm"]),
            reference_dir=str(d.get("reference_dir", "")),
            prediction_dir=str(d.get("prediction_dir", "")),
            missing_predictions=tuple(d.get("missing_predictions", ())),
            extra_predictions=tuple(d.get("extra_predictions", ())),
            failed=dict(d.get("failed", {})),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the JSON atomically."""
        return atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> EvaluationResult:
        return cls.from_json(read_json(path), source=str(path))
