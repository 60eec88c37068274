"""A procedural torso CT phantom: the embedded default data of torsoseg.

``generate_case(kind, seed, size)`` returns one CT (int16 HU) with its label map; ``write_source(kind, n,
out_dir)`` writes cases in the source layout of the paper's abdominal, VISCERAL and torso datasets.
See ``documentation/phantom.md`` for the anatomy model.

Example:
    >>> from torsoseg.phantom import generate_case
    >>> case = generate_case("abdomen", seed=0, size="tiny")  # doctest: +SKIP
"""

from torsoseg.phantom.case import (
    ORIENTATIONS,
    SIZES,
    CasePlan,
    PhantomCase,
    generate_case,
    plan_case,
    render_plan,
)
from torsoseg.phantom.intensities import PHASES
from torsoseg.phantom.labels import KINDS, source_labels
from torsoseg.phantom.layouts import write_source

__all__ = [
    "KINDS",
    "ORIENTATIONS",
    "PHASES",
    "SIZES",
    "CasePlan",
    "PhantomCase",
    "generate_case",
    "plan_case",
    "render_plan",
    "source_labels",
    "write_source",
]
