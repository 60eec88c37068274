"""Static prose of ``documentation/benchmarks.md``: method and caveats per benchmark, no measured figures.

Every number a reader may quote comes from ``benchmarks/results/*.json`` through ``_report.py``; the text
here only explains how a figure is measured and how to read it. Method parameters (a step size, a
momentum) are fine here; measured values are not.
"""

from __future__ import annotations

PREAMBLE = """\
Speed and memory targets of torsoseg are measured here and never asserted in tests. This file is
generated: `benchmarks/run_all.py` runs the benchmark scripts, stores each one's figures in
`benchmarks/results/<name>.json` (committed, with the command, machine, date and commit of the run) and
renders this page from those files alone. Do not edit it by hand: change the text in
`benchmarks/_report_text.py` or the tables in `benchmarks/_report_tables.py`, then re-render with
`python benchmarks/run_all.py --render-only`.

The whole set runs with `make bench` (it builds the nnU-Net v2 / MONAI comparison environment
`.bench-venv` first) or `python benchmarks/run_all.py`; `--only NAME` re-runs one benchmark. A full run
takes hours on a 2-core CPU and needs about 8 GB of free memory. Timings taken while other jobs use the
cores are inflated and their ratios noisy: every section states the load average before its run, and a
result flagged **machine busy** should be re-run on a quiet machine before it is quoted. Memory figures
do not depend on the load.

In the commands below, `$WORK` is the scratch folder of the run (`run_all.py --work`) and
`$TORSOSEG_BENCH_PYTHON` the interpreter of the nnU-Net v2 / MONAI comparison environment
(`.bench-venv/bin/python` after `make bench`, or any interpreter that imports nnunetv2 and monai).

The abdomen phantom changed on 2026-12-03: 30 % of its scans now run on into the pelvis (of seeds 0-11,
seeds 4, 5 and 9), with more slices at the same slice spacing (`documentation/phantom.md`). Every result
below that uses abdomen phantoms and is dated before that change was measured on the old, shorter scans
and has not been re-run; the datasets it times are a little smaller than the ones the command makes
now."""

INFERENCE_GROUP = """\
Script: `benchmarks/bench_inference.py` (sections `sliding-window`, `e2e`, `memory`, `precision`; each is
stored as its own result, `inference_<section>`). nnU-Net v2 and MONAI run from the comparison
environment (`--nnunet-python` / `$TORSOSEG_BENCH_PYTHON`). All runs are on the CPU with torch's default
number of threads."""

TEXT: dict[str, dict[str, str]] = {
    "plan_and_preprocess": {
        "title": "Plan and preprocess: torsoseg vs nnU-Net v2",
        "intro": """\
Script: `benchmarks/bench_plan_and_preprocess.py`. It writes one raw dataset of phantom cases
(`generate_case(kind, seed)` for seeds 0..N-1, nnU-Net v2 raw layout) and then runs both tools on that
same dataset as subprocesses with the same number of worker processes: `torsoseg_plan_and_preprocess`
with its default `cpu` budget (the budget changes the patch size, not the preprocessing work) and
`nnUNetv2_plan_and_preprocess -c 3d_fullres`. For each tool it records the wall time of the whole
command, the peak memory of the whole process tree sampled from `/proc` every 20 ms (as the sum of RSS
and as the sum of PSS), the largest single process (`/usr/bin/time` `%M`) and the target spacing the tool
chose (nnU-Net's mapped back to x, y, z). PSS splits a page shared by forked workers between them instead
of counting it once per worker, which makes it the fairer measure of the memory a run really takes.""",
        "notes": """\
Where torsoseg's time goes, for one case on one core: the fingerprint (reading every image and label
map once), the preprocessing (mostly the cubic resampling of the image) and a fixed cost of starting the
interpreter and importing torch, which the planner needs for its memory estimate of the network. nnU-Net
keeps its cache compressed (blosc2), torsoseg stores uncompressed `.npy` files that training
memory-maps, so torsoseg's cache is larger on disk but costs no decompression per batch.""",
    },
    "training": {
        "title": "Training: torsoseg vs nnU-Net v2 (steps/s, loader batches/s)",
        "intro": """\
Script: `benchmarks/bench_training.py` (its helper `benchmarks/_nnunet_training_probe.py` runs in the
nnU-Net interpreter). Both sides use the patch, batch size and network topology of one torsoseg
preprocessed dataset; `run_all.py` prepares it from phantom abdomen cases, planned with the `cpu` budget
and preprocessed by the torsoseg library in a scratch folder. A **step** is one optimiser step: forward,
Dice + cross-entropy with deep supervision, backward, gradient clipping at 12 and SGD (Nesterov,
momentum 0.99); the figure is the median over the timed steps after a warm-up. torsoseg runs its U-Net
in float32 and in its CPU default (`precision=auto`: bfloat16 autocast with channels-last 3D on a CPU
with native bfloat16); nnU-Net v2 runs `PlainConvUNet` with the same stages, features, kernels and
strides (conv bias, InstanceNorm, LeakyReLU, deep supervision) and its `DC_and_CE_loss` in float32,
which is what `nnUNetTrainer` does on a CPU. The **loader** figure is the number of augmented training
batches one process produces per second: torsoseg's `PatchBatchLoader` with the batchgenerators
transforms of the `cpu` preset, against nnU-Net's `nnUNetDataLoader` with
`nnUNetTrainer.get_training_transforms` (batchgeneratorsv2), on the same cases copied into nnU-Net's
numpy dataset format.""",
        "notes": """\
The two networks compute the same thing, so in float32 their step times should agree within the noise;
torsoseg's float32 loss is slightly more expensive. The gain of the default precision comes from
bfloat16 on AMX together with channels-last 3D (see the GFLOP/s section). "Batches per step" is how many
batches one loader process makes in the time of one default-precision step: above 1, loading inline
(the `cpu` preset's `num_workers=0`) adds only that fraction of a step, and any background worker keeps
the step fed. On 2 cores a worker process would take a core away from the step, which is why the `cpu`
preset loads inline and the other presets use worker processes. A measured learning run with the `cpu`
preset is in `documentation/training.md`.""",
    },
    "precision": {
        "title": (
            "Precision: GFLOP/s of the planned U-Net in fp32 / bf16, contiguous / channels-last (issue 9)"
        ),
        "intro": """\
Script: `benchmarks/bench_precision.py`. FLOPs are counted once with
`torch.utils.flop_counter.FlopCounterMode` on the network `build_network(plans)` builds, for a forward
pass and for forward + float32 loss + backward; every variant is then timed (median of the repeats after
a warm-up) and reported as seconds and achieved GFLOP/s. `run_all.py` uses the `cpu` plan of the phantom
abdomen dataset it prepares for the training benchmark.""",
        "notes": """\
Why the layout matters: oneDNN's bfloat16 convolutions work in a channels-last layout, so a contiguous
bfloat16 network spends much of its time converting tensors between layouts, while channels-last alone
gives float32 no such advantage. torsoseg therefore trains channels-last exactly when it trains in
bfloat16 on the CPU (`TrainingSettings.channels_last=None`). Whole-network GFLOP/s stay well below those
of a single convolution because InstanceNorm, LeakyReLU and the layout conversions around the norm are
memory-bound. The accuracy side of bfloat16 training (pseudo Dice of bf16 vs fp32 runs on the same seed)
is checked on the synthetic training fixtures of `tests/training/`, not here.""",
    },
    "inference_sliding_window": {
        "title": "Sliding window: same network, volume, patch and step",
        "intro": """\
One torsoseg U-Net with random weights (its output heads scaled up, so that class margins look more like
a trained network's) is handed as the same `torch.nn.Module` object to each tool; the input is the real
DICOM CT of `../shared/data`, resampled and normalised; tiles at step 0.5, no mirroring, one tile per
forward pass. nnU-Net v2: `nnUNetPredictor.predict_sliding_window_return_logits` with network, patch and
label count set by hand (its CPU path: float32 network, float16 accumulation). MONAI:
`sliding_window_inference(sw_batch_size=1, overlap=0.5, mode="gaussian", sigma_scale=0.125)`. Agreement
is the share of voxels whose argmax equals nnU-Net's.""",
        "notes": """\
torsoseg places tiles exactly as nnU-Net does (flush with both ends, evenly spaced) and weights them
with the same Gaussian (sigma = patch / 8), so in float32 the two agree by design; the few voxels that
differ are near-ties between the random network's logits that flip with nnU-Net's float16 rounding (its
Gaussian and weight sums are float16; torsoseg normalises its weights in float64 per axis, multiplies in
float32 and rounds once into the float16 accumulator). MONAI places the last tile of each axis
differently, so it does not agree by design. In float32 both sliding windows do the same work, so their
time ratio is noise; the speed-up comes from bfloat16 on AMX, which torsoseg's `auto` precision uses and
nnU-Net's CPU path does not. bfloat16 against float32 flips more near-ties on this random network with
many classes than a trained network would; `tests/inference/test_predictor.py` checks bf16 against fp32 on a
fixed small model.""",
    },
    "inference_e2e": {
        "title": "End to end: `torsoseg_predict` vs `nnUNetv2_predict`",
        "intro": """\
One large CT volume made from the real DICOM series (resampled to the input shape and spacing in the
setup line), the same plans for both tools (spacing, patch, features, classes, CT normalisation with the
same statistics) and the same weights (torsoseg's U-Net mapped parameter by parameter onto nnU-Net's
`PlainConvUNet`), no test-time augmentation, CPU, nnU-Net as
`nnUNetv2_predict_from_modelfolder -f 0 -device cpu --disable_tta -npp 1 -nps 1`. Measured: wall time
of the whole command (imports included) and peak memory of the whole process tree (PSS, so pages shared
by nnU-Net's worker processes count once).""",
        "notes": """\
Where the difference comes from: nnU-Net crops to the non-zero voxels, which for CT (air at -1000 HU) is
the whole volume, while torsoseg crops to the body, so it predicts fewer tiles; torsoseg's default uses
bfloat16 on AMX; and nnU-Net resamples all class scores to the full input resolution and applies the
softmax to all of them before the argmax, while torsoseg resamples one class at a time in slabs and keeps
a running maximum. nnU-Net's peak therefore grows with the input size, which is why this volume is kept
shorter than the one of the memory section (more would not fit beside other jobs on a shared 24 GiB
machine). The two outputs are not compared: with random weights and different crops the tiles and the
instance-norm statistics differ; agreement by design is what the sliding-window table measures.""",
    },
    "inference_memory": {
        "title": "Memory: torsoseg's worst case",
        "intro": """\
A large volume with many classes (by default 512 x 512 x 400 voxels and 21 classes; the table gives
the shape and class count of the run) predicted at its own spacing (the plans' spacing equals the
input's, so nothing is downsampled and the float16 accumulator has the size of the cropped input), by a
tiny network (the network is not what is measured here), one process, peak PSS sampled from `/proc`.
Two inputs: the real CT resampled to that shape (torsoseg crops the air around the body) and the
worst case, the same volume with the air replaced by soft tissue so that the body fills the field of
view and nothing is cropped. The accumulator columns give the size of the class scores for the whole
uncropped volume in float16 (what torsoseg holds at most), and what a float32 or float64 copy would
take.""",
        "notes": """\
Besides the accumulator, the peak holds the float32 preprocessed input, the caller's int16 image, one
tile's float32 logits, and Python, torch and SimpleITK themselves; the export works in slabs of bounded
size and writes `uint8` label maps. With a typical CPU plan (coarser spacing than the input) the
accumulator of the same input is several times smaller; the end-to-end table shows such a peak.""",
    },
    "inference_precision": {
        "title": "Precision (issue 9, inference part): `torsoseg_predict` per precision",
        "intro": """\
The same U-Net shape as the sliding-window table with random weights (this measures time, not
accuracy), whole `torsoseg_predict` command (imports, reading, preprocessing, export and writing
included), no test-time augmentation, CPU, on a torso phantom case and on the real DICOM series of
`../shared/data`. Agreement is the share of voxels whose label equals the fp32 run's.""",
        "notes": """\
`auto` resolves to bfloat16 on a CPU with native bfloat16 (AMX or AVX512-BF16), so its output equals
`bf16`'s and any time difference between those two rows is load noise. The phantom case has many tiles,
so the network dominates; the DICOM series is short, so reading the files, preprocessing, export and the
interpreter start weigh more and the whole command gains less from bfloat16. Accumulation, test-time
augmentation / fold averaging and the softmax never run in bfloat16 (float32 per tile, float16
accumulator, float32 softmax); `tests/inference/test_predictor.py` asserts at least 99 % agreement of bf16
with fp32 on a fixed small model. The issue's Dice check (bf16 within 0.005 of fp32 per organ on held-out
phantoms) needs a trained model: `torsoseg_predict --precision fp32` and `bf16` followed by
`torsoseg_evaluate` on the demo's dataset give it. A larger phantom: `bench_inference.py precision
--phantom-size full` (512 x 512 in-plane; slow on 2 cores).""",
    },
}
