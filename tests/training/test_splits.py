"""Tests of torsoseg.training.splits."""

from __future__ import annotations

import json

import pytest

from torsoseg.training.splits import fold_cases, load_or_create_splits, make_splits


def test_five_folds_partition():
    ids = [f"c{i:02d}" for i in range(12)]
    splits = make_splits(ids)
    assert len(splits) == 5
    vals = [c for s in splits for c in s["val"]]
    assert sorted(vals) == ids  # every case validated exactly once
    for s in splits:
        assert set(s["train"]).isdisjoint(s["val"]) and len(s["train"]) + len(s["val"]) == 12


def test_written_once_and_reused(tmp_path):
    p = tmp_path / "splits.json"
    ids = [f"c{i}" for i in range(7)]
    a = load_or_create_splits(p, ids)
    on_disk = json.loads(p.read_text())
    assert on_disk == a
    b = load_or_create_splits(p, ids, seed=999)  # a different seed does not re-split
    assert b == a
    assert fold_cases(a, "all", ids) == (sorted(ids), sorted(ids))
    assert fold_cases(a, 2, ids) == (a[2]["train"], a[2]["val"])


def test_few_cases_still_give_five_folds():
    splits = make_splits(["a", "b", "c"])
    assert len(splits) == 5 and all(len(s["val"]) == 1 for s in splits)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="at least 2 cases"):
        make_splits(["only"])
    with pytest.raises(ValueError, match="unknown fold '7'"):
        fold_cases(make_splits(list("abcdef")), 7, list("abcdef"))
    p = tmp_path / "splits.json"
    load_or_create_splits(p, list("abcdef"))
    with pytest.raises(ValueError, match="not in the preprocessed data"):
        load_or_create_splits(p, list("abc"))
