"""Evaluation: per case and per organ Dice, HD95 and surface Dice, organs matched by name, and tables.

Example:
    >>> from torsoseg.evaluation import evaluate_folders
    >>> res = evaluate_folders("raw/Dataset003_Torso", "predictions/torso")  # doctest: +SKIP
    >>> print(res.table("dice"))  # doctest: +SKIP
"""

from torsoseg.evaluation.evaluate import DEFAULT_TOLERANCE_MM, evaluate_case, evaluate_folders
from torsoseg.evaluation.matching import LabelMatching, OrganMatch, load_label_set, match_labels
from torsoseg.evaluation.metrics import OrganScore, dice, hd95, organ_metrics, surface_dice
from torsoseg.evaluation.results import CaseResult, EvaluationResult, Presence
from torsoseg.evaluation.table import ROTH2017_TABLE1_DICE, Stats, comparison_table, format_table

__all__ = [
    "DEFAULT_TOLERANCE_MM",
    "ROTH2017_TABLE1_DICE",
    "CaseResult",
    "EvaluationResult",
    "LabelMatching",
    "OrganMatch",
    "OrganScore",
    "Presence",
    "Stats",
    "comparison_table",
    "dice",
    "evaluate_case",
    "evaluate_folders",
    "format_table",
    "hd95",
    "load_label_set",
    "match_labels",
    "organ_metrics",
    "surface_dice",
]
