"""Tests of torsoseg.training.state: seeds from one function, RNG states, TrainState <-> Checkpoint."""

from __future__ import annotations

import random

import numpy as np
import torch

from tests.training.conftest import tiny_plans
from torsoseg.dataset import DatasetJson
from torsoseg.network import build_network
from torsoseg.training.progress import TrainingLog
from torsoseg.training.settings import TrainingSettings
from torsoseg.training.state import TrainState, rng_state, run_seeds, set_rng_state


def test_seeds_differ_by_rank_and_resume_epoch_but_validation_does_not():
    a, b, c = run_seeds(7), run_seeds(7, rank=1), run_seeds(7, start_epoch=3)
    assert len({a.rank, b.rank, c.rank}) == 3 and a.init == b.init == c.init == 7
    assert a.augmentation == a.rank + 1
    assert a.validation_patches == b.validation_patches == c.validation_patches != a.rank
    assert run_seeds(7) == run_seeds(7)


def test_rng_state_restores_all_streams():
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_train_state_checkpoint_restores_weights_optimizer_and_log(tmp_path):
    plans = tiny_plans()
    ds = DatasetJson.from_json({"name": "Tiny", "labels": plans.labels, "channel_names": {"0": "CT"},
                                "numTraining": 2, "file_ending": ".nii.gz"})
    job = type("Job", (), dict(settings=TrainingSettings(num_epochs=5), plans=plans, dataset_json=ds,
                               trainer="Trainer", fold="0"))()
    organs = [n for n in ds.label_names if n != "background"]

    def fresh(seed):
        torch.manual_seed(seed)
        net = build_network(plans, num_classes=ds.num_classes)
        return TrainState(net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9), TrainingLog(organs))

    state = fresh(0)
    state.model(torch.randn(1, 1, *plans.patch_size))[0].sum().backward()
    state.optimizer.step()
    state.log.append(0, 1.0, 0.9, [0.1] * len(organs), 0.1, 0.1, 1.0)
    state.best_ema = 0.1
    ckpt = state.checkpoint(job, epoch=1)
    other = fresh(1)
    other.restore(ckpt, organs, restore_rng=False)
    for (k, v), w in zip(state.model.state_dict().items(), other.model.state_dict().values()):
        torch.testing.assert_close(v, w, msg=k)
    assert other.epoch == 1 and other.best_ema == 0.1 and other.ema == 0.1 and len(other.log.rows) == 1
    assert other.optimizer.state_dict()["state"].keys() == state.optimizer.state_dict()["state"].keys()
