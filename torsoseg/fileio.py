"""Atomic writes: a temporary file beside the target, then ``os.replace``. Nothing half-written stays."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Gives a temporary file (``mkstemp``: mode 0600) the mode a plain ``open`` would have given it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary file path beside ``path`` that replaces ``path`` when the block succeeds.

    Parents are created; on an exception the temporary file is removed and ``path`` is untouched. The
    ``suffix`` lets writers that choose the format by extension (SimpleITK, matplotlib) see the right one.

    Example:
        >>> with atomic_path("out/figure.png", suffix=".png") as tmp:  # doctest: +SKIP
        ...     fig.savefig(tmp)
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        publish_mode(tmp)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` to ``path`` atomically (parents created)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Writes ``obj`` as indented, human-readable JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Reads JSON; a missing or malformed file raises an error naming the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    try:
        with open(p, encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


@contextmanager
def atomic_directory(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary folder beside ``target`` that becomes ``target`` only when the block succeeds.

    On an exception the temporary folder is removed and ``target`` is untouched.
    With ``overwrite``, an existing ``target`` is replaced; otherwise it is an error.
    """
    t = Path(target)
    if t.exists() and not overwrite:
        raise FileExistsError(f"{t}: already exists (pass overwrite to replace it)")
    t.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{t.name}.", suffix=".tmp", dir=t.parent))
    try:
        yield tmp
        publish_mode(tmp, directory=True)
        if t.exists():
            old = t.with_name(f".{t.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(t, old)
            os.replace(tmp, t)
            shutil.rmtree(old)
        else:
            os.replace(tmp, t)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike, prefix: str = "") -> int:
    """Removes the temporaries (``.{prefix}*.tmp`` files and folders) an interrupted run left in ``folder``.

    Every command that writes outputs calls this on start for its own output folder, so a ``kill -9``
    leaves nothing behind after the next run. Returns how many were removed.
    """
    d = Path(folder)
    if not d.is_dir():
        return 0
    n = 0
    for t in d.glob(f".{prefix}*.tmp"):
        if t.is_dir() and not t.is_symlink():
            shutil.rmtree(t, ignore_errors=True)
        else:
            t.unlink(missing_ok=True)
        n += 1
    return n
