"""The ``Plans`` record: everything the network, preprocessing, training and inference need to agree on.

Written once per dataset to ``plans.json`` (versioned, validated on load). All per-axis quantities are in
the canonical array axis order of :mod:`torsoseg.imageio` (axis 0 = left-right, 1 = anterior-posterior,
2 = inferior-superior).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from torsoseg.fileio import atomic_write_json, read_json
from torsoseg.paths import check_name

PLANS_FORMAT_VERSION = 1
DEFAULT_PLANS_NAME = "torsoseg_plans"
DEFAULT_CONFIGURATION = "3d_fullres"
#: The configurations a plan can hold: the single-stage network, and the two stages of the cascade.
CONFIGURATIONS = ("3d_fullres", "3d_lowres", "3d_cascade")
#: Margin (mm) by which the fine stage's region grows around the organs (training crops and prediction).
DEFAULT_CASCADE_MARGIN_MM = 20.0


@dataclass(frozen=True)
class CTNormalization:
    """CT intensity normalisation: clip to ``[lower, upper]``, z-score.

    The planner sets the window to the foreground's 0.5/99.5 percentiles, its low end at most -200 HU
    (:func:`torsoseg.planning.planner.normalization_from_fingerprint`).

    Attributes:
        mean, std: of the clipped foreground intensities (HU).
        lower, upper: clipping bounds (HU).
    """

    mean: float
    std: float
    lower: float
    upper: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.std) and self.std > 0):
            raise ValueError(f"CT normalisation std must be > 0, got {self.std}")
        if not self.lower < self.upper:
            raise ValueError(f"CT normalisation needs lower < upper, got {self.lower} >= {self.upper}")

    def apply(self, array: np.ndarray) -> np.ndarray:
        """HU array (any shape) -> normalised float32 array of the same shape."""
        out = np.clip(np.asarray(array, dtype=np.float32), self.lower, self.upper)
        out -= np.float32(self.mean)
        out /= np.float32(self.std)
        return out


@dataclass(frozen=True)
class StageConfiguration:
    """A further resolution stage of a plan (today: the low-resolution stage of the cascade).

    Attributes:
        target_spacing: mm per canonical axis of this stage.
        patch_size, strides, kernel_sizes, features, batch_size: the stage's network and patch, as in
            :class:`Plans`.
        median_shape: median case shape (voxels) at ``target_spacing``.
    """

    target_spacing: tuple[float, float, float]
    patch_size: tuple[int, int, int]
    strides: tuple[tuple[int, int, int], ...]
    kernel_sizes: tuple[tuple[int, int, int], ...]
    features: tuple[int, ...]
    batch_size: int
    median_shape: tuple[int, int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "patch_size": list(self.patch_size),
            "strides": [list(s) for s in self.strides],
            "kernel_sizes": [list(k) for k in self.kernel_sizes],
            "features": list(self.features),
            "batch_size": self.batch_size,
            "target_spacing": list(self.target_spacing),
            "median_shape": list(self.median_shape),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str = "plans.json [cascade]") -> StageConfiguration:
        names = [f for f in cls.__dataclass_fields__]
        missing = [k for k in names if k not in d]
        unknown = sorted(set(d) - set(names))
        if missing or unknown or not isinstance(d, dict):
            raise ValueError(f"{source}: missing key(s) {missing}, unknown key(s) {unknown}")
        return cls(
            target_spacing=tuple(float(x) for x in d["target_spacing"]),
            patch_size=tuple(int(x) for x in d["patch_size"]),
            strides=tuple(tuple(int(x) for x in s) for s in d["strides"]),
            kernel_sizes=tuple(tuple(int(x) for x in k) for k in d["kernel_sizes"]),
            features=tuple(int(x) for x in d["features"]),
            batch_size=int(d["batch_size"]),
            median_shape=tuple(int(x) for x in d["median_shape"]),
        )


@dataclass(frozen=True)
class Configuration(StageConfiguration):
    """One configuration of a plan, typed: its stage's network and patch plus what its cache and its
    place in the cascade are.

    Attributes:
        (inherited): ``target_spacing``, ``patch_size``, ``strides``, ``kernel_sizes``, ``features``,
            ``batch_size``, ``median_shape`` of :class:`StageConfiguration`.
        name: ``3d_fullres``, ``3d_lowres`` or ``3d_cascade``.
        data_configuration: the configuration whose preprocessed cache it trains on (``3d_cascade`` reuses
            the ``3d_fullres`` cache: the same spacing).
        previous_stage: the configuration whose prediction it refines (``3d_lowres`` for ``3d_cascade``).
        region_margin_mm: for the fine stage, the margin (mm) around the organs inside which it trains and
            predicts; ``None`` for a stage that sees the whole volume.
    """

    name: str = DEFAULT_CONFIGURATION
    data_configuration: str = DEFAULT_CONFIGURATION
    previous_stage: str | None = None
    region_margin_mm: float | None = None


@dataclass(frozen=True)
class Plans:
    """A dataset's experiment plan (one configuration: 3D full resolution, optional cascade stage).

    Attributes:
        dataset_name: ``DatasetXXX_Name`` the plan belongs to.
        labels: label name -> value of this dataset (background 0, consecutive).
        target_spacing: mm per canonical axis after resampling.
        patch_size: voxels per axis of a training patch / inference tile; divisible by the product of
            the strides of each axis.
        batch_size: patches per training step (>= 2).
        strides: per encoder stage, the downsampling factor per axis; stage 0 is ``(1, 1, 1)``.
        kernel_sizes: per stage, the convolution kernel size per axis (3 or 1).
        features: per stage, the number of feature maps (doubling, capped).
        normalization: CT normalisation statistics.
        n_conv_per_stage: convolutions per encoder and decoder stage.
        median_shape: median case shape (voxels) after cropping and resampling to ``target_spacing``.
        budget: the named budget preset used; ``budget_gb`` its memory in GiB.
        planned_from: the dataset whose spacing, patch, topology and normalisation were copied, if any.
        cascade: the low-resolution stage (:class:`StageConfiguration`) when the full-resolution patch
            covers less than a quarter of the median image; ``None`` otherwise. With it the plan holds
            the configurations ``3d_lowres`` (this stage) and ``3d_cascade`` (the fine stage: the
            full-resolution network, trained and run only around the organs).
        channel_names: input channel index -> modality.
        plans_name, configuration: naming of the model folder ``<trainer>__<plans_name>__<configuration>``;
            the top-level spacing, patch and topology are those of ``configuration`` (see
            :meth:`for_configuration`).
        cascade_margin_mm: margin (mm) of the fine stage's region around the organs.
        cascade_note: the planner's words on the cascade (why it planned one, or why not).
    """

    dataset_name: str
    labels: dict[str, int]
    target_spacing: tuple[float, float, float]
    patch_size: tuple[int, int, int]
    batch_size: int
    strides: tuple[tuple[int, int, int], ...]
    kernel_sizes: tuple[tuple[int, int, int], ...]
    features: tuple[int, ...]
    normalization: CTNormalization
    n_conv_per_stage: int = 2
    median_shape: tuple[int, int, int] = (0, 0, 0)
    budget: str = "cpu"
    budget_gb: float = 0.0
    planned_from: str | None = None
    cascade: StageConfiguration | None = None
    channel_names: dict[str, str] = field(default_factory=lambda: {"0": "CT"})
    plans_name: str = DEFAULT_PLANS_NAME
    configuration: str = DEFAULT_CONFIGURATION
    cascade_margin_mm: float = DEFAULT_CASCADE_MARGIN_MM
    cascade_note: str = ""
    format_version: int = PLANS_FORMAT_VERSION

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"invalid plans for {self.dataset_name!r}: " + "; ".join(problems))

    # -- derived -------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def num_input_channels(self) -> int:
        return len(self.channel_names)

    @property
    def label_names(self) -> list[str]:
        return [k for k, _ in sorted(self.labels.items(), key=lambda kv: kv[1])]

    @property
    def num_stages(self) -> int:
        return len(self.strides)

    @property
    def total_stride(self) -> tuple[int, int, int]:
        """Product of the strides per axis: the patch must be divisible by it."""
        return tuple(int(np.prod([s[a] for s in self.strides])) for a in range(3))

    @property
    def model_folder_name(self) -> str:
        return f"{self.plans_name}__{self.configuration}"

    # -- configurations ------------------------------------------------------------------------------
    @property
    def configuration_names(self) -> tuple[str, ...]:
        """The configurations this plan holds: ``3d_fullres``, and the cascade's two when planned."""
        return CONFIGURATIONS if self.cascade is not None else (DEFAULT_CONFIGURATION,)

    @property
    def data_configuration(self) -> str:
        """Whose preprocessed cache this configuration uses (``3d_cascade`` shares ``3d_fullres``'s)."""
        return DEFAULT_CONFIGURATION if self.configuration == "3d_cascade" else self.configuration

    @property
    def previous_stage(self) -> str | None:
        """The configuration whose prediction this one refines (``3d_lowres`` for ``3d_cascade``)."""
        return "3d_lowres" if self.configuration == "3d_cascade" else None

    @property
    def region_margin_mm(self) -> float | None:
        """The fine stage's margin around the organs (mm); ``None`` for a stage that sees everything."""
        return float(self.cascade_margin_mm) if self.configuration == "3d_cascade" else None

    def for_configuration(self, name: str | None = None) -> Plans:
        """These plans as configuration ``name``: its spacing, patch and topology at the top level.

        Args:
            name: ``3d_fullres`` (``None``), ``3d_lowres`` or ``3d_cascade``.

        Raises:
            ValueError: an unknown name (lists the valid ones), a cascade stage of a plan without a
                cascade (says why the planner planned none), or plans already reduced to ``3d_lowres``.

        Example:
            >>> plans = Plans.load("preprocessed/Dataset001_Abdomen")  # doctest: +SKIP
            >>> coarse = plans.for_configuration("3d_lowres")  # doctest: +SKIP
        """
        name = DEFAULT_CONFIGURATION if name is None else str(name)
        if name == self.configuration:
            return self
        if name not in CONFIGURATIONS:
            raise ValueError(f"unknown configuration {name!r}; valid: {', '.join(self.configuration_names)}")
        if name != DEFAULT_CONFIGURATION and self.cascade is None:
            why = self.cascade_note or "these plans hold no low-resolution stage"
            raise ValueError(f"{self.dataset_name}: configuration {name} is not planned ({why}); "
                             f"valid: {', '.join(self.configuration_names)}")
        if self.configuration == "3d_lowres":
            raise ValueError(f"{self.dataset_name}: these plans are the 3d_lowres configuration; derive "
                             f"{name} from the dataset's plans.json")
        if name != "3d_lowres":
            return replace(self, configuration=name)
        c = self.cascade
        assert c is not None
        return replace(self, configuration=name, target_spacing=c.target_spacing, patch_size=c.patch_size,
                       strides=c.strides, kernel_sizes=c.kernel_sizes, features=c.features,
                       batch_size=c.batch_size, median_shape=c.median_shape)

    def configuration_record(self, name: str | None = None) -> Configuration:
        """The typed :class:`Configuration` ``name`` (see :meth:`for_configuration`)."""
        p = self.for_configuration(name)
        return Configuration(
            name=p.configuration, target_spacing=p.target_spacing, patch_size=p.patch_size, strides=p.strides,
            kernel_sizes=p.kernel_sizes, features=p.features, batch_size=p.batch_size,
            median_shape=p.median_shape, data_configuration=p.data_configuration,
            previous_stage=p.previous_stage, region_margin_mm=p.region_margin_mm,
        )

    def problems(self) -> list[str]:
        p = []
        if self.format_version != PLANS_FORMAT_VERSION:
            p.append(
                f"format_version {self.format_version} is not supported (expected {PLANS_FORMAT_VERSION})"
            )
        if len(self.target_spacing) != 3 or any(s <= 0 for s in self.target_spacing):
            p.append(f"target_spacing must be 3 positive numbers, got {self.target_spacing}")
        if len(self.patch_size) != 3 or any(int(s) < 1 for s in self.patch_size):
            p.append(f"patch_size must be 3 positive integers, got {self.patch_size}")
        if self.batch_size < 1:
            p.append(f"batch_size must be >= 1, got {self.batch_size}")
        n = len(self.strides)
        if n < 1 or tuple(self.strides[0]) != (1, 1, 1):
            p.append(f"strides must start with (1, 1, 1), got {self.strides}")
        if len(self.kernel_sizes) != n or len(self.features) != n:
            p.append(
                f"strides ({n}), kernel_sizes ({len(self.kernel_sizes)}) and features ({len(self.features)}) "
                "must have one entry per stage"
            )
        if not p:
            ts = self.total_stride
            for a in range(3):
                if self.patch_size[a] % ts[a]:
                    p.append(
                        f"patch_size {self.patch_size} axis {a} is not divisible by total stride {ts[a]}"
                    )
        if not (np.isfinite(self.cascade_margin_mm) and self.cascade_margin_mm >= 0):
            p.append(f"cascade_margin_mm must be >= 0, got {self.cascade_margin_mm}")
        if self.labels.get("background") != 0:
            p.append("labels must contain 'background': 0")
        for what in ("dataset_name", "plans_name", "configuration"):
            try:
                check_name(getattr(self, what), what)
            except ValueError as e:
                p.append(str(e))
        return p

    # -- (de)serialisation ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["cascade"] = None if self.cascade is None else self.cascade.to_json()
        d["labels"] = dict(sorted(self.labels.items(), key=lambda kv: kv[1]))
        d["strides"] = [list(s) for s in self.strides]
        d["kernel_sizes"] = [list(k) for k in self.kernel_sizes]
        for k in ("target_spacing", "patch_size", "features", "median_shape"):
            d[k] = list(d[k])
        d["configurations"] = list(self.configuration_names)  # derived, for humans; checked on load
        # format_version first for humans
        return {"format_version": d.pop("format_version"), **d}

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str = "plans.json") -> Plans:
        if not isinstance(d, dict):
            raise ValueError(f"{source}: expected a JSON object")
        version = d.get("format_version")
        if version != PLANS_FORMAT_VERSION:
            raise ValueError(
                f"{source}: format_version {version!r} is not supported (expected {PLANS_FORMAT_VERSION})"
            )
        required = ["dataset_name", "labels", "target_spacing", "patch_size", "batch_size", "strides",
                    "kernel_sizes", "features", "normalization"]
        missing = [k for k in required if k not in d]
        if missing:
            raise ValueError(f"{source}: missing key(s) {', '.join(missing)}")
        known = set(cls.__dataclass_fields__) | {"configurations"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {', '.join(unknown)}")
        try:
            kw = dict(d)
            listed = kw.pop("configurations", None)
            kw["labels"] = {str(k): int(v) for k, v in d["labels"].items()}
            kw["target_spacing"] = tuple(float(x) for x in d["target_spacing"])
            kw["patch_size"] = tuple(int(x) for x in d["patch_size"])
            kw["batch_size"] = int(d["batch_size"])
            kw["strides"] = tuple(tuple(int(x) for x in s) for s in d["strides"])
            kw["kernel_sizes"] = tuple(tuple(int(x) for x in k) for k in d["kernel_sizes"])
            kw["features"] = tuple(int(x) for x in d["features"])
            kw["normalization"] = CTNormalization(**{k: float(v) for k, v in d["normalization"].items()})
            if d.get("cascade") is not None:
                kw["cascade"] = StageConfiguration.from_json(d["cascade"], source=f"{source} [cascade]")
            if "median_shape" in d:
                kw["median_shape"] = tuple(int(x) for x in d["median_shape"])
            plans = cls(**kw)
        except (TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{source}: {e}") from None
        if listed is not None and list(listed) != list(plans.configuration_names):
            raise ValueError(f"{source}: configurations {listed} disagree with the plan "
                             f"({list(plans.configuration_names)}: a 'cascade' stage makes all three)")
        return plans

    @classmethod
    def load(cls, path: str | os.PathLike) -> Plans:
        p = Path(path)
        if p.is_dir():
            p = p / "plans.json"
        return cls.from_json(read_json(p), source=str(p))

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        if p.is_dir():
            p = p / "plans.json"
        return atomic_write_json(p, self.to_json())

    def replace(self, **changes: Any) -> Plans:
        return replace(self, **changes)
