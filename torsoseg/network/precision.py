"""Numeric precision for training and inference: ``fp32``, ``bf16`` or ``auto``.

``auto`` picks bfloat16 autocast on a CPU with native bfloat16 support (AMX-BF16 / AVX512-BF16,
detected at run time), mixed precision (float16 autocast) on CUDA, and float32 otherwise. Forcing
``bf16`` on a CPU without native support warns and falls back to float32 (it would be slower, not
faster). Losses, the softmax averaged across tiles/TTA/folds and accumulation buffers are never
computed in the reduced precision: callers wrap only the network forward in :func:`autocast`.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from typing import Any

PRECISIONS = ("fp32", "bf16", "auto")


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when this CPU runs bfloat16 natively (AMX-BF16 or AVX512-BF16) and torch can use it."""
    import torch

    try:
        if hasattr(torch.backends, "mkldnn") and hasattr(torch.backends.mkldnn, "is_available"):
            if not torch.backends.mkldnn.is_available():
                return False
        flags = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("flags"):
                        flags = line
                        break
        except OSError:
            pass
        if flags:
            return (" amx_bf16" in flags) or (" avx512_bf16" in flags)
        cap = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
        return "AMX" in str(cap).upper()
    except Exception:  # detection must never crash a run
        return False


def resolve_precision(precision: str, device: Any) -> Any:
    """The autocast dtype for ``precision`` on ``device``, or ``None`` for plain float32.

    Args:
        precision: one of ``fp32``, ``bf16``, ``auto``.
        device: a ``torch.device`` or string.

    Returns:
        ``torch.bfloat16``, ``torch.float16`` or ``None``.

    Raises:
        ValueError: an unknown precision name (the message lists the valid ones).
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    dev = torch.device(device)
    if precision == "fp32":
        return None
    if dev.type == "cuda":
        if precision == "bf16":
            return torch.bfloat16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dev.type == "cpu":
        if cpu_supports_bf16():
            return torch.bfloat16
        if precision == "bf16":
            warnings.warn(
                "precision 'bf16' requested but this CPU has no native bfloat16 (AMX-BF16/AVX512-BF16); "
                "using float32 instead",
                stacklevel=2,
            )
        return None
    return None


def autocast(dtype: Any, device: Any) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``; a no-op context for ``None``."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def resolve_device(device: str | None) -> Any:
    """``"auto"``/``None`` -> CUDA when available else CPU; ``"cpu"``/``"cuda"``/``"cuda:1"`` as given."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    return dev
