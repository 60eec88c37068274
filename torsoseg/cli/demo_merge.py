"""The demo's steps that use the held-out VISCERAL cases (dataset 4, see :mod:`torsoseg.cli.demo`): each
dataset-2 model's postprocessing, and the per-organ weights of the merge, both chosen there and never on
the test set; then dataset 3 predicted with the dataset-1 and fine-tuned models merged by organ name."""

from __future__ import annotations

from torsoseg.cli.demo_steps import Demo, DemoError, say


def choose_postprocessing(demo: Demo, models: tuple[tuple[str, str], ...] = (
        ("finetune_2", "fine-tuned"), ("scratch_2", "scratch"))) -> dict:
    """Predicts the held-out VISCERAL cases (dataset 4) with each dataset-2 model as the network gives them
    (with the test-time augmentation the test set gets, so the choice is made on predictions made alike)
    and writes the model's postprocessing (the organs where keeping the largest connected component
    does not lower the held-out Dice; :func:`torsoseg.cli.evaluate.choose_postprocessing`) into its
    folder, so that its predictions of dataset 3 apply it."""
    from torsoseg.cli.evaluate import choose_postprocessing as choose
    from torsoseg.dataset import find_dataset
    from torsoseg.inference import Predictor
    from torsoseg.inference.batch import find_cases, predict_cases

    raw4 = find_dataset(demo.raw, 4)
    cases = find_cases(raw4 / "imagesTr")
    chosen = {}
    for key, model in models:
        predictor = Predictor.from_model_dir(demo.model_dir(key), folds="all", device=demo.device,
                                             precision=demo.precision or "auto", postprocessing=False,
                                             tta=demo.config.tta)
        out = demo.predictions / f"val_{model}"
        report = predict_cases(predictor, cases, out, resume=True, progress=demo.progress)
        if report.failed:
            raise DemoError(f"prediction of dataset 4 with {demo.model_dir(key)} failed: {report.failed}")
        pp = choose(raw4, out, demo.model_dir(key), workers=demo.workers, progress=False)
        say(f"    {model}: keep the largest component of {', '.join(pp.keep_largest) or 'no organ'}")
        chosen[model] = list(pp.keep_largest)
    return {"keep_largest_component": chosen, "cases": len(cases)}


def choose_merge_weights(demo: Demo) -> dict:
    """Predicts the held-out VISCERAL cases (dataset 4) with the dataset-1 and the fine-tuned model,
    evaluates both by organ name and picks the merge's per-organ weights from those scores
    (:func:`~torsoseg.inference.merge_weights.organ_weights_from_scores`): never from the test set."""
    from torsoseg.dataset import find_dataset
    from torsoseg.evaluation import evaluate_folders
    from torsoseg.inference import Predictor
    from torsoseg.inference.batch import find_cases, predict_cases
    from torsoseg.inference.merge_weights import organ_weights_from_scores

    raw4 = find_dataset(demo.raw, 4)
    cases = find_cases(raw4 / "imagesTr")
    scores = []
    for key, name in (("train_1", "val_abdomen"), ("finetune_2", "val_fine-tuned")):
        predictor = Predictor.from_model_dir(demo.model_dir(key), folds="all", device=demo.device,
                                             precision=demo.precision or "auto", postprocessing=False,
                                             tta=demo.config.tta)
        report = predict_cases(predictor, cases, demo.predictions / name, resume=True,
                               progress=demo.progress)
        if report.failed:
            raise DemoError(f"prediction of dataset 4 with {demo.model_dir(key)} failed: {report.failed}")
        res = evaluate_folders(raw4, demo.predictions / name, workers=demo.workers, progress=False)
        res.save(demo.evaluation / f"{name}.json")
        scores.append({organ: st.avg for organ, st in res.summary("dice").items()})
    weights = organ_weights_from_scores(scores)
    for organ, w in weights.items():
        say(f"    {organ}: held-out Dice abdomen {scores[0][organ]:.3f}, fine-tuned "
            f"{scores[1][organ]:.3f} -> weights {w}")
    return {"organ_weights": weights, "scores": scores, "cases": len(cases)}


def predict_merged(demo: Demo) -> dict:
    """Predicts dataset 3 with the pretrained (dataset-1) and the fine-tuned model merged by organ name.

    Returns the step info with ``only_abdomen`` / ``only_visceral``: the organs that only one of the
    two models provides (what the merge adds to each).
    """
    from torsoseg.dataset import find_dataset
    from torsoseg.fileio import read_json
    from torsoseg.inference import MultiModelPredictor
    from torsoseg.inference.batch import find_cases, predict_cases

    raw3 = find_dataset(demo.raw, 3)
    marker = demo.steps / "merge_weights.json"
    organ_weights = read_json(marker).get("organ_weights") if marker.is_file() else None
    merged = MultiModelPredictor.from_model_dirs(
        [demo.model_dir("train_1"), demo.model_dir("finetune_2")],
        organ_weights=organ_weights,
        folds="all",
        device=demo.device,
        precision=demo.precision or "auto",
        tta=demo.config.tta,
    )
    cases = find_cases(raw3 / "imagesTr")
    out = demo.predictions / "merged"
    report = predict_cases(merged, cases, out, preview=True, resume=True, progress=demo.progress)
    if report.failed:
        raise DemoError(f"merged prediction failed for {report.failed}")
    plan = merged.merge_plan
    return {
        "folder": str(out),
        "cases": len(cases),
        "only_abdomen": plan.only_in(0),
        "only_visceral": plan.only_in(1),
        "shared": plan.shared(),
        "organ_weights": organ_weights or {},
    }
