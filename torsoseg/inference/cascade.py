"""The two-stage cascade (Roth et al. 2017, hierarchical 3D FCNs): coarse on the whole CT, fine only where
the organs are.

1. The coarse stage (a ``3d_lowres`` model) segments the whole volume at its coarse spacing.
2. The candidate region is its predicted organs grown by a margin in mm
   (:func:`~torsoseg.inference.region.candidate_region`).
3. The fine stage (a ``3d_cascade`` model: the full-resolution network, trained on patches around the
   organs) predicts only tiles of its whole-image grid, at the positions and with the weights a
   whole-image prediction uses (:func:`~torsoseg.inference.tiling.tile_window`). Which tiles is
   ``tiles``:

   * ``"exact"`` (default): every tile that reaches into the region, so every region voxel gets exactly
     the value the fine model alone gives it;
   * ``"nearest"``: only the tiles that are the nearest tile of some region voxel
     (:func:`~torsoseg.inference.tiling.tiles_and_cells`). They still cover the region and weigh each of
     its voxels with its heaviest tile, and the voxel's value is the Gaussian-weighted mean over the
     tiles predicted. For a small region this is about half the tiles of ``"exact"``: faster, no longer
     equal to the whole-image prediction voxel for voxel (benchmarks.md measures by how much).
4. Inside the region the fine result stands; outside it the output is the coarse result, which there is
   background by construction (the region holds every organ voxel the coarse stage found), so the two
   meet where both say background, without seams.
5. The export resamples only the fine box's scores onto the input grid, slab by slab and one class at a
   time, exactly as :mod:`torsoseg.inference.export` does for the whole volume.

An empty coarse prediction is either answered with background or (the default) handed to the fine stage
over the whole volume, with a warning that says which.

Example:
    >>> from torsoseg.inference import Predictor
    >>> model = "results/Dataset001_Abdomen/Trainer__torsoseg_plans__3d_cascade"
    >>> cascade = Predictor.from_model_dir(model)  # doctest: +SKIP
    >>> seg = cascade.predict_file("ct.nii.gz")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from torsoseg.imageio import Volume, read_image
from torsoseg.inference import export
from torsoseg.inference import region as reg
from torsoseg.inference.outputs import subset_labels
from torsoseg.inference.predictor import Prediction, Predictor
from torsoseg.inference.tiling import tile_window, tiles_and_cells, whole_image_tiles

logger = logging.getLogger(__name__)

#: What an empty coarse prediction gives: the fine stage over the whole volume, or background.
ON_EMPTY = ("fine", "background")
#: Which fine tiles run: every one reaching into the region, or only each region voxel's nearest tile.
TILES = ("exact", "nearest")


@dataclass(frozen=True)
class CoarseStage:
    """The coarse stage's result on its own grid (canonical orientation, cropped, coarse spacing).

    Attributes:
        seg: ``uint8`` label map of the coarse model.
        region: bool candidate region (``seg``'s organs grown by the margin).
        props: the coarse preprocessing's :class:`~torsoseg.preprocessing.CaseProperties`.
        seconds: wall time of the stage.
    """

    seg: np.ndarray
    region: np.ndarray
    props: Any
    seconds: float


def coarse_model_dir(fine_dir: str | os.PathLike) -> Path:
    """The ``<trainer>__<plans>__3d_lowres`` folder beside a ``<trainer>__<plans>__3d_cascade`` folder.

    Raises:
        FileNotFoundError: it does not exist (the message says how to train it).
    """
    fine_dir = Path(fine_dir)
    parts = fine_dir.name.split("__")
    if len(parts) != 3:
        raise ValueError(f"{fine_dir}: not a <trainer>__<plans>__<configuration> model folder")
    coarse = fine_dir.with_name(f"{parts[0]}__{parts[1]}__3d_lowres")
    if not coarse.is_dir():
        raise FileNotFoundError(
            f"{coarse}: the coarse stage of the cascade {fine_dir.name} is missing (train it with "
            f"torsoseg_train DATASET -c 3d_lowres, or name another folder with --coarse-model)"
        )
    return coarse


class CascadePredictor:
    """A coarse and a fine :class:`Predictor` run as the cascade; the same interface as a Predictor.

    Args:
        coarse: the coarse stage (whole volume).
        fine: the fine stage (only inside the candidate region).
        margin_mm: the region's margin around the coarse organs (default: the fine plans').
        on_empty: ``"fine"`` (tile the whole volume with the fine stage) or ``"background"``, when the
            coarse stage finds no organ.
        bounded_memory: preprocess in slabs, and for the fine stage only the box it tiles
            (:mod:`torsoseg.preprocessing.boxed`; equal to the whole-image preprocessing up to float32
            rounding); ``False`` preprocesses each stage's whole image in one piece, as training did.
        roi_subset: organs to segment (``"liver,spleen"`` or a list, any vocabulary spelling; see
            :func:`torsoseg.inference.outputs.subset_labels`), as TotalSegmentator's ``--roi_subset``:
            the region is grown around these organs of the coarse prediction alone, so the fine stage
            runs only there, and every other label of the output is background (its probability moved
            to background).
        tiles: ``"exact"`` or ``"nearest"``: which of the fine grid's tiles run (see the module
            docstring).

    Raises:
        ValueError: the two stages' label sets or input channels differ, a bad margin, ``on_empty`` or
            ``tiles``,
            an organ of ``roi_subset`` the model does not predict (the message lists those it does).
    """

    def __init__(self, coarse: Predictor, fine: Predictor, margin_mm: float | None = None,
                 on_empty: str = "fine", bounded_memory: bool = True,
                 roi_subset: str | Sequence[str] | None = None, tiles: str = "exact"):
        if coarse.labels != fine.labels:
            raise ValueError(f"the cascade's stages predict different labels: coarse {coarse.labels}, "
                             f"fine {fine.labels}")
        if coarse.num_input_channels != fine.num_input_channels:
            raise ValueError("the cascade's stages read different numbers of input channels")
        if on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty must be one of {', '.join(ON_EMPTY)}, got {on_empty!r}")
        if tiles not in TILES:
            raise ValueError(f"tiles must be one of {', '.join(TILES)}, got {tiles!r}")
        margin = fine.plans.cascade_margin_mm if margin_mm is None else float(margin_mm)
        if not (np.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin_mm must be >= 0, got {margin_mm}")
        self.coarse, self.fine = coarse, fine
        self.margin_mm, self.on_empty = float(margin), on_empty
        self.bounded_memory, self.tiles = bool(bounded_memory), tiles
        #: name -> value of the organs segmented (background included); None: all of them
        self.roi_subset = None if roi_subset is None else subset_labels(fine.labels, roi_subset)

    def with_roi_subset(self, organs: str | Sequence[str]) -> CascadePredictor:
        """The same stages segmenting only ``organs`` (see ``roi_subset``)."""
        return CascadePredictor(self.coarse, self.fine, self.margin_mm, self.on_empty, self.bounded_memory,
                                roi_subset=organs, tiles=self.tiles)

    @classmethod
    def from_fine(cls, fine: Predictor, fine_dir: str | os.PathLike,
                  coarse_model: str | os.PathLike | None = None, margin_mm: float | None = None,
                  on_empty: str = "fine", folds: Any = None, checkpoint: str = "final",
                  bounded_memory: bool = True, roi_subset: str | Sequence[str] | None = None,
                  tiles: str = "exact", **kwargs: Any) -> CascadePredictor:
        """The cascade of a loaded fine stage and its coarse model folder (default: the sibling
        ``3d_lowres`` folder); ``folds``, ``checkpoint`` and ``kwargs`` load the coarse stage as
        :meth:`Predictor.from_model_dir`."""
        coarse_dir = Path(coarse_model) if coarse_model is not None else coarse_model_dir(fine_dir)
        coarse = Predictor.from_model_dir(coarse_dir, folds=folds, checkpoint=checkpoint, cascade=False,
                                          **kwargs)
        if coarse.plans.configuration != "3d_lowres":
            logger.warning("%s: coarse stage of configuration %s (expected 3d_lowres)", coarse_dir,
                           coarse.plans.configuration)
        return cls(coarse, fine, margin_mm=margin_mm, on_empty=on_empty, bounded_memory=bounded_memory,
                   roi_subset=roi_subset, tiles=tiles)

    # -- the Predictor interface ---------------------------------------------------------------------
    @property
    def labels(self) -> dict[str, int]:
        return self.fine.labels

    @property
    def postprocessing(self) -> Any:
        """The fine stage's postprocessing (its model folder's ``postprocessing.json``), or ``None``."""
        return self.fine.postprocessing

    @property
    def num_classes(self) -> int:
        return self.fine.num_classes

    @property
    def num_input_channels(self) -> int:
        return self.fine.num_input_channels

    @property
    def plans(self) -> Any:
        return self.fine.plans

    def record(self) -> dict[str, Any]:
        """For ``prediction.json``: both stages' records, the margin, what an empty coarse stage gives, the
        organs segmented (``roi_subset``; ``None``: all) and which fine tiles run."""
        subset = None if self.roi_subset is None else [n for n in self.roi_subset if n != "background"]
        return {"cascade": {"coarse": self.coarse.record(), "fine": self.fine.record(),
                            "margin_mm": self.margin_mm, "on_empty": self.on_empty, "roi_subset": subset,
                            "tiles": self.tiles}}

    def __repr__(self) -> str:
        subset = "" if self.roi_subset is None else \
            f", roi_subset={','.join(n for n in self.roi_subset if n != 'background')}"
        return (f"CascadePredictor(coarse={self.coarse!r}, fine={self.fine!r}, margin={self.margin_mm:g} mm, "
                f"on_empty={self.on_empty}, tiles={self.tiles}{subset})")

    def predict(self, volume: Volume) -> Volume:
        """Label map (``uint8``) of ``volume`` on exactly its grid."""
        return self.predict_case(volume).label_map

    def predict_file(self, path: str | os.PathLike) -> Volume:
        """Reads an image file or DICOM series folder and segments it (see :meth:`predict`)."""
        return self.predict(read_image(path))

    # -- the stages ----------------------------------------------------------------------------------
    def _preprocess(self, volume: Volume, plans: Any, box: Any = None, crop_bbox: Any = None):
        """``(data, props)`` of ``volume`` for ``plans``, only ``box`` of its grid when memory is bounded."""
        from torsoseg.preprocessing import preprocess_volume
        from torsoseg.preprocessing.boxed import preprocess_volume_box

        if self.bounded_memory:
            return preprocess_volume_box(volume, plans, box, crop_bbox=crop_bbox)
        data, props = preprocess_volume(volume, plans)
        if box is None:
            return data, props
        return np.ascontiguousarray(data[(slice(None), *(slice(a, b) for a, b in box))]), props

    def coarse_stage(self, volume: Volume) -> CoarseStage:
        """Runs the coarse model on the whole volume and grows its organs into the candidate region."""
        t0 = time.perf_counter()
        data, props = self._preprocess(volume, self.coarse.plans)
        scores = self.coarse.predict_preprocessed(data)
        del data
        seg = export.resample_argmax(scores, tuple(scores.shape[1:]))
        del scores
        organs = seg if self.roi_subset is None else np.where(np.isin(seg, self._subset_values()), seg, 0)
        region = reg.candidate_region(organs, props.spacing_after_resample, self.margin_mm)
        return CoarseStage(seg, region, props, time.perf_counter() - t0)

    def _subset_values(self) -> list[int]:
        assert self.roi_subset is not None
        return [v for n, v in self.roi_subset.items() if n != "background"]

    def predict_case(self, volume: Volume, probabilities: bool = False) -> Prediction:
        """Segments one volume with the cascade (see the module docstring).

        Args:
            volume: a CT volume in any orientation (HU).
            probabilities: also return ``(K, *volume.shape)`` float16 probabilities (background 1 outside
                the region).

        Returns:
            A :class:`~torsoseg.inference.predictor.Prediction` on exactly ``volume``'s grid.
        """
        t0 = time.perf_counter()
        stage = self.coarse_stage(volume)
        region = stage.region
        if not region.any():
            if self.on_empty == "background":
                logger.warning("the coarse stage found no organ: the output is background "
                               "(on_empty=background)")
                return self._background(stage.props, probabilities, t0)
            logger.warning("the coarse stage found no organ: the fine stage tiles the whole volume instead "
                           "(on_empty=fine)")
            region = np.ones_like(region)
        seg_crop, prob_crop, props = self._fine_stage(volume, stage.props, region, probabilities)
        if self.fine.postprocessing is not None:  # the fine stage's folder holds the cascade's choice
            seg_crop = self.fine.postprocessing.apply(seg_crop, self.labels)
        if self.roi_subset is not None:
            seg_crop, prob_crop = self._only_subset(seg_crop, prob_crop)
        label_map = export.labels_to_input_geometry(seg_crop, props)
        if not label_map.geometry.same_grid(volume.geometry):
            raise RuntimeError(f"internal error: exported grid {label_map.geometry.describe()} differs from "
                               f"the input {volume.geometry.describe()}")
        prob_out = None if prob_crop is None else export.probabilities_to_input_geometry(prob_crop, props)
        return Prediction(label_map, prob_out, time.perf_counter() - t0)

    def _only_subset(self, seg: np.ndarray, prob: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Every label outside ``roi_subset`` becomes background, its probability moved there."""
        keep = [0, *self._subset_values()]
        seg = np.where(np.isin(seg, keep), seg, 0).astype(seg.dtype, copy=False)
        if prob is not None:
            for c in (c for c in range(self.num_classes) if c not in keep):  # in place, class by class
                prob[0] += prob[c]
                prob[c] = 0
        return seg, prob

    def _background(self, props: Any, probabilities: bool, t0: float) -> Prediction:
        seg_crop = np.zeros(props.shape_after_crop, dtype=export.label_dtype(self.num_classes))
        prob = None
        if probabilities:
            prob = np.zeros((self.num_classes, *props.shape_after_crop), dtype=np.float16)
            prob[0] = 1.0
            prob = export.probabilities_to_input_geometry(prob, props)
        return Prediction(export.labels_to_input_geometry(seg_crop, props), prob, time.perf_counter() - t0)

    def _touches(self, region: np.ndarray, n_fine: Sequence[int]) -> Callable[[tuple[slice, ...]], bool]:
        """Whether a tile (slices of the fine grid ``n_fine``) is one the fine stage predicts: with
        ``tiles="exact"`` one that reaches into ``region`` (coarse grid), with ``"nearest"`` one whose
        cell (:func:`~torsoseg.inference.tiling.tiles_and_cells`) does."""
        to_coarse = [reg.grid_index_map(nc, nf) for nc, nf in zip(region.shape, n_fine)]

        def touches_region(tile: tuple[slice, ...]) -> bool:
            sl = tuple(slice(int(m[t.start]), int(m[t.stop - 1]) + 1) for m, t in zip(to_coarse, tile))
            return bool(region[sl].any())

        if self.tiles == "exact":
            return touches_region
        patch, step = self.fine.plans.patch_size, self.fine.step
        kept = {_key(tile) for tile, cell in tiles_and_cells(n_fine, patch, step) if touches_region(cell)}

        def nearest_to_region(tile: tuple[slice, ...]) -> bool:
            return _key(tile) in kept

        return nearest_to_region

    def fine_tiles(self, stage: CoarseStage) -> tuple[int, int]:
        """How many tiles of the fine model's whole-image grid ``stage``'s region reaches into (the tiles
        the fine stage predicts), and how many the grid has: what decides the cascade's speed-up."""
        from torsoseg.preprocessing.boxed import target_shape

        n_fine = target_shape(stage.props, self.fine.plans)
        keep = self._touches(stage.region, n_fine)
        flags = [keep(t) for t in whole_image_tiles(n_fine, self.fine.plans.patch_size, self.fine.step)]
        return sum(flags), len(flags)

    def _fine_stage(self, volume: Volume, coarse_props: Any, region: np.ndarray, probabilities: bool):
        """The fine model inside ``region`` (coarse grid), exported to the crop grid.

        Only the fine-grid box spanned by the tiles that reach into the region is preprocessed (both
        stages share the body crop, so the fine grid's shape follows from the coarse stage's properties).

        Returns:
            ``(label map, probabilities or None)`` on the crop grid, and the fine preprocessing's properties.
        """
        from torsoseg.preprocessing.boxed import target_shape

        n_fine, n_coarse = target_shape(coarse_props, self.fine.plans), region.shape
        touches_region = self._touches(region, n_fine)
        # the tiles of the whole fine grid that reach into the region, and the box they span: tiling the
        # box on the whole grid's positions gives every region voxel exactly the whole image's value
        box = tile_window(n_fine, self.fine.plans.patch_size, touches_region, self.fine.step)
        if box is None:  # cannot happen for a non-empty region: some tile of a covering grid holds it
            raise RuntimeError("internal error: no fine tile reaches into the candidate region")
        sub, props = self._preprocess(volume, self.fine.plans, box, coarse_props.crop_bbox)
        if tuple(props.shape_after_resample) != tuple(n_fine):
            raise RuntimeError(f"internal error: fine grid {props.shape_after_resample} != expected {n_fine}")

        def in_box_touches_region(tile: tuple[slice, ...]) -> bool:
            return touches_region(tuple(slice(b[0] + t.start, b[0] + t.stop) for b, t in zip(box, tile)))

        # as Predictor.predict_case: the label map never depends on whether probabilities are asked for
        scores = self.fine.predict_preprocessed(sub, tile_filter=in_box_touches_region,
                                                window=(tuple(n_fine), box))
        del sub
        crop_shape = tuple(int(s) for s in props.shape_after_crop)
        ranges = [reg.box_plan(nf, nc, b)[0] for nf, nc, b in zip(n_fine, crop_shape, box)]
        out_box = tuple(slice(o0, o1) for o0, o1 in ranges)
        inside = region[np.ix_(*(reg.grid_index_map(nc, n)[o0:o1]
                                 for nc, n, (o0, o1) in zip(n_coarse, crop_shape, ranges)))]
        seg_crop = np.zeros(crop_shape, dtype=export.label_dtype(self.num_classes))
        prob_crop = None
        if probabilities:
            p, seg_sub = reg.resample_box(scores, n_fine, crop_shape, box, probabilities=True,
                                          softmax=self.fine.scores_are_logits, labels=True)
            p[:, ~inside] = 0
            p[0][~inside] = 1.0
            prob_crop = np.zeros((self.num_classes, *crop_shape), dtype=np.float16)
            prob_crop[0] = 1.0
            prob_crop[(slice(None), *out_box)] = p
            del p
        else:
            seg_sub = reg.resample_box(scores, n_fine, crop_shape, box)
        seg_sub[~inside] = 0
        seg_crop[out_box] = seg_sub
        return seg_crop, prob_crop, props


def _key(tile: tuple[slice, ...]) -> tuple[tuple[int, int], ...]:
    """A tile's slices as a hashable key."""
    return tuple((int(t.start), int(t.stop)) for t in tile)
