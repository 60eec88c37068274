"""The report of ``torsoseg_demo``: Table 1 per model, the models side by side, previews, timings."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

from torsoseg.cli.demo_steps import MODELS, Demo, say
from torsoseg.fileio import atomic_path

if TYPE_CHECKING:
    from torsoseg.evaluation import EvaluationResult


def _machine() -> str:
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.machine()} {platform.processor() or ''}".strip()
        + f", {cores} cores, torch {torch.__version__}"
    )


def comparison_png(demo: Demo, case: str, models: list[str], path: Path) -> Path | None:
    """One figure: axial and coronal slices of ``case`` with the reference and each model's labels.

    Colours follow organ names (the same organ has the same colour in every row, whatever its label
    value in that model). Returns ``None`` when the case's files are missing.
    """

    import numpy as np
    from matplotlib.figure import Figure

    from torsoseg import imageio, organs
    from torsoseg.dataset import DatasetJson, find_dataset
    from torsoseg.evaluation import load_label_set
    from torsoseg.inference.preview import label_colors, slice_indices

    raw3 = find_dataset(demo.raw, 3)
    image_file = raw3 / "imagesTr" / f"{case}_0000.nii.gz"
    rows = [("reference", raw3 / "labelsTr" / f"{case}.nii.gz", DatasetJson.load(raw3).labels)]
    for m in models:
        folder = demo.predictions / m
        rows.append((m, folder / f"{case}.nii.gz", load_label_set(folder / "labels.json")))
    if not image_file.is_file() or not all(f.is_file() for _, f, _ in rows):
        return None
    names = [n for _, _, labels in rows for n in labels if n != "background"]
    order = list(dict.fromkeys(organs.key(n) for n in names))
    colors = label_colors(len(order) + 1)
    image, _ = imageio.reorient_to_canonical(imageio.read_image(image_file))
    arr = image.array.astype(np.float32)
    sx, sy, sz = image.spacing
    panels = []
    for title, f, labels in rows:
        lab, _ = imageio.reorient_to_canonical(imageio.read_image(f))
        lut = np.zeros(max(labels.values()) + 1, np.int64)
        for n, v in labels.items():
            if n != "background":
                lut[v] = order.index(organs.key(n)) + 1
        panels.append((title, lut[np.clip(lab.array.astype(np.int64), 0, len(lut) - 1)]))
    ix, iy, iz = slice_indices(panels[0][1])
    fig = Figure(figsize=(7, 3.2 * len(panels)))
    axes = fig.subplots(len(panels), 2, squeeze=False)
    for r, (title, lab) in enumerate(panels):
        views = [
            (arr[:, :, iz].T, lab[:, :, iz].T, sy / sx, "upper"),
            (arr[:, iy, :].T, lab[:, iy, :].T, sz / sx, "lower"),
        ]
        for c, (im, lb, aspect, origin) in enumerate(views):
            ax = axes[r][c]
            ax.imshow(
                im, cmap="gray", vmin=-400, vmax=600, aspect=aspect, origin=origin, interpolation="nearest"
            )
            ax.imshow(colors[lb], alpha=0.45, aspect=aspect, origin=origin, interpolation="nearest")
            ax.set_title(f"{title} ({'axial' if c == 0 else 'coronal'})", fontsize=9)
            ax.axis("off")
    from matplotlib.patches import Patch

    present = sorted(set(np.unique(panels[0][1]).tolist()) - {0})
    handles = [Patch(color=colors[v], label=order[v - 1]) for v in present]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"{case}: reference and predictions")
    fig.tight_layout(rect=(0, 0.05 if handles else 0, 1, 1))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=80)
    return path


def merged_organs_note(demo: Demo) -> str:
    """One paragraph: what the merged model adds over each single model (from the merge step's marker)."""
    from torsoseg.fileio import read_json

    marker = demo.steps / "predict_merged.json"
    if not marker.is_file():
        return ""
    info = read_json(marker)
    abd, vis = info.get("only_abdomen", []), info.get("only_visceral", [])
    note = (
        "The merged column combines the dataset-1 (abdomen) model and the fine-tuned model by organ name "
        "into one label map. Organs only the merge provides beside the fine-tuned model (from the abdomen "
        f"model): {', '.join(abd) or 'none'}; beside the abdomen model (from the fine-tuned model): "
        f"{', '.join(vis) or 'none'}. Organs the test set does not annotate are in the label map but not "
        "scored."
    )
    weights = info.get("organ_weights") or {}
    if weights:
        names = ("abdomen", "fine-tuned")
        parts = [f"{organ} " + ("both" if all(w > 0 for w in ws) else
                                " + ".join(n for n, w in zip(names, ws) if w > 0))
                 for organ, ws in weights.items()]
        note += (" Organs both models know are taken from the models within 0.02 Dice of the best one on "
                 "the held-out VISCERAL cases (dataset 4, never the test set): " + ", ".join(parts) + ".")
    return note


def postprocessing_note(demo: Demo) -> str:
    """One paragraph: each dataset-2 model's postprocessing (from the postprocessing step's marker)."""
    from torsoseg.fileio import read_json

    marker = demo.steps / "postprocessing.json"
    if not marker.is_file():
        return ""
    chosen = read_json(marker).get("keep_largest_component") or {}
    parts = [f"{model}: {', '.join(organs) or 'no organ'}" for model, organs in chosen.items()]
    return ("Postprocessing, chosen per model on the held-out VISCERAL cases (dataset 4, never the test "
            "set): these organs keep only their largest connected component. " + "; ".join(parts) + ".")


def training_curves(demo: Demo) -> list[str]:
    """Markdown links to each training's ``progress.png`` and ``training_log.csv`` (per-organ Dice)."""
    from torsoseg.fileio import read_json

    out = []
    runs = (("train_1", "pretraining"), ("finetune_2", "fine-tuning"), ("scratch_2", "from scratch"))
    for key, title in runs:
        marker = demo.steps / f"{key}.json"
        folder = Path(read_json(marker).get("model_dir") or "") / "fold_all" if marker.is_file() else None
        if folder is None or not (folder / "progress.png").is_file():
            continue
        rel = (folder.relative_to(demo.out) if folder.is_relative_to(demo.out) else folder).as_posix()
        out.append(f"- {title}: [curves]({rel}/progress.png), [log with every organ]({rel}/training_log.csv)")
    return out


def write_report(demo: Demo, started: float) -> tuple[Path, str]:
    """Builds ``report.md`` from the saved evaluations; returns its path and the printable part."""
    from torsoseg.fileio import atomic_write_text

    results = _load_results(demo)
    main_models = [m for m in ("fine-tuned", "scratch") if m in results]
    compared = [m for m in MODELS if m in results]  # + the pretrained model where it was evaluated
    organs = _report_organs(results)
    lines = _dice_section(demo, results, compared, organs)
    for note in (merged_organs_note(demo), postprocessing_note(demo)):
        if note:
            lines += [note, ""]
    printable = "\n".join(lines[4:])
    for m in main_models:
        printable += f"\nTable 1 analogue, {m} model (Dice per test case):\n\n" + results[m].table("dice")
        printable += _presence_part(results[m])
    lines += _distance_section(results, compared, organs)
    for m, res in results.items():
        lines += [f"## Table 1: {m} model, Dice per case", "", res.table("dice") + _presence_part(res)]
        notes = res.report()
        if notes:
            lines += ["```", notes, "```", ""]
    lines += _previews_section(demo, results, main_models)
    curves = training_curves(demo)
    if curves:
        lines += ["## Training curves", "", *curves, ""]
    lines += _timings_section(demo, started)
    path = atomic_write_text(demo.out / "report.md", "\n".join(lines))
    return path, printable


def _presence_part(result: EvaluationResult) -> str:
    """The organs some test case lacks (or some case missed), split into the cases with and without
    them; "" when every case has every organ and none was missed."""
    table = result.presence_table()
    if not table:
        return ""
    return ("\nThe organs some case lacks or some case missed (a false one in a case without the organ "
            "scores 0 above):\n\n" + table)


def _load_results(demo: Demo) -> dict[str, EvaluationResult]:
    """The saved evaluation of each model that has one, in the order of :data:`MODELS`."""
    from torsoseg.evaluation import EvaluationResult

    return {
        m: EvaluationResult.load(demo.evaluation / f"{m}.json")
        for m in MODELS
        if (demo.evaluation / f"{m}.json").is_file()
    }


def _report_organs(results: dict[str, EvaluationResult]) -> list[str]:
    """The organs of the tables: the paper's Table 1 order first, then any other evaluated organ."""
    from torsoseg.evaluation import ROTH2017_TABLE1_DICE

    organs = [o for o in ROTH2017_TABLE1_DICE if any(o in results[m].organs for m in results)]
    organs += [o for m in results for o in results[m].organs if o not in organs]
    return organs


def _dice_section(
    demo: Demo, results: dict[str, EvaluationResult], compared: list[str], organs: list[str]
) -> list[str]:
    """The title, what the run did, and the models' Dice side by side with the paper's."""
    from torsoseg.evaluation import ROTH2017_TABLE1_DICE, comparison_table

    cfg = demo.config
    return [
        "# torsoseg demo: Roth et al. 2017 on the phantom",
        "",
        f"Pretrain on {cfg.cases_1} abdomen phantoms (dataset 1, 7 labels), fine-tune on "
        f"{cfg.cases_2} VISCERAL phantoms (dataset 2, 20 labels), test on {cfg.cases_3} unseen torso "
        "phantoms (dataset 3, 8 labels), "
        "organs matched by name. The control trains dataset 2 from scratch with the same budget "
        f"({cfg.finetune_epochs} epochs x {cfg.iterations_per_epoch} iterations)."
        + (
            " The pretrained column is the dataset-1 model alone: it knows only the abdominal organs "
            "(n/a = organ not in its label set)."
            if "pretrained" in results
            else ""
        ),
        "",
        "## Dice per organ, side by side (avg ± std over the test cases)",
        "",
        comparison_table(
            {m: results[m].summary("dice") for m in compared},
            organs,
            reference=ROTH2017_TABLE1_DICE,
            reference_name="Roth et al. 2017 (real CT)",
        ),
    ]


def _distance_section(
    results: dict[str, EvaluationResult], compared: list[str], organs: list[str]
) -> list[str]:
    """HD95 and surface Dice side by side, after a word on the published column."""
    from torsoseg.evaluation import comparison_table

    tolerance = next(iter(results.values())).tolerance_mm if results else float("nan")
    return [
        "The published column is the paper's Table 1 on real CT, for orientation only: the phantom is "
        "easier in some respects and harder in others, and this run trains for minutes instead of days.",
        "",
        "## HD95 and surface Dice side by side",
        "",
        "HD95 in mm (a missed organ counts as the image diagonal):",
        "",
        comparison_table({m: results[m].summary("hd95") for m in compared}, organs, digits=1),
        f"Surface Dice at {tolerance:g} mm:",
        "",
        comparison_table({m: results[m].summary("surface_dice") for m in compared}, organs),
    ]


def _previews_section(demo: Demo, results: dict[str, EvaluationResult], main_models: list[str]) -> list[str]:
    """Comparison figures of the first two test cases and one preview per main model (none: no section)."""
    previews = []
    cases = [c.case for c in results[main_models[0]].cases] if main_models else []
    for case in cases[:2]:
        try:
            png = comparison_png(demo, case, main_models, demo.out / "previews" / f"{case}.png")
        except (OSError, ValueError) as e:  # a preview must not cost the report
            say(f"    preview of {case} skipped: {e}")
            png = None
        if png is not None:
            previews.append(f"![{case}]({png.relative_to(demo.out).as_posix()})")
    for m in main_models:
        for png in sorted((demo.predictions / m).glob("*.png"))[:1]:
            previews.append(f"![{m} {png.stem}]({png.relative_to(demo.out).as_posix()})")
    if not previews:
        return []
    return [
        "## Previews",
        "",
        "Same colour = same organ (matched by name) in every row.",
        "",
        *previews,
        "",
    ]


def _timings_section(demo: Demo, started: float) -> list[str]:
    """Wall and CPU seconds of every step, their sums, this run's wall time and the machine."""
    total = sum(demo.timings.values())
    cpu_total = sum(demo.cpu_timings.values())
    lines = ["## Steps and wall time", "", "| step | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| {k} | {v:.0f} | {demo.cpu_timings.get(k, 0.0):.0f} |" for k, v in demo.timings.items()]
    lines += [
        f"| **total (sum of steps)** | {total:.0f} | {cpu_total:.0f} |",
        "",
        f"This run: {time.perf_counter() - started:.0f} s of wall time; machine: {_machine()}.",
        "",
    ]
    return lines
