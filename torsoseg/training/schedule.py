"""Learning-rate schedule: optional linear warm-up, then polynomial decay (per epoch, as nnU-Net)."""

from __future__ import annotations


def learning_rate(
    epoch: int, num_epochs: int, initial_lr: float, exponent: float = 0.9, warmup_epochs: int = 0
) -> float:
    """Learning rate of ``epoch`` (0-based).

    Warm-up epochs ``0..warmup_epochs-1`` ramp linearly ``initial_lr * (e + 1) / (warmup_epochs + 1)``;
    afterwards ``initial_lr * (1 - (e - w) / (num_epochs - w)) ** exponent`` with ``w = warmup_epochs``.

    Args:
        epoch: 0-based epoch index, ``0 <= epoch < num_epochs``.
        num_epochs: length of the run.
        initial_lr: peak learning rate.
        exponent: poly exponent.
        warmup_epochs: warm-up length (0: none).

    Returns:
        The learning rate (float).

    Example:
        >>> learning_rate(0, 10, 0.01)
        0.01
        >>> round(learning_rate(5, 10, 0.01, exponent=1.0), 6)
        0.005
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be >= 1, got {num_epochs}")
    if not 0 <= epoch < num_epochs:
        raise ValueError(f"epoch {epoch} is outside 0..{num_epochs - 1}")
    w = min(int(warmup_epochs), num_epochs - 1)
    if epoch < w:
        return initial_lr * (epoch + 1) / (w + 1)
    return initial_lr * (1.0 - (epoch - w) / (num_epochs - w)) ** exponent
