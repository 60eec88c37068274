"""``MultiModelPredictor``: several models with different label sets, one label map over their union.

Each model keeps its own folds, plans, spacing and patch: it preprocesses the input its own way and runs
its own sliding window; the probabilities are then merged by organ name on the input's grid with the
rule of :mod:`torsoseg.inference.merge`.

Example:
    >>> from torsoseg.inference import MultiModelPredictor
    >>> predictor = MultiModelPredictor.from_model_dirs(
    ...     ["results/Dataset001_Abdomen/Trainer__torsoseg_plans__3d_fullres",
    ...      "results/Dataset002_VISCERAL/FineTuneTrainer__torsoseg_plans__3d_fullres"],
    ...     device="cpu")  # doctest: +SKIP
    >>> seg = predictor.predict_file("ct.nii.gz")  # doctest: +SKIP
    >>> predictor.labels  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torsoseg.imageio import Volume, read_image, restore_orientation
from torsoseg.inference.merge import MergePlan, merge_to_canonical, plan_merge
from torsoseg.inference.postprocessing import Postprocessing
from torsoseg.inference.predictor import Prediction, Predictor

logger = logging.getLogger(__name__)


def check_same_inputs(predictors: Sequence[Predictor], names: Sequence[str]) -> None:
    """Raises ``ValueError`` naming both models when two models expect different input channels.

    Channels are compared by count and modality (``channel_names``, case-insensitive): a CT model and an
    MR model, or a one-channel and a two-channel model, cannot segment the same input.
    """
    def channels(p: Predictor) -> list[str]:
        items = sorted(p.plans.channel_names.items(), key=lambda kv: int(kv[0]))
        return [str(v).strip().lower() for _, v in items]

    first = channels(predictors[0])
    for p, name in zip(predictors[1:], names[1:]):
        other = channels(p)
        if other != first:
            raise ValueError(
                f"models {names[0]} and {name} expect different inputs: {len(first)} channel(s) "
                f"{predictors[0].plans.channel_names} vs {len(other)} channel(s) {p.plans.channel_names}; "
                f"only models of the same input channels and modality can be merged"
            )


def merged_postprocessing(predictors: Sequence[Predictor], plan: MergePlan) -> Postprocessing | None:
    """The merge's postprocessing: an organ keeps only its largest component when every model that
    speaks for it (non-zero weight) chose that for it; ``None`` when no organ qualifies."""
    chosen = []
    for organ in plan.organs:
        speakers = [m for (m, _), w in zip(organ.sources, organ.weights or (1.0,) * len(organ.sources))
                    if w > 0]
        pps = [predictors[m].postprocessing for m in speakers]
        if speakers and all(pp is not None and pp.values({organ.name: 1}) for pp in pps):
            chosen.append(organ.name)
    return Postprocessing(tuple(chosen), chosen_on="the merged models' own choices") if chosen else None


class MultiModelPredictor:
    """Several :class:`~torsoseg.inference.Predictor` s whose probabilities are merged by organ name.

    It has the interface of a :class:`~torsoseg.inference.Predictor` that
    :func:`~torsoseg.inference.batch.predict_cases` uses (``labels``, ``num_input_channels``,
    ``predict_case``), so the batch outputs (probabilities, preview, statistics, ...) work on the merge.

    Args:
        predictors: the loaded models (each with its own plans, folds, device and precision).
        names: one name per model for messages (default: the plans' dataset names).
        weights: one positive weight per model (default: equal); see :mod:`torsoseg.inference.merge`.
        organ_weights: organ name -> one weight per model for that organ, e.g. from
            :func:`~torsoseg.inference.merge_weights.organ_weights_from_scores` on validation data.

    Raises:
        ValueError: no model, models with different input channels/modality (naming both), a label that
            is a near miss of an organ name (naming the label and the model), or wrong weights.
    """

    def __init__(self, predictors: Sequence[Predictor], names: Sequence[str] | None = None,
                 weights: Sequence[float] | None = None,
                 organ_weights: Mapping[str, Sequence[float]] | None = None):
        if not predictors:
            raise ValueError("MultiModelPredictor needs at least one model")
        self.predictors = list(predictors)
        if names is None:
            names = [p.plans.dataset_name for p in self.predictors]
        self.names = [str(n) for n in names]
        if len(self.names) != len(self.predictors):
            raise ValueError(f"names: {len(self.names)} names for {len(self.predictors)} models")
        check_same_inputs(self.predictors, self.names)
        self.merge_plan: MergePlan = plan_merge([p.labels for p in self.predictors], self.names, weights,
                                                organ_weights)
        self.postprocessing = merged_postprocessing(self.predictors, self.merge_plan)

    @classmethod
    def from_model_dirs(
        cls,
        paths: Sequence[str | os.PathLike],
        weights: Sequence[float] | None = None,
        organ_weights: Mapping[str, Sequence[float]] | None = None,
        **kwargs: Any,
    ) -> MultiModelPredictor:
        """Loads several model folders (see :meth:`Predictor.from_model_dir`).

        Args:
            paths: the model folders, in the order that sets the merged label values and the weights.
            weights: one positive weight per model (default: equal).
            organ_weights: per-organ weights (see the class).
            **kwargs: passed to every :meth:`Predictor.from_model_dir` (``folds``, ``checkpoint``,
                ``device``, ``precision``, ``tta``, ``step``, ...); each model keeps its own plans.

        Example:
            >>> p = MultiModelPredictor.from_model_dirs([abdomen_dir, visceral_dir], weights=[1, 2],
            ...                                         device="cpu")  # doctest: +SKIP
        """
        if not paths:
            raise ValueError("from_model_dirs needs at least one model folder")
        predictors = [Predictor.from_model_dir(p, **kwargs) for p in paths]
        return cls(predictors, names=[str(Path(p)) for p in paths], weights=weights,
                   organ_weights=organ_weights)

    # -- the Predictor interface ---------------------------------------------------------------------
    @property
    def labels(self) -> dict[str, int]:
        """The merged label set (background 0, then the organs of the first model, then new ones)."""
        return dict(self.merge_plan.labels)

    @property
    def num_classes(self) -> int:
        return len(self.merge_plan.labels)

    @property
    def num_input_channels(self) -> int:
        return self.predictors[0].num_input_channels

    def record(self) -> dict[str, Any]:
        """For ``prediction.json``: each model's record, the models' weights and the organs with weights of
        their own."""
        organ_weights = {o.name: list(o.weights) for o in self.merge_plan.organs
                         if o.weights and len(o.sources) > 1}
        return {"merge": [p.record() for p in self.predictors], "weights": list(self.merge_plan.weights),
                "organ_weights": organ_weights}

    def __repr__(self) -> str:
        inner = ", ".join(repr(p) for p in self.predictors)
        per_organ = {o.name: list(o.weights) for o in self.merge_plan.organs
                     if len(o.sources) > 1 and len(o.active()) < len(o.sources)}
        extra = f", organ_weights={per_organ}" if per_organ else ""
        return f"MultiModelPredictor({inner}, weights={list(self.merge_plan.weights)}{extra})"

    def predict_case(self, volume: Volume, probabilities: bool = False) -> Prediction:
        """Segments one volume with every model and merges their probabilities by organ name.

        Args:
            volume: a CT volume in any orientation (HU).
            probabilities: also return the merged ``(K, *volume.shape)`` float16 probabilities (channel 0
                the weighted mean background of all models, channel ``v`` the merged probability of the
                organ with value ``v``; see :func:`torsoseg.inference.merge.merge_slab`).

        Returns:
            A :class:`~torsoseg.inference.Prediction` on exactly ``volume``'s grid.
        """
        from torsoseg.preprocessing import preprocess_volume

        if len(self.predictors) == 1:  # nothing to merge: exactly that model's prediction
            return self.predictors[0].predict_case(volume, probabilities=probabilities)
        t0 = time.perf_counter()
        scores, props = [], []
        for p in self.predictors:
            data, pr = preprocess_volume(volume, p.plans)
            scores.append(p.predict_preprocessed(data, probabilities=True))
            props.append(pr)
            del data
        seg, probs = merge_to_canonical(self.merge_plan, scores, props, probabilities=probabilities)
        del scores
        if self.postprocessing is not None:
            seg = self.postprocessing.apply(seg, self.labels)
        label_map = restore_orientation(seg, props[0].reorientation)
        if not label_map.geometry.same_grid(volume.geometry):
            raise RuntimeError(
                f"internal error: merged grid {label_map.geometry.describe()} differs from the input "
                f"{volume.geometry.describe()}"
            )
        prob_out = None
        if probs is not None:
            prob_out = restore_orientation(probs, props[0].reorientation, channel_first=True)
        return Prediction(label_map, prob_out, time.perf_counter() - t0)

    def predict(self, volume: Volume) -> Volume:
        """Merged label map of ``volume`` on exactly its grid (values of :attr:`labels`)."""
        return self.predict_case(volume).label_map

    def predict_file(self, path: str | os.PathLike) -> Volume:
        """Reads an image file or DICOM series folder and segments it (see :meth:`predict`)."""
        return self.predict(read_image(path))
