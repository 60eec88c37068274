"""Training settings: one frozen dataclass, variants are named presets (``PRESETS``).

Example:
    >>> s = get_settings("cpu", num_epochs=5)
    >>> s.num_epochs, s.initial_lr
    (5, 0.001)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from torsoseg.network.precision import PRECISIONS

OPTIMIZERS = ("sgd", "adamw")
#: How the output rows of organs new to a fine-tuned model start (see
#: :func:`torsoseg.training.finetune.init_new_rows`).
NEW_ROW_INITS = ("zero", "random")


@dataclass(frozen=True)
class AugmentationSettings:
    """batchgenerators augmentation parameters (probabilities are per sample).

    Attributes:
        rotation_deg: maximal rotation angle (degrees) about each axis.
        p_rotation: probability of a rotation.
        scale_range: isotropic zoom range.
        p_scale: probability of a zoom.
        p_noise, noise_variance: additive Gaussian noise.
        p_blur, blur_sigma: Gaussian blur.
        p_brightness, brightness_range: multiplicative brightness.
        p_contrast, contrast_range: contrast change around the mean.
        p_lowres, lowres_zoom: low-resolution simulation (down with nearest, up with cubic).
        p_gamma, p_gamma_inverted, gamma_range: gamma with retained statistics (also on the inverted image).
        mirror_axes: spatial axes that may be mirrored (each with probability 0.5); mirroring axis 0
            (left-right) swaps paired organ labels.
        order_data: spline order of the spatial transform for the image (1 is several times cheaper
            than 3 on a CPU and indistinguishable at these zoom factors).
        order_seg: interpolation of the label map in the spatial transform: 1 resamples every label
            linearly and takes the argmax (nnU-Net v1's way; one interpolation per label), 0 is nearest
            neighbour (one interpolation; batchgeneratorsv2's way). With 21 labels, 1 costs about a sixth
            of a CPU training step.
        p_partial_coverage, partial_coverage_range: a scan that covers only part of the body (a 4 cm
            slab, a liver-only series): with this probability a sample keeps only an axial window
            (canonical axis 2) whose length is drawn from this range as a fraction of the patch's axial
            extent; outside it the image is the predictor's padding value (0) and the label background,
            as when the predictor pads a thin input up to the patch. Without it a network trained on whole
            torsos leans on 15 cm of axial context and finds almost nothing in a 4 cm slab.
        p_field_of_view, field_of_view_range: a field of view cropped in plane (a reconstruction around
            one lung, a small-FOV scan): with this probability a sample keeps only a window of each
            in-plane axis (canonical axes 0 and 1, each window's length drawn from this range as a
            fraction of the patch's extent), the rest padding and background as above. Off (0) in every
            preset: measured in documentation/training.md, "A field of view cropped in plane".
    """

    rotation_deg: float = 30.0
    p_rotation: float = 0.2
    scale_range: tuple[float, float] = (0.7, 1.4)
    p_scale: float = 0.2
    p_noise: float = 0.1
    noise_variance: tuple[float, float] = (0.0, 0.1)
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.0)
    p_brightness: float = 0.15
    brightness_range: tuple[float, float] = (0.75, 1.25)
    p_contrast: float = 0.15
    contrast_range: tuple[float, float] = (0.75, 1.25)
    p_lowres: float = 0.25
    lowres_zoom: tuple[float, float] = (0.5, 1.0)
    p_gamma: float = 0.3
    p_gamma_inverted: float = 0.1
    gamma_range: tuple[float, float] = (0.7, 1.5)
    mirror_axes: tuple[int, ...] = (0, 1, 2)
    order_data: int = 3
    order_seg: int = 1
    p_partial_coverage: float = 0.1
    partial_coverage_range: tuple[float, float] = (0.1, 0.7)
    p_field_of_view: float = 0.0
    field_of_view_range: tuple[float, float] = (0.4, 0.9)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name.startswith("p_"):
                v = getattr(self, f.name)
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"augmentation {f.name} must be in [0, 1], got {v}")
        bad = [a for a in self.mirror_axes if a not in (0, 1, 2)]
        if bad:
            raise ValueError(f"augmentation mirror_axes must be spatial axes 0, 1, 2; got {self.mirror_axes}")
        if self.order_seg not in (0, 1):
            raise ValueError(f"augmentation order_seg must be 0 or 1 (nearest or per-label linear), got "
                             f"{self.order_seg}")
        lo, hi = self.partial_coverage_range
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"augmentation partial_coverage_range must satisfy 0 < low <= high <= 1 "
                             f"(fractions of the patch's axial extent), got {self.partial_coverage_range}")
        lo, hi = self.field_of_view_range
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"augmentation field_of_view_range must satisfy 0 < low <= high <= 1 "
                             f"(fractions of the patch's in-plane extent), got {self.field_of_view_range}")


@dataclass(frozen=True)
class TrainingSettings:
    """Everything the training loop needs besides the data, the plans and the device.

    Attributes:
        num_epochs: epochs of the run (the poly schedule reaches 0 at ``num_epochs``).
        iterations_per_epoch: training steps per epoch.
        val_iterations: validation batches per epoch (held-out cases, no augmentation, fixed seed).
        initial_lr: start learning rate (after warm-up).
        optimizer: ``sgd`` (Nesterov SGD, the method's optimiser) or ``adamw``. The short CPU presets use
            AdamW: on a budget of a few hundred steps, SGD with momentum 0.99 stays in its "everything is
            background" phase (measured: no lung learned after 400 steps on tiny torso phantoms, while
            AdamW overfits both lungs of the same batch within 40 steps).
        momentum, nesterov: SGD only. weight_decay: both.
        poly_exponent: ``lr = initial_lr * (1 - e / num_epochs) ** poly_exponent``.
        warmup_epochs: linear warm-up epochs before the poly decay (0: none).
        freeze_encoder_epochs: epochs in which the encoder's learning rate is 0 (fine-tuning).
        head_lr_factor: learning rate of the output heads (``seg_heads``, deep supervision included)
            relative to ``initial_lr``. Fine-tuning presets set 10: the transferred body learns at the
            paper's 10x smaller rate, the rows of new organs at the from-scratch rate.
        head_first_epochs: epochs in which only the heads train (body frozen): "linear probing, then
            fine-tuning".
        new_row_init: how the head rows of organs new to a fine-tuned model start: ``zero`` (zero weights,
            the transferred organs' mean bias: no paired organ starts favoured and no new organ starts
            ahead of or far behind the transferred rows) or ``random`` (the network's fresh init).
        grad_clip: maximal gradient norm.
        oversample_foreground: share of each batch centred on a voxel of a random present class.
        ce_class_balance: exponent of the per-batch inverse-frequency class weights of the cross-entropy
            (0: plain cross-entropy as nnU-Net; 0.5: square root; see
            :func:`torsoseg.training.losses.balanced_class_weights`).
        batch_size: patches per step and rank; ``None`` = the plans' batch size.
        num_workers: background augmentation processes (0: inline in the training process).
        precision: ``fp32``, ``bf16`` or ``auto`` (see :mod:`torsoseg.network.precision`).
        channels_last: channels-last 3D memory format (``None`` = where it measured faster: CPU with
            bfloat16).
        deep_supervision: train with the decoder's lower-resolution outputs too.
        ema_alpha: weight of the past in the exponential moving average of the mean pseudo Dice.
        seed: base random seed (rank ``r`` uses ``seed + 1000 * r``).
        augmentation: the augmentation parameters.
    """

    num_epochs: int = 1000
    iterations_per_epoch: int = 250
    val_iterations: int = 50
    initial_lr: float = 1e-2
    optimizer: str = "sgd"
    momentum: float = 0.99
    nesterov: bool = True
    weight_decay: float = 3e-5
    poly_exponent: float = 0.9
    warmup_epochs: int = 0
    freeze_encoder_epochs: int = 0
    head_lr_factor: float = 1.0
    head_first_epochs: int = 0
    new_row_init: str = "zero"
    grad_clip: float = 12.0
    oversample_foreground: float = 0.33
    ce_class_balance: float = 0.0
    batch_size: int | None = None
    num_workers: int = 2
    precision: str = "auto"
    channels_last: bool | None = None
    deep_supervision: bool = True
    ema_alpha: float = 0.9
    seed: int = 12345
    augmentation: AugmentationSettings = field(default_factory=AugmentationSettings)

    def __post_init__(self) -> None:
        problems = []
        for name in ("num_epochs", "iterations_per_epoch"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "val_iterations", "warmup_epochs", "freeze_encoder_epochs", "head_first_epochs", "num_workers"
        ):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not self.head_lr_factor > 0:
            problems.append(f"head_lr_factor must be > 0, got {self.head_lr_factor}")
        if self.new_row_init not in NEW_ROW_INITS:
            problems.append(
                f"new_row_init must be one of {', '.join(NEW_ROW_INITS)}, got {self.new_row_init!r}"
            )
        if not self.initial_lr > 0:
            problems.append(f"initial_lr must be > 0, got {self.initial_lr}")
        if self.ce_class_balance < 0:
            problems.append(f"ce_class_balance must be >= 0, got {self.ce_class_balance}")
        if not 0.0 <= self.oversample_foreground <= 1.0:
            problems.append(f"oversample_foreground must be in [0, 1], got {self.oversample_foreground}")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 0.0 <= self.ema_alpha < 1.0:
            problems.append(f"ema_alpha must be in [0, 1), got {self.ema_alpha}")
        if problems:
            raise ValueError("invalid training settings: " + "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        """Plain dict (lists for tuples): goes into checkpoints and logs."""
        d = dataclasses.asdict(self)

        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, (tuple, list)):
                return [plain(x) for x in v]
            return v

        return plain(d)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], source: str = "settings") -> TrainingSettings:
        """Inverse of :meth:`to_json`; unknown keys raise an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{source}: unknown training setting(s) {', '.join(unknown)}")
        kw = dict(d)
        aug = kw.pop("augmentation", None)
        if aug is not None:
            aug_known = {f.name for f in dataclasses.fields(AugmentationSettings)}
            bad = sorted(set(aug) - aug_known)
            if bad:
                raise ValueError(f"{source}: unknown augmentation setting(s) {', '.join(bad)}")
            aug = {k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}
            # settings saved before the partial-coverage augmentation existed trained without it: a resumed
            # run goes on as it started
            aug.setdefault("p_partial_coverage", 0.0)
            aug.setdefault("p_field_of_view", 0.0)
            kw["augmentation"] = AugmentationSettings(**aug)
        return cls(**kw)


_DEFAULT = TrainingSettings()

#: Named presets. ``default`` is nnU-Net's budget; ``cpu`` trains a cpu-budget plan usefully on two
#: cores in minutes; ``finetune*`` use the paper's 10x smaller learning rate with a warm-up.
PRESETS: dict[str, TrainingSettings] = {
    "default": _DEFAULT,
    # cpu: 24 epochs x 10 steps (+ 4 validation batches each): about 4 minutes for the cpu-budget plan of the
    # abdomen phantom with bfloat16 on 2 AMX cores (see documentation/training.md). Inline augmentation:
    # it costs ~1/10 of a step, and a worker process would take a core from the step.
    # No mirroring on the cpu presets: after reorientation every CT is in one canonical orientation, so a
    # mirrored torso never occurs at test time, and a net trained on left-right mirrors learns side-blind
    # features (a liver on either side), which a fine-tuned model must then unlearn to tell a left lung
    # from a right one (issue 12; TotalSegmentator trains without mirroring for the same reason).
    # Class-balanced cross-entropy (square root of the inverse frequency) on the cpu presets: with plain
    # Dice + CE the small organs stay at 0 for hundreds of steps (their softmax saturates once the
    # background dominates); measured on the demo's pretraining, 160 steps: pancreas 0.37 vs 0.00.
    "cpu": replace(
        _DEFAULT, num_epochs=24, iterations_per_epoch=10, val_iterations=4, num_workers=0, precision="auto",
        optimizer="adamw", initial_lr=1e-3, ce_class_balance=0.5,
        augmentation=replace(_DEFAULT.augmentation, order_data=1, order_seg=0, mirror_axes=()),
    ),
    # the paper's rule (everything at 10x smaller than from scratch), with per-group rates: the output
    # heads, which hold the rows of organs new to the model, learn at the from-scratch rate
    "finetune": replace(_DEFAULT, initial_lr=1e-3, warmup_epochs=10, head_lr_factor=10.0),
}
# the paper's plain rule: every parameter at lr / 10, new rows at their random init
PRESETS["finetune_plain"] = replace(PRESETS["finetune"], head_lr_factor=1.0, new_row_init="random")
# fine-tuning strategies on the cpu preset (compared in documentation/training.md):
#   finetune_cpu_plain      every parameter at 1e-4 (the cpu preset's 1e-3 / 10), random new rows: the paper
#   finetune_cpu_10x        body at 1e-4 (the paper's 10x smaller rate), heads at 1e-2, new rows zero
#   finetune_cpu            body at 3e-4, heads at 1e-2, new rows zero: the demo's default. With AdamW a
#                           weight moves about the learning rate per step, so in a 300-step budget the
#                           body at 1e-4 barely adapts to the new field of view and organs; measured on
#                           the demo (seed 0): mean Dice 0.718 vs 0.629 at 1e-4, kidneys 0.78 / 0.75 vs
#                           0.34 / 0.67; at the current 600 steps over 3 seeds 0.774 vs 0.757, and only
#                           this preset ranks above scratch on every seed. A departure from the paper's
#                           10x, chosen by measurement.
#   finetune_cpu_headfirst  as finetune_cpu after a head-only phase (body frozen)
PRESETS["finetune_cpu_plain"] = replace(
    PRESETS["cpu"], initial_lr=1e-4, warmup_epochs=2, new_row_init="random"
)
PRESETS["finetune_cpu_10x"] = replace(
    PRESETS["finetune_cpu_plain"], head_lr_factor=100.0, new_row_init="zero"
)
PRESETS["finetune_cpu"] = replace(PRESETS["finetune_cpu_10x"], initial_lr=3e-4, head_lr_factor=100.0 / 3.0)
PRESETS["finetune_cpu_headfirst"] = replace(PRESETS["finetune_cpu"], head_first_epochs=4, warmup_epochs=0)

#: The preset each trainer uses when none is named (no ``_<preset>`` suffix in its folder name).
TRAINER_DEFAULT_PRESET = {"Trainer": "default", "FineTuneTrainer": "finetune"}


def get_settings(preset: str | None = None, **overrides: Any) -> TrainingSettings:
    """The settings of ``preset`` with ``overrides`` applied (``None`` values are ignored).

    Raises:
        ValueError: an unknown preset (the message lists the valid ones) or an invalid value.

    Example:
        >>> get_settings("finetune").initial_lr
        0.001
    """
    name = "default" if preset is None else preset
    if name not in PRESETS:
        raise ValueError(f"unknown training preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    base = PRESETS[name]
    given = {k: v for k, v in overrides.items() if v is not None}
    known = {f.name for f in dataclasses.fields(TrainingSettings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(
            f"unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
        )
    return replace(base, **given)


def trainer_name(pretrained: bool, preset: str | None) -> str:
    """Model-folder trainer name: ``Trainer``/``FineTuneTrainer``, plus ``_<preset>`` when not its default."""
    base = "FineTuneTrainer" if pretrained else "Trainer"
    name = TRAINER_DEFAULT_PRESET[base] if preset is None else preset
    return base if name == TRAINER_DEFAULT_PRESET[base] else f"{base}_{name}"
