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
