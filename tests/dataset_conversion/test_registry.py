"""The registry of formats and the option checks around it."""

from __future__ import annotations

import re

import pytest

from tests.dataset_conversion.test_core import _tree
from torsoseg.dataset_conversion import FORMATS, ConversionError, convert, get_format, list_formats


def test_registry_and_options(tmp_path):
    assert list_formats() == ["abdomen", "visceral", "torso", "btcv", "amos", "msd", "word", "flare22",
                              "totalsegmentator", "nnunet", "labelmap"]
    assert get_format("VISCERAL").default_name == "VISCERAL"
    with pytest.raises(ConversionError, match="unknown format 'dicomish'; valid formats: abdomen, visceral"):
        get_format("dicomish")
    _tree(tmp_path / "src")
    with pytest.raises(ConversionError, match=r"unknown option\(s\) \['region'\] \(valid: labels\)"):
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, region="x")
    with pytest.raises(ConversionError, match=r"organs \['pancreas'\] are not in the source"):
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, organs=["liver", "pancreas"])
    with pytest.raises(ConversionError, match=r"mapping key\(s\) \['aorta'\] match no source label"):
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, mapping=["aorta=artery"])
    assert not (tmp_path / "raw").exists()


def test_every_format_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "documentation" / "converters.md").read_text()
    for name, fmt in FORMATS.items():
        assert f"`{name}`" in doc, name
        assert fmt.scan.__doc__ and fmt.layout and fmt.summary


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_rejects_an_empty_source(tmp_path, name):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match=re.escape(str(tmp_path / "empty")) + r": (no |neither )"):
        convert(name, tmp_path / "empty", tmp_path / "raw", 1)
    with pytest.raises(ConversionError, match=r"missing: source folder does not exist"):
        convert(name, tmp_path / "missing", tmp_path / "raw", 1)
    assert not (tmp_path / "raw").exists()
