"""Converters: every source layout into the raw dataset format (nnU-Net v2 layout).

One module per source format, an explicit registry (:data:`FORMATS`), and one shared step that
resolves every source label to a canonical organ, merges per-structure masks, checks geometry, values
and laterality, and writes the dataset atomically. Entry point: :func:`convert`.

Example:
    >>> from torsoseg.dataset_conversion import convert
    >>> convert("visceral", "/data/Anatomy3", "/data/raw", 2)  # doctest: +SKIP
"""

from torsoseg.dataset_conversion.core import convert
from torsoseg.dataset_conversion.registry import FORMATS, Format, get_format, list_formats
from torsoseg.dataset_conversion.sources import ConversionError

__all__ = ["convert", "ConversionError", "FORMATS", "Format", "get_format", "list_formats"]
