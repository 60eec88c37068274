"""File-finding helpers: junk files, .nii beside .nii.gz, label tables, CSV with BOM."""

from __future__ import annotations

import pytest

from tests.dataset_conversion.trees import junk, make_case, write, write_json
from torsoseg.dataset_conversion.sources import (
    ConversionError,
    find_image_label_pairs,
    index_images,
    read_csv_rows,
    read_label_table,
)


def test_index_images_prefers_nii_gz_and_skips_junk(tmp_path):
    c = make_case(["liver"])
    a = write(c.image, tmp_path / "a.nii.gz")
    write(c.image, tmp_path / "a.nii")
    write(c.image, tmp_path / "b.nii")
    junk(a)
    (tmp_path / "notes.txt").write_text("x")
    assert index_images(tmp_path) == {"a": tmp_path / "a.nii.gz", "b": tmp_path / "b.nii"}


def test_pairs_per_case_folder_errors(tmp_path):
    c = make_case(["liver"])
    write(c.image, tmp_path / "p1" / "ct.nii.gz")
    write(c.image, tmp_path / "p1" / "ct2.nii.gz")
    write(c.label_map, tmp_path / "p1" / "seg.nii.gz")
    with pytest.raises(ConversionError, match="p1: expected one image and one label file"):
        find_image_label_pairs(tmp_path)


def test_label_tables(tmp_path):
    write_json({"0": "background", "2": "spleen", "1": "liver"}, tmp_path / "a.json")
    assert [(s.name, s.value) for s in read_label_table(tmp_path / "a.json")] == [("liver", 1), ("spleen", 2)]
    write_json({"labels": {"background": 0, "liver": 1}}, tmp_path / "b.json", bom=True)
    assert [(s.name, s.value) for s in read_label_table(tmp_path / "b.json")] == [("liver", 1)]
    write_json({"1": "liver", "liver2": 1}, tmp_path / "c.json")
    with pytest.raises(ConversionError, match=r"c\.json: value 1 is named twice"):
        read_label_table(tmp_path / "c.json")
    write_json([1, 2], tmp_path / "d.json")
    with pytest.raises(ConversionError, match=r"d\.json: expected a JSON object"):
        read_label_table(tmp_path / "d.json")
    with pytest.raises(ConversionError, match="label table does not exist"):
        read_label_table(tmp_path / "none.json")


def test_csv_with_bom_and_semicolons(tmp_path):
    p = tmp_path / "meta.csv"
    p.write_bytes("\ufeffimage_id;age;split\ns0001;52;train\ns0002; 61 ;test\n".encode())
    assert read_csv_rows(p) == [{"image_id": "s0001", "age": "52", "split": "train"},
                                {"image_id": "s0002", "age": "61", "split": "test"}]
    p.write_text("image_id,split\ns1,val\n", encoding="utf-8")
    assert read_csv_rows(p) == [{"image_id": "s1", "split": "val"}]
