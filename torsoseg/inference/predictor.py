"""``Predictor``: a model folder loaded once, then any number of volumes segmented.

Example:
    >>> from torsoseg.inference import Predictor
    >>> model = "results/Dataset002_VISCERAL/FineTuneTrainer__torsoseg_plans__3d_fullres"
    >>> predictor = Predictor.from_model_dir(model, folds="all", device="cpu")  # doctest: +SKIP
    >>> label_map = predictor.predict_file("ct.nii.gz")  # doctest: +SKIP
    >>> label_map.shape, predictor.labels  # doctest: +SKIP

A case goes through :func:`torsoseg.preprocessing.preprocess_volume` (canonical orientation, crop, resample,
normalise), the Gaussian sliding window of every fold (optionally with mirror test-time augmentation
whose left-right flips swap paired organ channels), fold ensembling by averaging softmax, and the export
of :mod:`torsoseg.inference.export` back onto the input's exact grid.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torsoseg.imageio import Volume, read_image
from torsoseg.inference import export
from torsoseg.inference.mirroring import (
    ALL_MIRROR_AXES,
    resolve_mirror_axes,
    trained_mirror_axes,
    tta_axes_for_model,
)
from torsoseg.inference.postprocessing import Postprocessing, load_model_postprocessing
from torsoseg.inference.sliding_window import sliding_window_logits
from torsoseg.inference.tiling import DEFAULT_STEP
from torsoseg.model_folder import Checkpoint, ModelFolder, load_checkpoint
from torsoseg.network.precision import PRECISIONS, resolve_device, resolve_precision
from torsoseg.organs import lr_swap_table
from torsoseg.plans import Plans

logger = logging.getLogger(__name__)


class NotACascadeError(ValueError):
    """Cascade options given for a model that does not run as a cascade; ``options`` names them."""

    def __init__(self, message: str, options: Sequence[str]):
        super().__init__(message)
        self.options = tuple(options)


@dataclass(frozen=True)
class Prediction:
    """The result of one case.

    Attributes:
        label_map: ``uint8`` label map on exactly the input volume's grid.
        probabilities: ``(K, *input shape)`` float16 class probabilities in the input's axis order (only
            when asked for), else ``None``.
        seconds: wall time of the prediction.
    """

    label_map: Volume
    probabilities: np.ndarray | None
    seconds: float


def network_from_checkpoint(
    ckpt: Checkpoint, source: str | None = None
) -> tuple[torch.nn.Module, Plans, dict[str, int]]:
    """Builds the network of a checkpoint (no deep supervision) and loads its weights.

    Returns:
        ``(network in eval mode on the CPU, plans, labels name -> value)``.
    """
    from torsoseg.network import build_network

    source = source or str(ckpt.source or "checkpoint")
    plans, labels = ckpt.plans, ckpt.labels
    net = build_network(plans, num_classes=len(labels), deep_supervision=False)
    try:
        net.load_state_dict(ckpt.network_weights, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise ValueError(f"{source}: weights do not fit the network of its plans ({first})") from None
    return net.eval(), plans, labels


def load_folds(paths: Sequence[Path], names: Sequence[str]
               ) -> tuple[list[torch.nn.Module], Plans, dict[str, int], tuple[int, ...] | None]:
    """The networks of a model folder's fold checkpoints, their shared plans and labels, and the mirror
    axes every fold that records them was trained with (``None`` when no fold records them).

    Raises:
        ValueError: the folds' plans or labels differ (they cannot be ensembled).
    """
    networks: list[torch.nn.Module] = []
    plans, labels, trained, known = None, None, set(ALL_MIRROR_AXES), False
    for ck_path in paths:
        ckpt = load_checkpoint(ck_path)
        net, p, lab = network_from_checkpoint(ckpt)
        axes = trained_mirror_axes(ckpt.settings)
        if axes is not None:
            known = True
            trained &= set(axes)
        if plans is None:
            plans, labels = p, lab
        elif lab != labels or (p.patch_size, p.target_spacing) != (plans.patch_size, plans.target_spacing):
            raise ValueError(f"{ck_path}: plans/labels differ from fold {names[0]}; folds cannot be "
                             "ensembled")
        networks.append(net)
    assert plans is not None and labels is not None
    return networks, plans, labels, tuple(sorted(trained)) if known else None


class Predictor:
    """Loaded networks (one per fold) plus everything needed to segment volumes with them.

    Args:
        networks: one module per fold, each mapping ``(B, C, *patch)`` to ``(B, K, *patch)`` logits.
        plans: the plans the networks were built from (patch size, spacing, normalisation).
        labels: output label name -> value (consecutive, background 0).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``/``None`` (CUDA when available).
        precision: ``"fp32"``, ``"bf16"`` or ``"auto"`` (bfloat16 autocast on a CPU with native
            bfloat16 or on CUDA, float32 otherwise); only the network forward is affected.
        tta: mirror test-time augmentation: ``True`` (axes 0, 1, 2), ``False``, or the axes to mirror.
        step: sliding-window step as a fraction of the patch (0.5 = half-patch overlap).
        batch_size: tiles per forward pass (1 was fastest on CPU; see documentation/inference.md).
        channels_last: run the network in channels-last 3D memory format (not faster on CPU for the
            planned U-Nets we measured, so off by default).
        folds: names of the folds (for messages).
        progress: show a tqdm bar over tiles.
        postprocessing: applied to every label map (see :mod:`torsoseg.inference.postprocessing`);
            :meth:`from_model_dir` loads the model folder's ``postprocessing.json``.
    """

    def __init__(
        self,
        networks: Sequence[torch.nn.Module],
        plans: Plans,
        labels: dict[str, int],
        device: str | torch.device | None = None,
        precision: str = "auto",
        tta: bool | Sequence[int] = False,
        step: float = DEFAULT_STEP,
        batch_size: int = 1,
        channels_last: bool = False,
        folds: Sequence[str] | None = None,
        progress: bool = False,
        postprocessing: Postprocessing | None = None,
    ):
        if not networks:
            raise ValueError("Predictor needs at least one network")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if not 0.0 < float(step) <= 1.0:
            raise ValueError(f"step must be in (0, 1], got {step}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(None if device is None else str(device))
        self.precision = precision
        self.autocast_dtype = resolve_precision(precision, self.device)
        self.plans = plans
        self.labels = dict(sorted(labels.items(), key=lambda kv: kv[1]))
        self.mirror_axes = resolve_mirror_axes(tta)
        self.step = float(step)
        self.batch_size = int(batch_size)
        self.channels_last = bool(channels_last)
        self.folds = list(folds) if folds is not None else [str(i) for i in range(len(networks))]
        self.progress = progress
        self.postprocessing = postprocessing
        #: where the networks came from (set by :meth:`from_model_dir`): ``model`` folder, ``checkpoint``
        self.source: dict[str, str] = {}
        fmt = torch.channels_last_3d if self.channels_last else torch.contiguous_format
        self.networks = [n.eval().to(self.device, memory_format=fmt) for n in networks]
        self.lr_swap = lr_swap_table(self.labels)
        if len(self.lr_swap) != self.num_classes:
            raise ValueError(f"labels {self.labels} are not consecutive")

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def from_model_dir(
        cls,
        path: str | os.PathLike,
        folds: Sequence[int | str] | str | int | None = None,
        checkpoint: str = "final",
        device: str | torch.device | None = None,
        precision: str = "auto",
        tta: bool | Sequence[int] = False,
        step: float = DEFAULT_STEP,
        batch_size: int = 1,
        channels_last: bool = False,
        progress: bool = False,
        cascade: bool | None = None,
        postprocessing: bool = True,
        **cascade_options: Any,
    ) -> Any:
        """Loads the checkpoints of a model folder (``<trainer>__<plans>__<configuration>/fold_K/``).

        A ``3d_cascade`` folder (the fine stage) gives a
        :class:`~torsoseg.inference.cascade.CascadePredictor` that runs its coarse stage first (the
        ``3d_lowres`` folder beside it, or ``coarse_model=``); every other folder a :class:`Predictor`,
        or, given ``coarse_model=``, a cascade with this model as its fine stage: the coarse model on the
        whole image, this one only around the organs it finds (e.g. a ``3d_fullres`` model).

        Args:
            path: the model folder.
            folds: fold numbers/names, ``"all"`` or ``None`` for every fold holding the checkpoint.
            checkpoint: ``"final"``, ``"best"`` or ``"latest"``.
            device, precision, tta, step, batch_size, channels_last, progress: see :class:`Predictor`;
                ``tta=True`` mirrors only along the axes every checkpoint's training mirrored
                (:func:`tta_axes_for_model`; the cpu presets train without mirroring, so for them it is
                off, with a warning).
            cascade: ``None``: a cascade for a ``3d_cascade`` folder; ``False``: the fine model alone.
            postprocessing: apply the folder's ``postprocessing.json`` when it has one (``False``: the
                network's label maps as they are, e.g. to choose the postprocessing on them).
            **cascade_options: ``coarse_model``, ``margin_mm``, ``on_empty``, ``roi_subset``, ``tiles`` of
                the cascade.

        Raises:
            FileNotFoundError: the folder, a fold or a checkpoint is missing (the message lists what exists).
            ValueError: a checkpoint is invalid, or the folds disagree on plans/labels
                (:class:`NotACascadeError` for cascade options given to a model that is no cascade).

        Example:
            >>> p = Predictor.from_model_dir("results/Dataset001_Abdomen/Trainer__torsoseg_plans__3d_fullres",
            ...                              folds=[0], precision="bf16")  # doctest: +SKIP
        """
        d = ModelFolder(Path(path))
        paths = d.resolve_folds(folds, checkpoint)
        names = [ck.parent.name.removeprefix("fold_") for ck in paths]
        networks, plans, labels, trained = load_folds(paths, names)
        logger.info("loaded %d fold(s) %s of %s (%s)", len(networks), names, d.path, checkpoint)
        kw = dict(device=device, precision=precision, tta=tta, step=step, batch_size=batch_size,
                  channels_last=channels_last, progress=progress)  # the coarse stage resolves tta itself
        axes = tta_axes_for_model(tta, trained, str(d.path))
        pp = load_model_postprocessing(d.path, labels) if postprocessing else None
        predictor = cls(networks, plans, labels, folds=names, postprocessing=pp, **{**kw, "tta": axes})
        predictor.source = {"model": str(d.path.resolve()), "checkpoint": checkpoint}
        # a 3d_cascade folder is a cascade's fine stage; any other model given a coarse model runs as one
        as_fine_stage = plans.configuration == "3d_cascade" or "coarse_model" in cascade_options
        if not as_fine_stage or cascade is False:
            if cascade_options:
                raise NotACascadeError(f"{d.path}: {', '.join(cascade_options)} apply to a cascade: a "
                                       "3d_cascade model, or another model given coarse_model "
                                       "(--coarse-model)", cascade_options)
            return predictor
        from torsoseg.inference.cascade import CascadePredictor

        return CascadePredictor.from_fine(predictor, d.path, folds=folds, checkpoint=checkpoint,
                                          **cascade_options, **kw)

    # -- properties ----------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def num_input_channels(self) -> int:
        return self.plans.num_input_channels

    @property
    def scores_are_logits(self) -> bool:
        """:meth:`predict_preprocessed` (without ``probabilities``) gives logits: one fold, no ensemble."""
        return len(self.networks) == 1

    @property
    def precision_name(self) -> str:
        """The precision actually used: ``fp32``, ``bf16`` or ``fp16``."""
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    def record(self) -> dict[str, Any]:
        """How this predictor makes its label maps, for ``prediction.json``: the model folder and checkpoint
        (``None`` for networks not loaded from a folder), dataset, configuration, folds, mirror axes,
        sliding-window step and precision."""
        return {
            "model": self.source.get("model"), "checkpoint": self.source.get("checkpoint"),
            "dataset": self.plans.dataset_name, "configuration": self.plans.configuration,
            "folds": list(self.folds), "tta_axes": list(self.mirror_axes), "step": self.step,
            "precision": self.precision_name,
        }

    def __repr__(self) -> str:
        return (f"Predictor({self.plans.dataset_name}, folds={self.folds}, device={self.device}, "
                f"precision={self.precision_name}, tta_axes={self.mirror_axes}, step={self.step})")

    # -- prediction ----------------------------------------------------------------------------------
    def predict_preprocessed(
        self, data: np.ndarray | torch.Tensor, probabilities: bool = False, tile_filter: Any = None,
        window: Any = None,
    ) -> torch.Tensor:
        """Scores of a preprocessed case on its (resampled) grid.

        Args:
            data: ``(C, X, Y, Z)`` float32 preprocessed image.
            probabilities: return softmax probabilities even for a single fold.
            tile_filter: predict only the tiles it keeps (see
                :func:`~torsoseg.inference.sliding_window.sliding_window_logits`).
            window: ``(whole shape, box)`` when ``data`` is a box of a larger image: tiles placed on the
                whole image's grid (see :func:`~torsoseg.inference.tiling.tile_window`).

        Returns:
            float16 ``(K, X, Y, Z)`` on the CPU: the fold's Gaussian-averaged logits (one fold, no
            ``probabilities``), else the mean over folds of the softmax probabilities.
        """
        if isinstance(data, np.ndarray):
            x = torch.as_tensor(np.asarray(data, dtype=np.float32))
        else:
            x = data.float()
        if x.ndim != 4 or x.shape[0] != self.plans.num_input_channels:
            raise ValueError(
                f"preprocessed data must be ({self.plans.num_input_channels}, X, Y, Z), got {tuple(x.shape)}"
            )
        use_softmax = probabilities or len(self.networks) > 1
        total: torch.Tensor | None = None
        with torch.inference_mode():
            for net in self.networks:
                logits = sliding_window_logits(
                    net, x, self.plans.patch_size, self.num_classes, step=self.step,
                    batch_size=self.batch_size, mirror_axes=self.mirror_axes, lr_swap=self.lr_swap.tolist(),
                    autocast_dtype=self.autocast_dtype, channels_last=self.channels_last,
                    accumulate_dtype=torch.float16, device=self.device, progress=self.progress,
                    tile_filter=tile_filter, window=window,
                )
                if use_softmax:
                    export.softmax_(logits)
                if total is None:
                    total = logits
                else:
                    total += logits
                    del logits
            assert total is not None
            if len(self.networks) > 1:
                total /= len(self.networks)
        return total

    def predict_case(self, volume: Volume, probabilities: bool = False) -> Prediction:
        """Segments one volume; optionally also returns class probabilities on the input grid.

        Args:
            volume: a CT volume in any orientation (HU).
            probabilities: also return ``(K, *volume.shape)`` float16 probabilities.

        Returns:
            A :class:`Prediction` whose label map lies on exactly ``volume``'s grid.
        """
        from torsoseg.preprocessing import preprocess_volume

        t0 = time.perf_counter()
        data, props = preprocess_volume(volume, self.plans)
        # one fold: its logits; several: the mean of their probabilities. The label map is the argmax of
        # these scores resampled, whether or not probabilities are asked for (with one fold they are the
        # softmax of the resampled logits), so --save-probabilities never changes a label map
        scores = self.predict_preprocessed(data)
        del data
        crop_shape = tuple(int(s) for s in props.shape_after_crop)
        prob_out = None
        if probabilities:
            prob_crop, seg_crop = export.resample_probabilities(scores, crop_shape,
                                                                softmax=self.scores_are_logits, labels=True)
            prob_out = export.probabilities_to_input_geometry(prob_crop, props)
            del prob_crop
        else:
            seg_crop = export.resample_argmax(scores, crop_shape)
        del scores
        if self.postprocessing is not None:
            seg_crop = self.postprocessing.apply(seg_crop, self.labels)
        label_map = export.labels_to_input_geometry(seg_crop, props)
        if not label_map.geometry.same_grid(volume.geometry):
            raise RuntimeError(
                f"internal error: exported grid {label_map.geometry.describe()} differs from the input "
                f"{volume.geometry.describe()}"
            )
        return Prediction(label_map, prob_out, time.perf_counter() - t0)

    def predict(self, volume: Volume) -> Volume:
        """Label map (``uint8``, values of :attr:`labels`) of ``volume`` on exactly its grid.

        Example:
            >>> seg = predictor.predict(read_image("ct.nii.gz"))  # doctest: +SKIP
        """
        return self.predict_case(volume).label_map

    def predict_file(self, path: str | os.PathLike) -> Volume:
        """Reads an image file or DICOM series folder and segments it (see :meth:`predict`)."""
        return self.predict(read_image(path))
