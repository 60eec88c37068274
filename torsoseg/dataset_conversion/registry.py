"""The registry of source formats: name -> :class:`Format` (an explicit table, no package walking)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torsoseg.dataset_conversion import (
    abdomen,
    amos,
    btcv,
    flare22,
    labelmap,
    msd,
    nnunet,
    torso,
    totalsegmentator,
    visceral,
    word,
)
from torsoseg.dataset_conversion.sources import ConversionError, SourceScan


@dataclass(frozen=True)
class Format:
    """One source format.

    Attributes:
        name: the registry key (``torsoseg_convert NAME``).
        scan: ``scan(source, **options) -> SourceScan``; its keyword arguments are the format options.
        default_name: dataset name used when none is given.
        layout: one line describing the expected tree (shown in errors and ``--help``).
        summary: what the format is.
    """

    name: str
    scan: Callable[..., SourceScan]
    default_name: str
    layout: str
    summary: str


def _from_module(module) -> Format:
    return Format(module.NAME, module.scan, module.DEFAULT_NAME, module.LAYOUT, module.SUMMARY)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        _from_module(m)
        for m in (abdomen, visceral, torso, btcv, amos, msd, word, flare22, totalsegmentator, nnunet,
                  labelmap)
    )
}


def get_format(name: str) -> Format:
    """The registered format ``name`` (case-insensitive).

    Raises:
        ConversionError: listing the valid format names.
    """
    key = str(name).strip().lower()
    if key not in FORMATS:
        raise ConversionError(f"unknown format {name!r}; valid formats: {', '.join(FORMATS)}")
    return FORMATS[key]


def list_formats() -> list[str]:
    """Names of the registered formats, in registry order."""
    return list(FORMATS)
