"""Writes documentation/checks.md from tests/checks_table.py (the table the tests match messages with).

Run from the repository root: ``python scripts/make_checks_doc.py``. tests/test_checks_doc.py fails when
the page and the table disagree.
"""

from __future__ import annotations

import json
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
with the header by its size; NRRD and MetaImage readers already fail on short data. `--headers-only`
verification checks only the gzip length trailer against the header (O(1)). Measured with
`python benchmarks/bench_integrity.py --repeats 3 --json-out benchmarks/results/integrity.json`
(figures below are rendered from that file; the machine was shared with other jobs, so timings are noisy):
"""


def _figures() -> str:
    f = REPO / "benchmarks" / "results" / "integrity.json"
    if not f.is_file():
        return "\n(no measurement recorded yet)\n"
    d = json.loads(f.read_text())
    lines = ["", "| measurement | without checks | with checks | overhead |", "|---|---|---|---|"]
    if "large_read" in d:
        r = d["large_read"]
        lines.append(
            f"| read one {r['file']} ({r['file_mb']} MB), best of runs | {r['sitk_read_s']} s | "
            f"{r['read_image_checked_s']} s (check alone {r['check_alone_s']} s) | {r['overhead_pct']} % |"
        )
    if "plan_and_preprocess" in d:
        r = d["plan_and_preprocess"]
        lines.append(
            f"| plan_and_preprocess, {r['dataset']}, {r['workers']} workers, median | "
            f"{r['median_unchecked_s']} s | {r['median_checked_s']} s | {r['overhead_pct']} % |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    sys.path.insert(0, str(REPO))
    from tests.checks_table import CHECKS

    rows = [
        f"| {_cell(c.problem)} | {_cell(c.commands)} | `{_cell(c.message)}` | {_cell(c.tests)} |"
        for c in CHECKS.values()
    ]
    return HEADER + "\n".join(rows) + "\n" + FOOTER + _figures()


def main() -> int:
    out = REPO / "documentation" / "checks.md"
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
