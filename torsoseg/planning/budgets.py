"""Planning budgets: the memory (or, for ``cpu``, the compute) one training step's estimate must fit in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Budget", "BUDGETS", "get_budget"]


@dataclass(frozen=True)
class Budget:
    """A planning budget: the memory the estimate of one training step must fit in.

    Attributes:
        name: preset name (``cpu``, ``8gb``, ...) or ``"<X>gb"`` for a number.
        memory_gb: GiB available for the estimated training memory (activations, parameters and optimiser
            state). For ``cpu`` it is a compute budget in disguise: the same estimate scales with the
            work of a step, and 2 cores run a step of that size in about a second.
        base_features: features of the first stage (doubling per stage).
        max_features: cap of the features.
        max_batch_size: upper bound of the batch size (``None`` = no preset cap).
        usable_fraction: share of ``memory_gb`` the estimate may use (framework overhead, fragmentation).
    """

    name: str
    memory_gb: float
    base_features: int = 32
    max_features: int = 320
    max_batch_size: int | None = None
    usable_fraction: float = 0.8

    def __post_init__(self) -> None:
        if not (np.isfinite(self.memory_gb) and self.memory_gb > 0):
            raise ValueError(f"budget {self.name!r}: memory_gb must be > 0, got {self.memory_gb}")
        if self.base_features < 1 or self.max_features < self.base_features:
            raise ValueError(f"budget {self.name!r}: need 1 <= base_features <= max_features")

    @property
    def usable_bytes(self) -> float:
        return self.memory_gb * self.usable_fraction * 2**30

    def features(self, n_stages: int) -> tuple[int, ...]:
        return tuple(min(self.base_features * 2**s, self.max_features) for s in range(n_stages))


#: Named presets, ordered from small to large.
BUDGETS: dict[str, Budget] = {
    "cpu": Budget("cpu", memory_gb=0.75, base_features=16, max_batch_size=2),
    "8gb": Budget("8gb", memory_gb=8.0),
    "24gb": Budget("24gb", memory_gb=24.0),
    "40gb": Budget("40gb", memory_gb=40.0),
}


def get_budget(budget: str | None = "cpu", budget_gb: float | None = None) -> Budget:
    """Resolves a preset name or a number of GiB (not both) into a :class:`Budget`.

    Raises:
        ValueError: both given, an unknown name (lists the presets) or a non-positive number.

    Example:
        >>> get_budget("8gb").memory_gb, get_budget(budget_gb=12).name
        (8.0, '12gb')
    """
    if budget_gb is not None:
        if budget is not None and budget != "cpu":
            raise ValueError(f"give a budget preset ({budget!r}) or a number of GiB ({budget_gb}), not both")
        try:
            gb = float(budget_gb)
        except (TypeError, ValueError):
            raise ValueError(f"budget_gb must be a number, got {budget_gb!r}") from None
        if not (np.isfinite(gb) and gb > 0):
            raise ValueError(f"budget_gb must be > 0, got {budget_gb}")
        return Budget(f"{gb:g}gb", gb)
    name = "cpu" if budget is None else str(budget).lower()
    if name not in BUDGETS:
        raise ValueError(
            f"unknown budget {budget!r}; valid presets: {', '.join(BUDGETS)} (or a number of GiB)"
        )
    return BUDGETS[name]
