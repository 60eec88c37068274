"""Writes documentation/checks.md from tests/checks_table.py (the table the tests match messages with).

Run from the repository root: ``python scripts/make_checks_doc.py``. tests/test_checks_doc.py fails when
the page and the table disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

HEADER = """# What torsoseg checks

Nothing is read silently wrong. Every image is read through one integrity-checking reader
(`torsoseg.imageio.read_image`), so `torsoseg_verify`, `torsoseg_convert`, `torsoseg_plan_and_preprocess`,
`torsoseg_predict` and `torsoseg_evaluate` refuse the same broken inputs with the same message, naming the
file. Problems exit with code 1 (data) or 2 (usage); a batch (`predict`, `preprocess`) reports each failed
case and finishes the others. Warnings do not change the exit code.

This page is generated from `tests/checks_table.py` by `python scripts/make_checks_doc.py`; the tests
named in each row match the message with the table's pattern, so the page cannot drift from the code.

| problem | detected by | message (example) | tests |
|---|---|---|---|
"""

FOOTER = """
## Cost of the integrity checks

A `.nii.gz` is streamed through zlib (CRC-32 and length of every gzip member, decompressed size against
the header's `vox_offset + voxels * bitpix / 8`) in a thread beside ITK's own read; a `.nii` is compared
with the header by its size; NRRD and MetaImage readers already fail on short data. Figures from
`python benchmarks/bench_integrity.py` are in [benchmarks.md](benchmarks.md#integrity-checks).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    sys.path.insert(0, str(REPO))
    from tests.checks_table import CHECKS

    rows = [
        f"| {_cell(c.problem)} | {_cell(c.commands)} | `{_cell(c.message)}` | {_cell(c.tests)} |"
        for c in CHECKS.values()
    ]
    return HEADER + "\n".join(rows) + "\n" + FOOTER


def main() -> int:
    out = REPO / "documentation" / "checks.md"
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
