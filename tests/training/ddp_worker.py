"""Run by tests/training/test_distributed.py under ``torchrun --nproc_per_node 2`` (not a test module).

argv: preprocessed_root results_root out_dir
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from torsoseg.training.run import train_model

pre, res, out = sys.argv[1:4]
summary = train_model(
    990,
    fold=0,
    preset="cpu",
    device="cpu",
    precision="fp32",
    num_epochs=2,
    iterations_per_epoch=3,
    val_iterations=1,
    num_workers=0,
    preprocessed_root=pre,
    results_root=res,
)
rank = dist.get_rank()
Path(out).mkdir(parents=True, exist_ok=True)
torch.save(
    {k: v.detach().clone() for k, v in summary["model"].state_dict().items()}, Path(out) / f"rank{rank}.pt"
)
dist.barrier()
dist.destroy_process_group()
