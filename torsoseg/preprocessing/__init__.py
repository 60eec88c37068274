"""preprocessing: reorientation, body crop, CT normalisation, resampling and the preprocessed cache.

``preprocess_dataset(raw_dir, out_dir, plans)`` builds the cache of a dataset; ``preprocess_volume`` is the
per-image step that inference uses (its inverse, back to the input geometry, is
:mod:`torsoseg.inference.export`, the one restore path).
"""

from torsoseg.preprocessing.cache import CachedCase, list_cached_cases, load_case
from torsoseg.preprocessing.case import (
    CaseProperties,
    preprocess_case,
    preprocess_volume,
)
from torsoseg.preprocessing.preprocess import PreprocessingError, PreprocessReport, preprocess_dataset

__all__ = [
    "CachedCase",
    "CaseProperties",
    "PreprocessReport",
    "PreprocessingError",
    "list_cached_cases",
    "load_case",
    "preprocess_case",
    "preprocess_dataset",
    "preprocess_volume",
]
