"""Aggregates several ``torsoseg_demo`` runs (one per seed) into mean ± std Dice per organ and model.

Usage:
    python scripts/demo_seeds.py demo_seed0 demo_seed1 demo_seed2 [--markdown]

Each argument is a demo ``--out`` folder holding ``evaluation/<model>.json``. Prints, per model, one row
per seed and a ``mean ± std`` row over the seeds (the std is over the seeds' per-organ means, each of
which averages the test cases), then checks the ranking: fine-tuned >= scratch on the mean and on each
organ datasets 1 and 3 share, per seed. Last, per model, the organs some test case lacks (or some case
missed), with the cases of every run pooled: the Dice on the cases that have the organ, and how many of
those without it got a false one (each scores Dice 0 in the tables above).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ORGANS = (
    "lung_right",
    "lung_left",
    "liver",
    "gallbladder",
    "spleen",
    "kidney_right",
    "kidney_left",
    "pancreas",
)
SHARED = ("liver", "spleen", "gallbladder", "pancreas")  # organs of dataset 1 and dataset 3
MODELS = ("fine-tuned", "scratch", "merged", "pretrained")


def organ_means(path: Path) -> dict[str, float]:
    """Organ -> Dice averaged over the test cases, from one evaluation JSON."""
    summary = json.loads(path.read_text())["summary"]["dice"]
    return {o: float(summary[o]["avg"]) for o in ORGANS if o in summary}


def load_runs(folders: list[Path]) -> dict[str, dict[str, dict[str, float]]]:
    """Model -> run (the folder's name, or its path where names repeat) -> organ means; a model missing
    in a folder has no entry there."""
    names = [f.name for f in folders]
    if len(set(names)) < len(names):  # a/demo and b/demo: the paths tell them apart
        names = [str(f) for f in folders]
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for folder, name in zip(folders, names):
        for model in MODELS:
            f = folder / "evaluation" / f"{model}.json"
            if f.is_file():
                runs.setdefault(model, {})[name] = organ_means(f)
    return runs


def fmt_row(name: str, cells: list[str]) -> str:
    return f"| {name} | " + " | ".join(cells) + " |"


def _mean_known(values) -> float:
    known = [v for v in values if math.isfinite(v)]
    return statistics.mean(known) if known else float("nan")


def _cell(v: float) -> str:
    return f"{v:.3f}" if math.isfinite(v) else "n/a"


def table(runs: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [fmt_row("model / run", [*ORGANS, "mean"]), "|---" * (len(ORGANS) + 2) + "|"]
    for model, by_run in runs.items():
        per_run = list(by_run.values())
        for label, r in by_run.items():
            vals = [r.get(o, float("nan")) for o in ORGANS]
            known = [v for v in vals if math.isfinite(v)]
            mean = f"{statistics.mean(known):.3f}" if known else "n/a"
            lines.append(fmt_row(f"{model} {label}", [_cell(v) for v in vals] + [mean]))
        cells = []
        for o in [*ORGANS, "mean"]:
            xs = [_mean_known(r.values()) if o == "mean" else r.get(o, float("nan")) for r in per_run]
            xs = [x for x in xs if math.isfinite(x)]  # an organ a model does not know is n/a, not 0
            if not xs:
                cells.append("n/a")
                continue
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            cells.append(f"**{statistics.mean(xs):.3f} ± {sd:.3f}**")
        lines.append(fmt_row(f"**{model} mean ± std**", cells))
    return "\n".join(lines)


def ranking(runs: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """One line per run where the fine-tuned model loses to scratch (empty: ranking holds everywhere);
    only runs that evaluated both models are compared, on the organs both scored."""
    bad = []
    ft_runs, sc_runs = runs.get("fine-tuned", {}), runs.get("scratch", {})
    for label in [r for r in ft_runs if r in sc_runs]:
        ft, sc = ft_runs[label], sc_runs[label]
        m_ft, m_sc = _mean_known(ft.values()), _mean_known(sc.values())
        if m_ft < m_sc:
            bad.append(f"{label}: mean {m_ft:.3f} < scratch {m_sc:.3f}")
        bad += [
            f"{label}: {o} {ft[o]:.3f} < scratch {sc[o]:.3f}"
            for o in SHARED if o in ft and o in sc and ft[o] < sc[o]
        ]
    return bad


def presence_tables(folders: list[Path]) -> str:
    """Per model, the cases of every run pooled: the organs some case lacks or some case missed, split
    into the cases with the organ and those without (see ``EvaluationResult.presence``)."""
    from torsoseg.evaluation import EvaluationResult, Presence
    from torsoseg.evaluation.results import presence_table

    out = []
    for model in MODELS:
        files = [f / "evaluation" / f"{model}.json" for f in folders]
        try:
            results = [EvaluationResult.load(f) for f in files if f.is_file()]
        except (KeyError, TypeError, ValueError) as e:  # a summary without the per-case records
            out.append(f"\n{model}: no per-case records to pool ({e}), so no table of cases with and "
                       "without each organ")
            continue
        if not results:
            continue
        pooled = {o: Presence.of([c.scores[o] for r in results for c in r.cases if o in c.scores])
                  for o in ORGANS if any(o in r.organs for r in results)}
        table = presence_table(pooled)
        if table:
            out += [f"\n{model}, the test cases of {len(results)} run(s) pooled:\n", table.rstrip("\n")]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="demo output folders, one per seed")
    args = p.parse_args(argv)
    missing = [str(f) for f in args.folders if not (f / "evaluation").is_dir()]
    if missing:
        print(f"demo_seeds: no evaluation/ in {', '.join(missing)}", file=sys.stderr)
        return 1
    runs = load_runs(args.folders)
    print(table(runs))
    bad = ranking(runs)
    print(
        "\nranking fine-tuned >= scratch (mean and shared organs): "
        + ("holds on every run" if not bad else "FAILS")
    )
    for line in bad:
        print("  " + line)
    presence = presence_tables(args.folders)
    if presence:
        print(presence)
    return 0


if __name__ == "__main__":
    sys.exit(main())
