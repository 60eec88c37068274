"""Inference benchmarks: torsoseg vs nnU-Net v2 vs MONAI on CPU, end to end, memory and precision.

Sections (run one or several; ``all`` runs every one):

* ``sliding-window``: the SAME torch network (a torsoseg U-Net), volume, patch and step through
  torsoseg's ``sliding_window_logits`` (fp32 and bf16), nnU-Net v2's
  ``nnUNetPredictor.predict_sliding_window_return_logits`` (network set by hand, no mirroring) and MONAI's
  ``sliding_window_inference(mode="gaussian", sigma_scale=0.125, overlap=0.5)``: wall time, ratio to
  nnU-Net, argmax agreement with nnU-Net (nnU-Net and torsoseg place tiles identically and weight them
  with the same Gaussian, so they agree by design; MONAI places the last tiles differently).
* ``e2e``: ``torsoseg_predict`` vs ``nnUNetv2_predict_from_modelfolder`` on one large CT (default
  512x512x160, made from the real DICOM series in ../shared/data; nnU-Net's export holds all class
  scores at full resolution: 4.9 GiB measured at 160 slices, roughly 12 GiB at 400), both without TTA
  on the CPU, both with the same U-Net weights (mapped onto nnU-Net's PlainConvUNet) and the same
  plans: wall time and peak memory (PSS) of the whole process tree, sampled from /proc. The outputs
  are not compared: the weights are random and the two tools crop differently, so tiles and
  instance-norm statistics differ; the agreement by design is measured in ``sliding-window``.
* ``memory``: torsoseg's worst case, a 512x512x400 volume with 21 classes predicted at its own spacing
  (no downsampling: the float16 accumulator is full size), tiny network: peak memory (target < 6 GB).
* ``precision``: ``torsoseg_predict`` wall time per precision (fp32, bf16, auto) on a phantom case and on
  the real DICOM series, and the argmax agreement of bf16 with fp32.

Usage::

    python benchmarks/bench_inference.py sliding-window e2e memory precision [--quick]
    python benchmarks/bench_inference.py all --json results.json

nnU-Net and MONAI are imported from the interpreter given by ``--nnunet-python`` (default:
``$TORSOSEG_BENCH_PYTHON``, else this interpreter if it can import nnunetv2); sections that need them
report "nnU-Net not available" when it is missing. Timings on a shared machine are noisy: re-run on a
quiet one before quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import NOT_FOUND, TreeMemory, find_nnunet_python

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
SECTIONS = ("sliding-window", "e2e", "memory", "precision")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Runs ``cmd``; returns (wall seconds, peak tree RSS in GiB, combined output tail)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    with TreeMemory(proc.pid) as mem:
        out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed (exit {proc.returncode}):\n{out[-3000:]}")
    return wall, mem.peak_pss / 1024**3, out[-2000:]


def bench_plans(classes: int, patch, features, spacing, name="Dataset990_Bench"):
    from torsoseg.plans import CTNormalization, Plans

    labels = {"background": 0}
    for i in range(1, classes):
        labels[f"class_{i:02d}"] = i
    n = len(features)
    strides = ((1, 1, 1),) + ((2, 2, 2),) * (n - 1)
    return Plans(dataset_name=name, labels=labels, target_spacing=tuple(spacing), patch_size=tuple(patch),
                 batch_size=2, strides=strides, kernel_sizes=((3, 3, 3),) * n, features=tuple(features),
                 normalization=CTNormalization(mean=40.0, std=220.0, lower=-980.0, upper=1400.0))


def make_network(plans, seed: int = 0):
    import torch

    from torsoseg.network import build_network

    torch.manual_seed(seed)
    net = build_network(plans, deep_supervision=False).eval()
    with torch.no_grad():  # larger head weights: class margins like a trained network's, not all ~0
        for h in net.seg_heads:
            h.weight.mul_(4.0)
    return net


def save_torsoseg_model(root: Path, plans, net) -> Path:
    import torch

    model = root / plans.dataset_name / f"Trainer__{plans.plans_name}__{plans.configuration}"
    (model / "fold_0").mkdir(parents=True, exist_ok=True)
    plans.save(model / "plans.json")
    ds = {"name": "Bench", "labels": plans.labels, "channel_names": {"0": "CT"}, "numTraining": 0,
          "file_ending": ".nii.gz"}
    (model / "dataset.json").write_text(json.dumps(ds, indent=2))
    torch.save({"format_version": 1, "network_weights": net.state_dict(), "plans": plans.to_json(),
                "dataset_json": ds, "labels": plans.labels, "settings": {}, "epoch": 0},
               model / "fold_0" / "checkpoint_final.pt")
    return model


def nnunet_weights_from(net, plans) -> dict:
    """Maps a torsoseg UNet3D state onto nnU-Net's PlainConvUNet parameter names (same computation)."""
    import torch

    sd = net.state_dict()
    n = plans.num_stages
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] == "encoder":  # encoder.s.i.(conv|norm).x
            out[f"encoder.stages.{parts[1]}.0.convs.{parts[2]}.{'.'.join(parts[3:])}"] = v
        elif parts[0] == "decoder":  # decoder.d.i.(conv|norm).x
            out[f"decoder.stages.{parts[1]}.convs.{parts[2]}.{'.'.join(parts[3:])}"] = v
        elif parts[0] == "upsample":
            out[f"decoder.transpconvs.{parts[1]}.weight"] = v
            out[f"decoder.transpconvs.{parts[1]}.bias"] = torch.zeros(v.shape[1])
        elif parts[0] == "seg_heads":
            out[f"decoder.seg_layers.{n - 2 - int(parts[1])}.{parts[2]}"] = v
    # PlainConvUNet lists every conv/norm twice (also in ``all_modules``) and its decoder holds the encoder
    for key in list(out):
        if ".conv." in key:
            out[key.replace(".conv.", ".all_modules.0.")] = out[key]
        elif ".norm." in key:
            out[key.replace(".norm.", ".all_modules.1.")] = out[key]
    for key in [k for k in out if k.startswith("encoder.")]:
        out["decoder." + key] = out[key]
    return out


def nnunet_plans_json(plans) -> dict:
    n = plans.num_stages
    norm = plans.normalization
    return {
        "dataset_name": plans.dataset_name, "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": list(plans.target_spacing),
        "original_median_shape_after_transp": [256, 256, 256],
        "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {"3d_fullres": {
            "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor",
            "batch_size": 2, "patch_size": list(plans.patch_size),
            "median_image_size_in_voxels": [256, 256, 256],
            "spacing": list(plans.target_spacing), "normalization_schemes": ["CTNormalization"],
            "use_mask_for_norm": [False],
            "resampling_fn_data": "resample_data_or_seg_to_shape",
            "resampling_fn_seg": "resample_data_or_seg_to_shape",
            "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0,
                                          "force_separate_z": None},
            "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
            "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
            "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0,
                                                   "force_separate_z": None},
            "architecture": {
                "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                "arch_kwargs": {
                    "n_stages": n, "features_per_stage": list(plans.features),
                    "conv_op": "torch.nn.modules.conv.Conv3d",
                    "kernel_sizes": [list(k) for k in plans.kernel_sizes],
                    "strides": [list(s) for s in plans.strides],
                    "n_conv_per_stage": [plans.n_conv_per_stage] * n,
                    "n_conv_per_stage_decoder": [plans.n_conv_per_stage] * (n - 1),
                    "conv_bias": True, "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
                    "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
                    "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
                    "nonlin_kwargs": {"inplace": True},
                },
                "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
            },
            "batch_dice": False,
        }},
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {"0": {
            "max": 3000.0, "mean": norm.mean, "median": norm.mean, "min": -1024.0,
            "percentile_00_5": norm.lower, "percentile_99_5": norm.upper, "std": norm.std}},
    }


def save_nnunet_model(root: Path, plans, net, python: str) -> Path:
    """An nnU-Net v2 model folder holding ``net``'s weights (checked in the bench interpreter)."""
    import torch

    model = root / "nnunet_model"
    (model / "fold_0").mkdir(parents=True, exist_ok=True)
    (model / "plans.json").write_text(json.dumps(nnunet_plans_json(plans), indent=2))
    ds = {"name": "Bench", "labels": plans.labels, "channel_names": {"0": "CT"}, "numTraining": 0,
          "file_ending": ".nii.gz"}
    (model / "dataset.json").write_text(json.dumps(ds, indent=2))
    torch.save({"network_weights": nnunet_weights_from(net, plans), "trainer_name": "nnUNetTrainer",
                "init_args": {"configuration": "3d_fullres"}, "inference_allowed_mirroring_axes": (0, 1, 2)},
               model / "fold_0" / "checkpoint_final.pth")
    return model


def ct_volume(shape, spacing):
    """A real CT (the DICOM series of ../shared/data) resampled to ``shape`` with the given spacing."""
    import torch

    from torsoseg.imageio import Volume, read_image

    src = read_image(SHARED / "ts_dicom_ct")
    arr = torch.from_numpy(src.array.astype(np.float32))[None, None]
    arr = torch.nn.functional.interpolate(arr, size=tuple(shape), mode="trilinear", align_corners=False)
    return Volume(arr[0, 0].round().numpy().astype(np.int16), tuple(spacing), src.origin, src.direction)


def markdown(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------------


def sliding_window_section(args) -> dict:
    import torch

    from torsoseg.inference.sliding_window import sliding_window_logits
    from torsoseg.network.precision import cpu_supports_bf16

    plans = bench_plans(args.classes, args.patch, args.features, (1.0, 1.0, 1.0))
    net = make_network(plans)
    vol = ct_volume(args.sw_shape, (1.0, 1.0, 1.0))
    data = torch.from_numpy(plans.normalization.apply(vol.array))[None]
    k = plans.num_classes
    rows, seg = [], {}

    def timed(name, fn):
        t0 = time.perf_counter()
        logits = fn()
        dt = time.perf_counter() - t0
        seg[name] = logits.float().argmax(0).numpy()
        rows.append({"method": name, "seconds": round(dt, 2)})
        print(f"  {name}: {dt:.2f} s", flush=True)

    timed("torsoseg fp32", lambda: sliding_window_logits(net, data, plans.patch_size, k, step=0.5))
    if cpu_supports_bf16():
        timed("torsoseg bf16", lambda: sliding_window_logits(net, data, plans.patch_size, k, step=0.5,
                                                             autocast_dtype=torch.bfloat16))
    if args.channels_last:
        net_cl = make_network(plans).to(memory_format=torch.channels_last_3d)
        bf16 = torch.bfloat16 if cpu_supports_bf16() else None
        timed("torsoseg channels-last" + (" bf16" if bf16 else ""),
              lambda: sliding_window_logits(net_cl, data, plans.patch_size, k, step=0.5, autocast_dtype=bf16,
                                            channels_last=True))
    if args.bench_python == sys.executable:
        from types import SimpleNamespace

        from monai.inferers import sliding_window_inference
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        pred = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                               perform_everything_on_device=False, device=torch.device("cpu"),
                               allow_tqdm=False)
        pred.network = net
        pred.configuration_manager = SimpleNamespace(patch_size=list(plans.patch_size))
        pred.label_manager = SimpleNamespace(num_segmentation_heads=k)
        pred.allowed_mirroring_axes = None
        timed("nnU-Net v2", lambda: pred.predict_sliding_window_return_logits(data))

        def monai():
            with torch.inference_mode():
                return sliding_window_inference(data[None], plans.patch_size, 1, net, overlap=0.5,
                                                mode="gaussian", sigma_scale=0.125)[0]
        timed("MONAI", monai)
    else:
        print("  nnU-Net not available (no interpreter with nnunetv2 and monai): torsoseg only")
    ref = "nnU-Net v2" if "nnU-Net v2" in seg else "torsoseg fp32"
    ref_t = next(r["seconds"] for r in rows if r["method"] == ref)
    for r in rows:
        r["speed-up vs " + ref] = round(ref_t / r["seconds"], 2)
        r["argmax agreement vs " + ref] = f"{100 * float((seg[r['method']] == seg[ref]).mean()):.3f} %"
    cols = ["method", "seconds", "speed-up vs " + ref, "argmax agreement vs " + ref]
    setup = (f"volume {tuple(args.sw_shape)}, patch {plans.patch_size}, step 0.5, features {plans.features}, "
             f"{k} classes, torch threads {torch.get_num_threads()}")
    print(setup)
    print(markdown(rows, cols))
    return {"setup": setup, "rows": rows}


def e2e_section(args, work: Path) -> dict:
    import torch

    from torsoseg.imageio import write_image

    plans = bench_plans(args.classes, args.patch, args.features, args.target_spacing)
    net = make_network(plans)
    inp = work / "e2e_in"
    inp.mkdir(parents=True, exist_ok=True)
    if args.e2e_input:  # a given CT (e.g. bench_cascade.py's phantom), so both tools read the same file
        shutil.copyfile(args.e2e_input, inp / "big_0000.nii.gz")
    else:
        vol = ct_volume(args.e2e_shape, args.e2e_spacing)
        write_image(vol, inp / "big_0000.nii.gz")
        del vol
    rows = []
    model = save_torsoseg_model(work / "results", plans, net)
    env = dict(os.environ)
    out_t = work / "e2e_torsoseg"
    shutil.rmtree(out_t, ignore_errors=True)
    for prec in args.e2e_precisions:
        wall, peak, _ = run_measured([sys.executable, "-m", "torsoseg.cli.predict", "-i", str(inp), "-o",
                                      str(out_t / prec), "-m", str(model), "--device", "cpu", "--no-tta",
                                      "--precision", prec, "--no-progress"], env)
        rows.append({"tool": f"torsoseg_predict --precision {prec}", "seconds": round(wall, 1),
                     "peak GiB": round(peak, 2)})
        print(f"  torsoseg {prec}: {wall:.1f} s, {peak:.2f} GiB", flush=True)
    if args.bench_python:
        nn_model = save_nnunet_model(work, plans, net, args.bench_python)
        out_n = work / "e2e_nnunet"
        shutil.rmtree(out_n, ignore_errors=True)
        exe = str(Path(args.bench_python).parent / "nnUNetv2_predict_from_modelfolder")
        env_n = dict(env, nnUNet_raw=str(work), nnUNet_preprocessed=str(work), nnUNet_results=str(work))
        wall, peak, _ = run_measured([exe, "-i", str(inp), "-o", str(out_n), "-m", str(nn_model), "-f", "0",
                                      "-device", "cpu", "--disable_tta", "-npp", "1", "-nps", "1",
                                      "--disable_progress_bar"], env_n)
        rows.append({"tool": "nnUNetv2_predict (fp32, CPU)", "seconds": round(wall, 1),
                     "peak GiB": round(peak, 2)})
        print(f"  nnU-Net: {wall:.1f} s, {peak:.2f} GiB", flush=True)
        t_nn, m_nn = rows[-1]["seconds"], rows[-1]["peak GiB"]
        for r in rows[:-1]:
            r["speed-up"] = round(t_nn / r["seconds"], 2)
            r["memory ratio"] = round(r["peak GiB"] / m_nn, 2)
    else:
        print("  nnU-Net not available: torsoseg only")
    what = args.e2e_input or f"{tuple(args.e2e_shape)} at {tuple(args.e2e_spacing)} mm"
    setup = (f"input {what} -> plans spacing "
             f"{tuple(args.target_spacing)}, patch {plans.patch_size}, features {plans.features}, "
             f"{plans.num_classes} classes, no TTA, CPU, torch threads {torch.get_num_threads()}")
    print(setup)
    cols = ["tool", "seconds", "peak GiB", "speed-up", "memory ratio"]
    print(markdown(rows, cols))
    return {"setup": setup, "rows": rows}


def memory_section(args, work: Path) -> dict:
    from torsoseg.imageio import write_image

    spacing = tuple(args.e2e_spacing)
    plans = bench_plans(21, (128, 128, 128), (4, 8), spacing, name="Dataset991_Memory")
    net = make_network(plans)
    model = save_torsoseg_model(work / "results", plans, net)
    k, n = 21, int(np.prod(args.mem_shape))
    rows = []
    vol = ct_volume(args.mem_shape, spacing)
    # the real CT (air around the body is cropped away), then the worst case: body in the whole field of
    # view (air replaced by soft tissue), so nothing is cropped and the accumulator has the full size
    filled = vol.with_array(np.where(vol.array < -500, np.int16(30), vol.array))
    for label, v in (("CT (body crop)", vol), ("body fills the field of view (no crop)", filled)):
        inp = work / "mem_in"
        shutil.rmtree(inp, ignore_errors=True)
        inp.mkdir(parents=True)
        write_image(v, inp / "big_0000.nii.gz")
        wall, peak, _ = run_measured([sys.executable, "-m", "torsoseg.cli.predict", "-i", str(inp), "-o",
                                      str(work / "mem_out"), "-m", str(model), "--device", "cpu", "--no-tta",
                                      "--step", "1.0", "--no-progress"])
        shutil.rmtree(work / "mem_out", ignore_errors=True)
        rows.append({"volume": "x".join(map(str, args.mem_shape)), "input": label, "classes": k,
                     "network grid": "input spacing (no resampling)",
                     "fp16 accumulator if uncropped GiB": round(k * n * 2 / 1024**3, 2),
                     "fp32 copy GiB": round(k * n * 4 / 1024**3, 2),
                     "fp64 copy GiB": round(k * n * 8 / 1024**3, 2),
                     "peak GiB (PSS)": round(peak, 2), "seconds": round(wall, 1)})
        print(f"  {label}: {peak:.2f} GiB, {wall:.1f} s", flush=True)
    print(markdown(rows, list(rows[0])))
    return {"rows": rows}


def precision_section(args, work: Path) -> dict:
    from torsoseg.imageio import read_image, write_image

    plans = bench_plans(args.classes, args.patch, args.features, args.target_spacing, name="Dataset992_Prec")
    model = save_torsoseg_model(work / "results", plans, make_network(plans))
    cases = {}
    try:
        from torsoseg.phantom import generate_case

        ph = work / "prec_phantom"
        ph.mkdir(parents=True, exist_ok=True)
        image = generate_case("torso", 0, args.phantom_size).image
        write_image(image, ph / "phantom_torso_0000.nii.gz")
        cases[f"phantom torso ({args.phantom_size}, {'x'.join(map(str, image.shape))})"] = ph
    except Exception as e:  # the phantom belongs to another area; report and go on
        print(f"  phantom not available ({type(e).__name__}: {e})")
    cases["real DICOM series (512x512x20)"] = SHARED / "ts_dicom_ct"
    rows = []
    for name, path in cases.items():
        segs = {}
        for prec in ("fp32", "bf16", "auto"):
            out = work / "prec_out" / name.split()[0] / prec
            shutil.rmtree(out, ignore_errors=True)
            wall, peak, _ = run_measured([sys.executable, "-m", "torsoseg.cli.predict", "-i", str(path), "-o",
                                          str(out), "-m", str(model), "--device", "cpu", "--no-tta",
                                          "--precision", prec, "--no-progress"])
            segs[prec] = read_image(next(out.glob("*.nii.gz"))).array
            rows.append({"case": name, "precision": prec, "seconds": round(wall, 1),
                         "peak GiB": round(peak, 2)})
            print(f"  {name} {prec}: {wall:.1f} s", flush=True)
        for r in rows[-3:]:
            agree = float((segs[r["precision"]] == segs["fp32"]).mean())
            r["argmax agreement vs fp32"] = f"{100 * agree:.3f} %"
            r["speed-up vs fp32"] = round(rows[-3]["seconds"] / r["seconds"], 2)
    setup = (f"plans spacing {tuple(args.target_spacing)}, patch {plans.patch_size}, "
             f"features {plans.features}, "
             f"{plans.num_classes} classes, random weights (timing, not accuracy)")
    print(setup)
    print(markdown(rows, ["case", "precision", "seconds", "speed-up vs fp32", "argmax agreement vs fp32",
                          "peak GiB"]))
    return {"setup": setup, "rows": rows}


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sections", nargs="+", choices=SECTIONS + ("all",), help="what to run")
    p.add_argument("--nnunet-python", default=None, help="interpreter with nnunetv2 and monai")
    p.add_argument("--classes", type=int, default=21, help="output classes (default 21)")
    p.add_argument("--patch", type=int, nargs=3, default=(64, 64, 64), help="patch size")
    p.add_argument("--features", type=int, nargs="+", default=(32, 64, 128, 256), help="features per stage")
    p.add_argument("--sw-shape", type=int, nargs=3, default=(160, 160, 128), help="sliding-window volume")
    p.add_argument("--e2e-shape", type=int, nargs=3, default=(512, 512, 160),
                   help="end-to-end volume (nnU-Net's export holds all class scores at full resolution: "
                   "its peak grows with the volume, about 12 GiB at 512x512x400 with 21 classes)")
    p.add_argument("--mem-shape", type=int, nargs=3, default=(512, 512, 400), help="memory-section volume")
    p.add_argument("--e2e-spacing", type=float, nargs=3, default=(0.8, 0.8, 1.0), help="its spacing (mm)")
    p.add_argument("--e2e-input", default=None,
                   help="end-to-end: predict this .nii.gz instead of a synthetic volume (shape and spacing "
                   "are then the file's)")
    p.add_argument("--target-spacing", type=float, nargs=3, default=(2.0, 2.0, 2.5), help="plans spacing")
    p.add_argument("--e2e-precisions", nargs="+", default=("fp32", "bf16"), help="torsoseg precisions")
    p.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--phantom-size", default="small", choices=("tiny", "small", "full"),
                   help="precision: size of the phantom case (full = 512x512x235, slow on 2 cores)")
    p.add_argument("--channels-last", action="store_true",
                   help="sliding-window: also time torsoseg with a channels-last 3D network")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test of the script)")
    args = p.parse_args(argv)
    sections = SECTIONS if "all" in args.sections else tuple(dict.fromkeys(args.sections))

    needs_nn = {"sliding-window", "e2e"} & set(sections)
    args.bench_python = find_nnunet_python(args.nnunet_python, ("nnunetv2", "monai")) if needs_nn else None
    if needs_nn and args.bench_python is None:
        print(NOT_FOUND)
    if "sliding-window" in sections and args.bench_python and args.bench_python != sys.executable:
        # nnU-Net and MONAI must run in this very process: re-run the script under that interpreter
        env = dict(os.environ, TORSOSEG_BENCH_PYTHON=args.bench_python)
        return subprocess.call([args.bench_python, __file__, *(argv if argv is not None else sys.argv[1:])],
                               env=env)
    if args.quick:
        args.sw_shape, args.e2e_shape, args.mem_shape = (64, 64, 48), (160, 160, 80), (160, 160, 80)
        args.patch, args.features = (32, 32, 32), (8, 16)
        args.classes = 5
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_inference_"))
    results = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "python": sys.executable}
    try:
        for s in sections:
            print(f"== {s}", flush=True)
            if s == "sliding-window":
                results[s] = sliding_window_section(args)
            else:
                section = {"e2e": e2e_section, "memory": memory_section, "precision": precision_section}[s]
                results[s] = section(args, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
