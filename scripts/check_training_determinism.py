"""Bitwise fingerprint of short deterministic trainings (fresh, resumed, fine-tuned, head-first).

Run it before and after a refactor of the training loop; identical output means identical behaviour:

    PYTHONPATH=. python scripts/check_training_determinism.py

Uses the tiny synthetic dataset of ``tests/training/conftest.py``, fp32, no worker processes, fixed seeds.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.training.conftest import tiny_plans, write_tiny_dataset  # noqa: E402
from torsoseg.training.run import train_model  # noqa: E402

COMMON = dict(device="cpu", precision="fp32", num_workers=0, iterations_per_epoch=3, val_iterations=1)


def digest(path: Path) -> str:
    ckpt = torch.load(path, weights_only=True)
    h = hashlib.sha256()
    for k in sorted(ckpt["network_weights"]):
        h.update(k.encode())
        h.update(ckpt["network_weights"][k].numpy().tobytes())
    for k in sorted(ckpt["optimizer"]["state"]):  # momentum / Adam moments
        for v in ckpt["optimizer"]["state"][k].values():
            h.update(v.numpy().tobytes() if torch.is_tensor(v) else repr(v).encode())
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in ckpt["logging"]]  # all but timings
    h.update(json.dumps([ckpt["epoch"], ckpt["best_ema"], rows], sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def main() -> None:
    torch.set_num_threads(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        pre, res = Path(tmp) / "pre", Path(tmp) / "res"
        write_tiny_dataset(pre, tiny_plans())
        ft_labels = {"background": 0, "liver": 1, "spleen": 2}
        write_tiny_dataset(pre, tiny_plans("Dataset991_Ft", labels=ft_labels))
        roots = dict(preprocessed_root=pre, results_root=res)
        a = train_model(990, fold=0, preset="cpu", num_epochs=3, **COMMON, **roots)
        out["fresh"] = digest(Path(a["fold_dir"]) / "checkpoint_final.pt")
        r = dict(preprocessed_root=pre, results_root=Path(tmp) / "res_resume")
        train_model(990, fold=0, preset="cpu", num_epochs=2, **COMMON, **r)
        b = train_model(990, fold=0, preset="cpu", num_epochs=3, resume=True, **COMMON, **r)
        out["resumed"] = digest(Path(b["fold_dir"]) / "checkpoint_final.pt")
        for preset in ("finetune_cpu", "finetune_cpu_headfirst"):
            f = train_model(991, fold=0, preset=preset, pretrained=990, num_epochs=3, warmup_epochs=0,
                            head_first_epochs=1 if preset.endswith("headfirst") else 0, **COMMON, **roots)
            out[preset] = digest(Path(f["fold_dir"]) / "checkpoint_final.pt")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
