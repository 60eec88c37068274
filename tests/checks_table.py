"""The table behind documentation/checks.md ("What torsoseg checks").

Each entry is one input problem: which commands detect it, an example of the message the user sees, the
regular expression the tests match that message with, and the tests that prove it. Tests import
``CHECKS[...]`` and match ``.pattern``, so a changed message fails a test until this table (and the page,
regenerated with ``python scripts/make_checks_doc.py``) follows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    problem: str
    commands: str
    message: str
    pattern: str
    tests: str


_READERS = "verify, convert, plan_and_preprocess, predict, evaluate"

CHECKS: dict[str, Check] = {
    "truncated_nifti": Check(
        "`.nii.gz` cut short (e.g. `head -c`), or gzip CRC/length trailer wrong",
        _READERS,
        "case_0000.nii.gz: truncated gzip stream (ends after 24222 decompressed bytes without its "
        "CRC/length trailer); the file is incomplete",
        r"truncated gzip stream|corrupt gzip data|truncated NIfTI",
        "tests/test_imagecheck.py, tests/cli/test_integrity_cli.py",
    ),
    "truncated_nii": Check(
        "uncompressed `.nii` (or a complete gzip of one) shorter than its header says",
        _READERS,
        "case_0000.nii: truncated NIfTI: the header needs 48352 bytes, the file has 24176 (50.0%)",
        r"truncated NIfTI: the header needs \d+ bytes",
        "tests/test_imagecheck.py",
    ),
    "truncated_other": Check(
        "NRRD or MetaImage (`.mha`/`.mhd`) data shorter than its header says, or damaged",
        _READERS,
        "case.mha: the header reads but the voxel data does not: the data is shorter than the header "
        "says, or damaged (File cannot be read: case.mha for reading.)",
        r"the header reads but the voxel data does not",
        "tests/test_imagecheck.py",
    ),
    "dicom_gap": Check(
        "DICOM series with a missing slice (non-uniform slice positions)",
        "predict, convert (any reader of a DICOM folder)",
        "series: non-uniform DICOM slice positions: gap of 4 mm between slices 9 and 10 (at -786.5 and "
        "-782.5 mm along the slice normal) where the series steps 2 mm, about 1 slice(s) missing; 19 "
        "slices read, 1 irregular step(s). ...",
        r"non-uniform DICOM slice positions: gap of",
        "tests/test_imagecheck.py",
    ),
    "dicom_unreadable": Check(
        "DICOM folder with a corrupt or truncated slice file (GDCM drops it from the series)",
        "predict, convert (any reader of a DICOM folder)",
        "series: 1 file(s) are not readable slices of any DICOM series (corrupt, truncated or not DICOM): "
        "CT.1.3.12...578; remove them or restore the slices",
        r"not readable slices of any DICOM series",
        "tests/test_imagecheck.py",
    ),
    "dicom_several": Check(
        "several DICOM series in one folder",
        "predict (choose with `--dicom-series UID`)",
        "two: 2 DICOM series in one folder: 1.2.826...1 (5 files, axial); 1.2.826...2 (4 files, scout); "
        "choose one with --dicom-series UID",
        r"DICOM series in one folder: .*choose one with --dicom-series",
        "tests/test_imagecheck.py, tests/cli/test_integrity_cli.py",
    ),
}
