"""The preprocessed cache: atomic file sets, completeness, memory-mapped reading, class locations."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.preprocessing.cache import (
    class_locations,
    is_complete,
    list_cached_cases,
    load_case,
    remove_leftovers,
    write_case,
)


def _case(seed=0, shape=(6, 5, 4)):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(1,) + shape).astype(np.float32)
    seg = np.zeros(shape, np.int16)
    seg[1:3, 1:3, 1:3] = 2
    seg[4, 4, 3] = 1
    return data, seg


def test_class_locations_hand_computed_and_capped():
    s = np.zeros((2, 2, 2), np.int16)
    s[1, 0, 1] = 3
    assert class_locations(s)[3].tolist() == [[1, 0, 1]]
    big = np.ones((30, 30, 30), np.int16)
    locs = class_locations(big, max_per_class=100, seed=1)
    assert locs[1].shape == (100, 3) and locs[1].dtype == np.int32
    assert len({tuple(p) for p in locs[1]}) == 100  # without replacement
    assert class_locations(np.zeros((3, 3, 3), np.int16)) == {}


def test_write_then_load_round_trip(tmp_path):
    data, seg = _case()
    write_case(tmp_path, "c1", data, seg, {"plans_key": "k", "note": [1, 2]})
    case = load_case(tmp_path, "c1")
    assert isinstance(case.data, np.memmap)
    np.testing.assert_array_equal(case.data, data)
    np.testing.assert_array_equal(case.seg, seg)
    assert case.seg.dtype == np.int16
    assert case.properties["note"] == [1, 2] and case.properties["classes_present"] == [1, 2]
    assert sorted(case.class_locations) == [1, 2]
    for v, pts in case.class_locations.items():
        assert np.all(seg[tuple(pts.T)] == v)
    patch = np.asarray(load_case(tmp_path, "c1", mmap=False).data[:, 1:3, 1:3, 1:3])
    assert patch.shape == (1, 2, 2, 2)
    assert list_cached_cases(tmp_path) == ["c1"]
    assert is_complete(tmp_path, "c1", "k") and not is_complete(tmp_path, "c1", "other")


def test_half_written_cases_are_not_listed(tmp_path):
    data, seg = _case()
    write_case(tmp_path, "ok", data, seg, {})
    write_case(tmp_path, "nojson", data, seg, {})
    (tmp_path / "nojson.json").unlink()
    write_case(tmp_path, "wrongshape", data, seg, {})
    np.save(tmp_path / "wrongshape_seg.npy", seg[:2])
    write_case(tmp_path, "truncated", data, seg, {})
    raw = (tmp_path / "truncated.npy").read_bytes()
    (tmp_path / "truncated.npy").write_bytes(raw[: len(raw) // 2])
    (tmp_path / ".ok.npy.abc.tmp").write_bytes(b"partial")
    assert list_cached_cases(tmp_path) == ["ok"]
    assert remove_leftovers(tmp_path) == 1
    with pytest.raises(FileNotFoundError, match=r"no complete cached case 'nojson' \(1 complete case"):
        load_case(tmp_path, "nojson")


def test_bad_arrays_are_refused(tmp_path):
    data, seg = _case()
    with pytest.raises(ValueError, match="must be"):
        write_case(tmp_path, "x", data, seg[:2], {})
    assert list_cached_cases(tmp_path / "missing") == []


def test_cache_folder_refuses_names_that_are_not_plain(tmp_path):
    from types import SimpleNamespace

    from torsoseg.preprocessing.cache import cache_folder

    ok = SimpleNamespace(plans_name="torsoseg_plans", configuration="3d_fullres")
    assert cache_folder(tmp_path, ok) == tmp_path / "torsoseg_plans_3d_fullres"
    for name, config in (("../../escape", "3d_fullres"), ("torsoseg_plans", "x/../../../y")):
        with pytest.raises(ValueError, match="(plans_name|configuration) '.*' is not a valid name"):
            cache_folder(tmp_path, SimpleNamespace(plans_name=name, configuration=config))
