"""``torsoseg_demo --cascade``: the paper's experiment with the two-stage cascade in place of one network.

Every training of the demo (pretraining on dataset 1, fine-tuning on dataset 2, the from-scratch control)
becomes two: the coarse stage (``3d_lowres``, the whole image at ``cascade_factor`` times the target
spacing) and the fine stage (``3d_cascade``, the full-resolution network trained on patches around the
organs). Fine-tuning works per stage: each stage of dataset 2 starts from the same stage of dataset 1.
Dataset 3 is predicted with ``-c 3d_cascade`` (coarse on the whole image, fine only in its candidate
region) by the fine-tuned and the from-scratch cascades, each with the postprocessing chosen on the held-out
VISCERAL cases, and evaluated as in the single-stage demo.

The demo's phantoms are small enough for one network at the ``cpu`` budget, so the planner's rule plans no
low-resolution stage; the demo forces one with the planner's ``lowres_factor`` (``--lowres-factor`` of
``torsoseg_plan_and_preprocess``). Each stage gets the epochs the single-stage run gives its one network:
the coarse stage's steps are cheap (a patch of a 2.5x coarser image): at the default steps a cascade
demo took as long as the single-stage one (10 to 14 min for both over 3 seeds on 2 bfloat16 cores;
about 1.3x at the earlier, half as long steps). The merge of the dataset-1 and fine-tuned models (single-stage
only) is left out.

The marker keys of the fine stages are the single-stage ones (``train_1``, ``finetune_2``, ``scratch_2``),
so the report links their curves and the predictions use the fine stages' folders (each a cascade with its
sibling ``3d_lowres`` folder).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torsoseg.cli import demo_merge
from torsoseg.cli.demo_steps import Demo, DemoConfig, say

Step = tuple[str, str, Callable[[], "dict | None"]]

__all__ = ["DEFAULT_FACTOR", "cascade_training_steps", "plan_and_preprocess_cascade"]

#: the coarse stage's spacing as a multiple of the fine stage's (``--cascade`` without a number)
DEFAULT_FACTOR = 2.5


def plan_and_preprocess_cascade(demo: Demo, dataset_id: int, factor: float,
                                plans_from: int | None = None) -> dict[str, Any]:
    """Plans dataset ``dataset_id`` with a cascade (forced at ``factor``, or copied from ``plans_from``)
    and preprocesses the caches of both stages (``3d_cascade`` reads the ``3d_fullres`` cache)."""
    from torsoseg.dataset import find_dataset
    from torsoseg.planning import plan_dataset
    from torsoseg.preprocessing import preprocess_dataset

    raw = find_dataset(demo.raw, dataset_id)
    kw: dict[str, Any] = {"plans_from": plans_from} if plans_from is not None else {"lowres_factor": factor}
    plans = plan_dataset(raw, demo.preprocessed, budget="cpu", workers=demo.workers, progress=demo.progress,
                         **kw)
    if plans.cascade is None:
        raise ValueError(f"{raw.name}: the plans hold no cascade ({plans.cascade_note})")
    fine_mm = tuple(round(s, 2) for s in plans.target_spacing)
    say(f"    plans: fine patch {tuple(plans.patch_size)} at {fine_mm} mm; "
        f"coarse patch {tuple(plans.cascade.patch_size)} at "
        f"{tuple(round(s, 2) for s in plans.cascade.target_spacing)} mm")
    for configuration in ("3d_fullres", "3d_lowres"):
        preprocess_dataset(raw, demo.preprocessed / raw.name, plans.for_configuration(configuration),
                           workers=demo.workers, progress=demo.progress)
    return {"patch_size": list(plans.patch_size), "target_spacing": list(plans.target_spacing),
            "lowres_patch_size": list(plans.cascade.patch_size),
            "lowres_spacing": list(plans.cascade.target_spacing), "cascade_note": plans.cascade_note}


def _stage_pair(demo: Demo, key: str, title: str, dataset_id: int, epochs: int,
                pretrained: int | None = None) -> list[Step]:
    """The coarse then the fine stage of one training (marker ``<key>_lowres``, then ``<key>``)."""
    return [
        (f"{key}_lowres", f"{title}: coarse stage 3d_lowres ({epochs} epochs)",
         lambda: demo.train(dataset_id, epochs, pretrained=pretrained, configuration="3d_lowres")),
        (key, f"{title}: fine stage 3d_cascade ({epochs} epochs)",
         lambda: demo.train(dataset_id, epochs, pretrained=pretrained, configuration="3d_cascade")),
    ]


def cascade_training_steps(demo: Demo, cfg: DemoConfig) -> list[Step]:
    """Steps 5 onwards of the demo with the cascade: plan, train both stages (pretrain, fine-tune, from
    scratch), predict dataset 3 with both cascades and evaluate them."""
    factor = float(cfg.cascade_factor or DEFAULT_FACTOR)
    return [
        ("plan_1", f"plan dataset 1 with a cascade (coarse stage at {factor:g}x the spacing) and preprocess "
         "both stages", lambda: plan_and_preprocess_cascade(demo, 1, factor)),
        *_stage_pair(demo, "train_1", "pretrain on dataset 1", 1, cfg.pretrain_epochs),
        ("plan_2", "plan dataset 2 with the plans (and cascade) of dataset 1 and preprocess both stages",
         lambda: plan_and_preprocess_cascade(demo, 2, factor, plans_from=1)),
        *_stage_pair(demo, "finetune_2", f"fine-tune on dataset 2 (preset {cfg.finetune_preset})", 2,
                     cfg.finetune_epochs, pretrained=1),
        *_stage_pair(demo, "scratch_2", "train dataset 2 from scratch, same budget", 2, cfg.finetune_epochs),
        ("postprocessing", "choose each dataset-2 cascade's postprocessing on the held-out VISCERAL cases "
         "(dataset 4)", lambda: demo_merge.choose_postprocessing(demo)),
        ("predict_finetuned", "predict dataset 3 with the fine-tuned cascade (-c 3d_cascade)",
         lambda: demo.predict("fine-tuned", demo.model_dir("finetune_2"))),
        ("predict_scratch", "predict dataset 3 with the from-scratch cascade (-c 3d_cascade)",
         lambda: demo.predict("scratch", demo.model_dir("scratch_2"))),
        ("evaluate_finetuned", "evaluate the fine-tuned cascade by organ name",
         lambda: demo.evaluate("fine-tuned")),
        ("evaluate_scratch", "evaluate the from-scratch cascade by organ name",
         lambda: demo.evaluate("scratch")),
    ]
