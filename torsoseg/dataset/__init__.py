"""The raw dataset format (nnU-Net v2 layout): ``dataset.json``, naming rules, cases, verification.

Layout::

    $TORSOSEG_RAW/DatasetXXX_Name/
        dataset.json                  channel_names, labels (name -> consecutive int, background 0),
                                      numTraining, file_ending (+ torsoseg's own optional keys)
        imagesTr/CASE_0000.nii.gz     one file per channel (CT: channel 0000 only)
        labelsTr/CASE.nii.gz
        imagesTs/CASE_0000.nii.gz     optional

torsoseg's extra keys, ignored by nnU-Net: ``source_format``, ``source_labels`` (output name -> list of
source labels merged into it), ``annotated`` (case -> organs annotated in that case).

The package's modules: :mod:`.dataset_json` (the typed ``dataset.json``), :mod:`.names` (dataset folder
and channel-file naming), :mod:`.cases` (listing and pairing the cases), :mod:`.verify` (every check of
a raw dataset). Import from ``torsoseg.dataset``.
"""

from torsoseg.dataset.cases import Case, Problem, list_cases, training_cases, unpaired_files
from torsoseg.dataset.dataset_json import DatasetJson, label_set_problems, write_dataset_json
from torsoseg.dataset.names import (
    dataset_dir_name,
    find_dataset,
    parse_dataset_id,
    split_channel_name,
    split_dataset_dir_name,
)
from torsoseg.dataset.verify import SPACING_RANGE_MM, verify_dataset

__all__ = [
    "SPACING_RANGE_MM",
    "Case",
    "DatasetJson",
    "Problem",
    "dataset_dir_name",
    "find_dataset",
    "label_set_problems",
    "list_cases",
    "parse_dataset_id",
    "split_channel_name",
    "split_dataset_dir_name",
    "training_cases",
    "unpaired_files",
    "verify_dataset",
    "write_dataset_json",
]
