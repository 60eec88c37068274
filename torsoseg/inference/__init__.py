"""Inference: Gaussian sliding window, the ``Predictor`` and export back to the input geometry.

Example:
    >>> from torsoseg.inference import Predictor
    >>> model = "results/Dataset001_Abdomen/Trainer__torsoseg_plans__3d_fullres"
    >>> predictor = Predictor.from_model_dir(model)  # doctest: +SKIP
    >>> seg = predictor.predict_file("ct.nii.gz")  # doctest: +SKIP
"""

from torsoseg.inference.ensemble import MultiModelPredictor
from torsoseg.inference.predictor import Prediction, Predictor
from torsoseg.inference.sliding_window import sliding_window_logits
from torsoseg.inference.tiling import tile_starts

__all__ = [
    "MultiModelPredictor",
    "Prediction",
    "Predictor",
    "sliding_window_logits",
    "tile_starts",
]
