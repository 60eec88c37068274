"""Tests of torsoseg.training.distributed: DDP with gloo under torchrun, 2 ranks on the CPU."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torsoseg.training.distributed import DistInfo, init_distributed, launched_by_torchrun, wrap_model

HERE = Path(__file__).resolve().parent


def test_single_process_without_torchrun():
    assert not launched_by_torchrun()
    info = init_distributed(torch.device("cpu"))
    assert info == DistInfo(0, 1, False) and info.is_main
    m = torch.nn.Linear(2, 2)
    assert wrap_model(m, torch.device("cpu"), info) is m


@pytest.mark.slow
def test_torchrun_two_ranks_identical_weights(tiny_roots, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    cmd = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    out = tmp_path / "weights"
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            *cmd,
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(port),
            str(HERE / "ddp_worker.py"),
            str(tiny_roots["preprocessed_root"]),
            str(tiny_roots["results_root"]),
            str(out),
        ],
        cwd=HERE.parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = proc.communicate(timeout=170)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks
        log, _ = proc.communicate()
        pytest.fail("torchrun did not finish in 170 s:\n" + log[-3000:])
    assert proc.returncode == 0, log[-3000:]
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0)
    fold = (
        tiny_roots["results_root"] / "Dataset990_Tiny" / "Trainer_cpu__torsoseg_plans__3d_fullres" / "fold_0"
    )
    ckpt = torch.load(fold / "checkpoint_final.pt", weights_only=True)  # rank 0 wrote it
    torch.testing.assert_close(ckpt["network_weights"]["seg_heads.0.weight"], w0["seg_heads.0.weight"])
    # the ranks trained on different batches: the weights moved away from any single-process run's start
    assert ckpt["epoch"] == 2
