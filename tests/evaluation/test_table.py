"""The paper's table: rows = cases, then avg, std, min, max; statistics skip undefined values."""

from __future__ import annotations

import csv
import io
import math

import pytest

from torsoseg.evaluation.table import ROTH2017_TABLE1_DICE, Stats, comparison_table, format_table

NAN = float("nan")
VALUES = {
    "case_a": {"liver": 0.9, "spleen": 0.5},
    "case_b": {"liver": 0.7, "spleen": NAN},
    "case_c": {"liver": 0.8, "spleen": 0.7},
}


def test_stats_hand_computed_and_skip_nan():
    s = Stats.of([0.9, 0.7, 0.8])
    assert (s.avg, s.min, s.max, s.n) == pytest.approx((0.8, 0.7, 0.9, 3))
    assert s.std == pytest.approx(math.sqrt((0.01 + 0.01 + 0) / 3))  # population std
    t = Stats.of([0.5, NAN, 0.7])
    assert (t.avg, t.std, t.n) == pytest.approx((0.6, 0.1, 2))
    e = Stats.of([NAN])
    assert e.n == 0 and math.isnan(e.avg)
    assert Stats.of([0.3]).std == 0.0


def test_markdown_table_layout():
    md = format_table(VALUES, ["liver", "spleen"], fmt="md")
    lines = md.strip().splitlines()
    assert lines[0] == "| case | liver | spleen |"
    assert lines[2] == "| case_a | 0.900 | 0.500 |"
    assert lines[3] == "| case_b | 0.700 | n/a |"
    assert [ln.split("|")[1].strip() for ln in lines[5:]] == ["**avg**", "**std**", "**min**", "**max**"]
    assert lines[5] == "| **avg** | 0.800 | 0.600 |"
    assert lines[8] == "| **max** | 0.900 | 0.700 |"


def test_csv_round_trip():
    text = format_table(VALUES, ["liver", "spleen"], fmt="csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["case", "liver", "spleen"]
    assert rows[2] == ["case_b", "0.700000", ""]
    by = {r[0]: r for r in rows}
    assert float(by["avg"][1]) == pytest.approx(0.8) and float(by["std"][2]) == pytest.approx(0.1)
    assert len(rows) == 1 + 3 + 4


def test_comparison_table_side_by_side():
    sums = {
        "fine-tuned": {"liver": Stats.of([0.9, 0.8]), "spleen": Stats.of([NAN])},
        "scratch": {"liver": Stats.of([0.5, 0.7]), "spleen": Stats.of([0.4])},
    }
    md = comparison_table(sums, ["liver", "spleen"], reference=ROTH2017_TABLE1_DICE)
    lines = md.strip().splitlines()
    assert lines[0] == "| organ | fine-tuned | scratch | Roth et al. 2017 |"
    assert lines[2] == "| liver | 0.850 ± 0.050 | 0.600 ± 0.100 | 0.95 |"
    assert lines[3] == "| spleen | n/a | 0.400 ± 0.000 | 0.90 |"
    assert lines[4] == "| **mean** | 0.850 | 0.500 | 0.93 |"


def test_bad_format():
    with pytest.raises(ValueError, match="unknown table format 'xlsx'; valid: md, csv"):
        format_table(VALUES, ["liver"], fmt="xlsx")
