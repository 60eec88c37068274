"""Feeding the training step: patch loader + augmentation, inline or in background processes.

``workers=0`` runs loading and augmentation inline (best when the step itself uses every core);
``workers>=1`` uses batchgenerators' ``NonDetMultiThreadedAugmenter`` (worker processes, results in
arrival order) so batches are prepared while the step runs. ``benchmarks/bench_training.py`` measures
which keeps the step fed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np


class InlineBatches:
    """Loader + transform in the calling process (no workers)."""

    def __init__(self, loader: Any, transform: Any, seed: int):
        self.loader, self.transform = loader, transform
        self._rs = np.random.RandomState(seed)  # batchgenerators draws from the global numpy stream

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        state = np.random.get_state()
        np.random.set_state(self._rs.get_state())
        try:
            batch = next(self.loader)
            return self.transform(**batch) if self.transform is not None else batch
        finally:
            self._rs.set_state(np.random.get_state())
            np.random.set_state(state)

    def close(self) -> None:
        pass


class BackgroundBatches:
    """batchgenerators ``NonDetMultiThreadedAugmenter`` around loader + transform."""

    def __init__(self, loader: Any, transform: Any, workers: int, seed: int):
        from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter

        self._aug = NonDetMultiThreadedAugmenter(
            loader,
            transform,
            num_processes=int(workers),
            num_cached=max(2, 2 * int(workers)),
            seeds=[int(seed) + i for i in range(int(workers))],
            pin_memory=False,
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._aug)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._aug._finish()


def make_batches(loader: Any, transform: Any, workers: int, seed: int) -> InlineBatches | BackgroundBatches:
    """An endless batch iterator with ``close()``.

    Args:
        loader: a :class:`~torsoseg.training.patches.PatchBatchLoader` (or any iterator of batch dicts
            with ``set_thread_id``).
        transform: batchgenerators transform (``Compose``) or ``None``.
        workers: background processes (0: inline).
        seed: seed of the augmentation random stream (worker ``i`` uses ``seed + i``).
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers == 0:
        return InlineBatches(loader, transform, seed)
    return BackgroundBatches(loader, transform, workers, seed)
