"""planning: dataset fingerprint, experiment planner, and the ``Plans`` record.

``plan_dataset(raw_dir, preprocessed_root, budget="cpu")`` is the entry point; ``Plans`` the hand-over.
"""

from torsoseg.plans import CTNormalization, Plans, StageConfiguration

__all__ = ["CTNormalization", "Plans", "StageConfiguration", "plan_dataset", "compute_fingerprint",
           "Fingerprint", "BUDGETS"]


def __getattr__(name: str):  # lazy, so importing Plans does not import the planner (and torch)
    if name == "plan_dataset":
        from torsoseg.planning.pipeline import plan_dataset

        return plan_dataset
    if name in ("compute_fingerprint", "Fingerprint"):
        from torsoseg.planning import fingerprint

        return getattr(fingerprint, name)
    if name == "BUDGETS":
        from torsoseg.planning.planner import BUDGETS

        return BUDGETS
    raise AttributeError(f"module 'torsoseg.planning' has no attribute {name!r}")
