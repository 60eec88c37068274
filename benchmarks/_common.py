"""What the benchmark scripts share: the comparison interpreter and the process-tree memory sampler."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

#: The environment variable that names the nnU-Net v2 / MONAI comparison interpreter (``make bench`` sets it).
BENCH_PYTHON_ENV = "TORSOSEG_BENCH_PYTHON"
NOT_FOUND = (
    "no nnU-Net comparison interpreter: pass --nnunet-python PATH or set $TORSOSEG_BENCH_PYTHON "
    "(make bench-env builds one in .bench-venv); torsoseg figures only"
)


def imports(python: str, modules: Sequence[str]) -> bool:
    """Whether ``python`` can import every module of ``modules``."""
    code = "import " + ", ".join(modules)
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def find_nnunet_python(given: str | None, modules: Sequence[str] = ("nnunetv2",)) -> str | None:
    """The comparison interpreter: ``--nnunet-python`` (``given``), else ``$TORSOSEG_BENCH_PYTHON``.

    Returns ``None`` (the caller prints :data:`NOT_FOUND`) when neither is given; raises when the one given
    does not exist or cannot import ``modules``, so a typo is not silently measured as "not available".
    """
    python = given or os.environ.get(BENCH_PYTHON_ENV)
    if not python:
        return None
    source = "--nnunet-python" if given else f"${BENCH_PYTHON_ENV}"
    if not Path(python).exists():
        raise SystemExit(f"{source} {python}: no such interpreter")
    if not imports(python, modules):
        raise SystemExit(f"{source} {python}: cannot import {', '.join(modules)}")
    return python


def memory_bytes(pid: int) -> tuple[int, int]:
    """``(RSS, PSS)`` of one process from ``/proc`` (PSS splits pages shared between forked workers; RSS
    stands in where PSS is unreadable); ``(0, 0)`` for a process that is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                    break
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return rss, pss or rss


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class TreeMemory:
    """Samples the summed memory of a process and its descendants every ``interval`` seconds.

    Attributes:
        peak_rss, peak_pss: the largest sums seen (bytes).

    Example:
        >>> with TreeMemory(proc.pid, 0.02) as mem:  # doctest: +SKIP
        ...     proc.wait()
        >>> mem.peak_pss  # doctest: +SKIP
    """

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        mem = [memory_bytes(p) for p in descendants(self.pid)]
        self.peak_rss = max(self.peak_rss, sum(m[0] for m in mem))
        self.peak_pss = max(self.peak_pss, sum(m[1] for m in mem))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
