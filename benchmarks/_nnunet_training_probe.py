"""Helper of bench_training.py, run by the nnU-Net v2 interpreter (not imported by torsoseg).

Reads a JSON job from argv[1], times nnU-Net v2's training step (PlainConvUNet with the given topology,
DC_and_CE_loss with deep supervision, SGD Nesterov, float32 as nnU-Net's CPU path) and its data loader
(nnUNetDataLoader + nnUNetTrainer.get_training_transforms, batchgeneratorsv2) on a folder in nnU-Net's
numpy dataset format, and prints one JSON line with the results.
"""

import json
import sys
import time

import numpy as np
import torch


def time_step(job):
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    n = len(job["features"])
    net = PlainConvUNet(
        1,
        n,
        job["features"],
        torch.nn.Conv3d,
        job["kernel_sizes"],
        job["strides"],
        2,
        job["num_classes"],
        2,
        conv_bias=True,
        norm_op=torch.nn.InstanceNorm3d,
        norm_op_kwargs={"eps": 1e-5, "affine": True},
        nonlin=torch.nn.LeakyReLU,
        nonlin_kwargs={"inplace": True},
        deep_supervision=True,
    )
    loss = DC_and_CE_loss(
        {"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False},
        {},
        weight_ce=1,
        weight_dice=1,
        ignore_label=None,
        dice_class=MemoryEfficientSoftDiceLoss,
    )
    w = np.array([1 / 2**i for i in range(n - 1)])
    w[-1] = 0
    loss = DeepSupervisionWrapper(loss, w / w.sum())
    opt = torch.optim.SGD(net.parameters(), 1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
    b, p = job["batch_size"], job["patch_size"]
    x = torch.randn(b, 1, *p)
    y = torch.randint(0, job["num_classes"], (b, 1, *p)).float()
    cum, targets = np.array([1, 1, 1]), []
    for s in job["strides"][:-1]:
        cum = cum * np.array(s)
        targets.append(y[:, :, :: cum[0], :: cum[1], :: cum[2]])
    times = []
    for i in range(job["warmup"] + job["steps"]):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = net(x)
        lo = loss(out, targets)
        lo.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        opt.step()
        if i >= job["warmup"]:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_loader(job):
    from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetNumpy
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    p = tuple(job["patch_size"])
    rot = (-30.0 / 360 * 2 * np.pi, 30.0 / 360 * 2 * np.pi)
    initial = get_patch_size(p, rot, rot, rot, (0.85, 1.25))
    ds_scales = [[1.0, 1.0, 1.0]]
    cum = np.array([1.0, 1.0, 1.0])
    for s in job["strides"][1:-1]:
        cum = cum / np.array(s)
        ds_scales.append(list(cum))
    labels = {f"l{i}": i for i in range(1, job["num_classes"])}
    labels["background"] = 0
    lm = LabelManager(labels, None)
    tr = nnUNetTrainer.get_training_transforms(
        p,
        rot,
        ds_scales,
        (0, 1, 2),
        False,
        use_mask_for_norm=[False],
        is_cascaded=False,
        foreground_labels=lm.foreground_labels,
    )
    ds = nnUNetDatasetNumpy(job["nnunet_folder"], job["identifiers"])
    dl = nnUNetDataLoader(
        ds,
        job["batch_size"],
        initial,
        p,
        lm,
        oversample_foreground_percent=0.33,
        sampling_probabilities=None,
        pad_sides=None,
        probabilistic_oversampling=False,
        transforms=tr,
    )
    torch.set_num_threads(1)  # as nnU-Net's background workers
    for _ in range(job["warmup"]):
        next(dl)
    t0 = time.perf_counter()
    for _ in range(job["batches"]):
        next(dl)
    return job["batches"] / (time.perf_counter() - t0)


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    out = {"step_s": time_step(job)}
    if job.get("nnunet_folder"):
        out["loader_batches_per_s"] = time_loader(job)
    print(json.dumps(out))
