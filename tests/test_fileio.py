"""Atomic writes: a failure leaves the target as it was and no temporary files behind."""

from __future__ import annotations

import json

import pytest

from torsoseg.fileio import atomic_directory, atomic_write_json, read_json


def test_json_round_trip_and_errors(tmp_path):
    obj = {"a": [1, 2.5, "x"], "b": {"c": None}}
    atomic_write_json(tmp_path / "d" / "x.json", obj)
    assert read_json(tmp_path / "d" / "x.json") == obj
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["x.json"]
    (tmp_path / "bad.json").write_text("{1: 2}")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_json(tmp_path / "missing.json")


def test_json_with_byte_order_mark_is_read(tmp_path):
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"k": 1}).encode())
    assert read_json(tmp_path / "bom.json") == {"k": 1}


def test_atomic_directory_appears_only_on_success(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "done.txt").write_text("x")
    assert [p.name for p in target.iterdir()] == ["done.txt"]


def test_atomic_directory_overwrite_keeps_old_on_failure(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_directory(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_directory(target, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("boom")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]
