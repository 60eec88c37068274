"""Data roots: explicit arguments win over environment variables, which win over the home default."""

from __future__ import annotations

from pathlib import Path

from torsoseg.paths import default_roots


def test_roots_precedence(monkeypatch, tmp_path):
    for k in ("TORSOSEG_HOME", "TORSOSEG_RAW", "TORSOSEG_PREPROCESSED", "TORSOSEG_RESULTS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    r = default_roots()
    assert r.raw == tmp_path / "torsoseg_data" / "raw" and r.results == tmp_path / "torsoseg_data" / "results"
    monkeypatch.setenv("TORSOSEG_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("TORSOSEG_RAW", str(tmp_path / "envraw"))
    r = default_roots()
    assert r.raw == tmp_path / "envraw" and r.preprocessed == tmp_path / "h" / "preprocessed"
    assert r.home == tmp_path / "h"  # the demo's default output lives here, not beside a moved raw root
    r = default_roots(raw=tmp_path / "flag")
    assert r.raw == Path(tmp_path / "flag")


def test_inside_root_refuses_escapes_and_keeps_symlinked_folders(tmp_path):
    import pytest

    from tests.checks_table import CHECKS
    from torsoseg.paths import inside_root

    root = tmp_path / "results"
    assert inside_root(root / "Dataset001_A" / "T__p__c", root) == root / "Dataset001_A" / "T__p__c"
    assert inside_root(root / "a" / ".." / "b", root, "model folder") == root / "b"
    for bad in (root / ".." / "elsewhere", root / "Dataset001_A" / ".." / ".." / "x", tmp_path / "results2"):
        with pytest.raises(ValueError, match=CHECKS["path_outside_root"].pattern):
            inside_root(bad, root, "model folder")
    (tmp_path / "disk").mkdir()
    root.mkdir()
    (root / "Dataset001_A").symlink_to(tmp_path / "disk")  # a dataset folder moved to another disk
    assert inside_root(root / "Dataset001_A" / "T__p__c", root) == root / "Dataset001_A" / "T__p__c"
