"""Dice of the end-to-end test's pipeline over training seeds and precisions: how its floors are chosen.

Runs ``tests/test_end_to_end.py``'s pipeline (4 tiny torso phantoms, cpu preset, 2 unseen phantoms) once
per seed and precision, at the test's budget unless told otherwise, and prints each organ's Dice per run,
then the lowest run per organ against the test's floor:

    python scripts/e2e_floors.py --work /tmp/e2e [--seeds 12345 1 2] [--precisions auto]
        [--epochs 6 --iterations 20] [--json floors.json]

``auto`` is what the test runs: bfloat16 on a CPU with native bfloat16, else float32 (``bf16`` falls back
to float32 there too, so a bfloat16 figure needs an AMX or AVX512-BF16 machine). About 6 minutes a run on
2 AVX2 cores at the test's budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_end_to_end import DICE_FLOORS, EPOCHS, ITERATIONS, train_and_evaluate  # noqa: E402

ORGANS = ("liver", "lung_right", "lung_left", "spleen", "kidney_right", "kidney_left", "pancreas",
          "gallbladder")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True, type=Path, help="working folder (data reused across runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=[12345, 1, 2], help="training seeds")
    p.add_argument("--precisions", nargs="+", default=["auto"], help="auto, fp32, bf16")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--iterations", type=int, default=ITERATIONS)
    p.add_argument("--json", type=Path, default=None, help="write the runs here")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    runs = []
    for precision in args.precisions:
        for seed in args.seeds:
            t0 = time.perf_counter()
            result = train_and_evaluate(args.work, args.epochs, args.iterations, seed=seed,
                                        precision=precision)
            summary = result.summary("dice")
            dice = {o: round(summary[o].avg, 3) for o in ORGANS if o in summary}
            seconds = round(time.perf_counter() - t0)
            runs.append({"precision": precision, "seed": seed, "seconds": seconds, "dice": dice})
            print(f"{precision:>5} seed {seed:>6}  {seconds:5d} s  "
                  + "  ".join(f"{o} {d:.3f}" for o, d in dice.items()), flush=True)
    budget = f"{args.epochs} x {args.iterations} steps"
    print(f"\nlowest of {len(runs)} runs ({budget}) against the test's floors:")
    for organ in ORGANS:
        low = min(r["dice"].get(organ, float("nan")) for r in runs)
        floor = DICE_FLOORS.get(organ)
        print(f"  {organ:<13} {low:.3f}" + ("" if floor is None else f"  floor {floor:.2f}"
                                              + ("" if low >= floor else "  BELOW")))
    if args.json:
        args.json.write_text(json.dumps({"epochs": args.epochs, "iterations": args.iterations,
                                         "floors": DICE_FLOORS, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
