"""The records of an evaluation: per-case scores, the organ matching, tables and JSON (round trip)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torsoseg.evaluation.matching import LabelMatching, OrganMatch
from torsoseg.evaluation.metrics import OrganScore
from torsoseg.evaluation.table import METRICS, Stats, check_metric, default_digits, format_table
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
