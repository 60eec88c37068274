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
    "unpaired": Check(
        "image without label, label without image, image without the `_0000` channel suffix, case id "
        "starting with `.` or holding `..`",
        "verify (each file), plan_and_preprocess (refused unless `--skip-bad-cases`)",
        "Dataset001_Synth: 2 file(s) of imagesTr/labelsTr do not pair up (nothing is dropped silently; fix "
        "them or pass --skip-bad-cases): .../imagesTr/case_001.nii.gz: missing channel suffix _0000 "
        "(expected case_001_0000.nii.gz); .../labelsTr/case_001.nii.gz: its image lacks the channel suffix: "
        "rename imagesTr/case_001.nii.gz to imagesTr/case_001_0000.nii.gz",
        r"do not pair up|missing channel suffix _0000",
        "tests/cli/test_integrity_cli.py",
    ),
    "bad_name": Check(
        "a name from JSON that is not a plain name (`plans_name: ../../ESCAPE`, a configuration with `/`, "
        "a case id with `..`)",
        "every command that loads plans.json (train, predict, preprocess); plan_and_preprocess for case ids",
        "plans.json: invalid plans for 'Dataset999_Tiny': plans_name '../../../../ESCAPE_plans' is not a "
        "valid name (letters, digits, '_', '-', '.', '+', starting with a letter or digit; no '..' and no "
        "path separators)",
        r"plans_name '\.\./.*' is not a valid name",
        "tests/cli/test_integrity_cli.py",
    ),
    "name_from_json": Check(
        "another name read from a file that would become part of a path: the trainer in a checkpoint, a "
        "label name written by `--split-organs`, dataset.json's `\"name\"` of a converted nnU-Net dataset",
        "train (resume), every checkpoint load (fine-tuning, predict), predict (`--split-organs`, exit 2), "
        "convert (exit 1)",
        "checkpoint_latest.pt: trainer '../../x' is not a valid name (letters, digits, '_', '-', '.', '+', "
        "starting with a letter or digit; no '..' and no path separators)",
        r"is not a valid name|must be letters, digits",
        "tests/training/test_run.py, tests/test_model_folder.py, tests/inference/test_outputs.py, "
        "tests/dataset_conversion/test_nnunet.py",
    ),
    "path_outside_root": Check(
        "a model folder or preprocessed cache that would lie outside its root (checked after the names, "
        "lexically: a dataset folder that is a symbolic link elsewhere still works)",
        "train, plan_and_preprocess, predict (every user of the model folder or cache paths)",
        "/data/results/Dataset001_A/../../x__p__c: model folder would lie outside its root /data/results",
        r"would lie outside its root",
        "tests/test_paths.py, tests/training/test_run.py, tests/test_model_folder.py, "
        "tests/preprocessing/test_cache.py",
    ),
    "cli_error": Check(
        "any error in a command: a broken file, a bad flag value, or an unexpected failure",
        "every command (exit 1 for data, 2 for usage, 130 when interrupted; `-v` shows the traceback)",
        "torsoseg_train: RuntimeError: boom in the library (run with -v for the traceback)",
        r"^torsoseg_\w+: ",
        "tests/cli/test_errors.py",
    ),
    "zero_spacing": Check(
        "a file with zero or negative spacing (e.g. an `.mha` with `ElementSpacing = 0 0 0`)",
        "verify (listed; the other cases are still checked), every reader",
        "labelsTr/case_002.mha: spacing must be positive, got (0.0, 0.0, 0.0)",
        r"spacing must be positive",
        "tests/cli/test_integrity_cli.py",
    ),
    "all_background": Check(
        "a label map without any organ (all background)",
        "verify (warning), plan_and_preprocess (warning, log)",
        "labelsTr/case_000.nii.gz: warning: label map is all background (no organ labelled)",
        r"label map is all background",
        "tests/cli/test_integrity_cli.py",
    ),
    "spacing_nonfinite": Check(
        "implausible spacing (< 0.1 mm or > 20 mm); NaN/inf intensities",
        "verify (warning for spacing, problem for NaN/inf), plan_and_preprocess (warning naming the case)",
        "case case_007: implausible spacing (0.8, 0.8, 50.0) mm (outside 0.1..20.0 mm); case case_007: 2 "
        "NaN/inf intensities (set to the lowest intensity)",
        r"implausible spacing|NaN/inf intensities",
        "tests/cli/test_integrity_cli.py, tests/test_dataset.py",
    ),
    "predict_output": Check(
        "`torsoseg_predict -o` on an existing file, under a file, or on an unwritable path",
        "predict (exit 2)",
        "torsoseg_predict: out/file: -o must be a folder, but this is an existing file",
        r"-o must be a folder|cannot create the output folder|not writable",
        "tests/cli/test_integrity_cli.py",
    ),
    "stale_tmp": Check(
        "temporary files of a killed run (`.case.nii.gz.XXXX.tmp` in a predict output, "
        "`.DatasetNNN_Name.XXXX.tmp` in the raw root, `.checkpoint_latest.pt.XXXX.tmp` in a fold folder, "
        "`.results.json.XXXX.tmp` beside an evaluation's output)",
        "predict, convert, preprocess, train, evaluate (removed on start; logged with -v)",
        "(removed silently; nothing for the user to do)",
        r"",
        "tests/cli/test_integrity_cli.py, tests/training/test_run.py, tests/cli/test_evaluate_cli.py",
    ),
    "orphans": Check(
        "`kill -9` of the plan/preprocess parent",
        "plan_and_preprocess (workers die with their parent: PR_SET_PDEATHSIG)",
        "(no orphan workers)",
        r"",
        "tests/preprocessing/test_workers.py",
    ),
}
