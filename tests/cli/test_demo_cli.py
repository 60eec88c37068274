"""``torsoseg_demo``: settings, step markers (resume), refusal of mixed settings, the report.

The demo's real run (phantom -> ... -> evaluation) is exercised by ``tests/test_end_to_end.py`` and by
``make demo``; these tests cover its bookkeeping without training anything.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.evaluation.test_evaluate import make_folders
from torsoseg.cli.demo import PRESETS, Demo, DemoError, build_parser, config_from_args, main, write_report
from torsoseg.evaluation import evaluate_folders


def test_presets_and_overrides():
    args = build_parser().parse_args(["--quick", "--cases-2", "5", "--epochs", "3"])
    cfg = config_from_args(args)
    assert cfg.cases_1 == PRESETS["quick"].cases_1 and cfg.cases_2 == 5
    assert cfg.pretrain_epochs == cfg.finetune_epochs == 3
    cfg2 = config_from_args(build_parser().parse_args(["--epochs", "3", "--finetune-epochs", "7"]))
    assert (cfg2.pretrain_epochs, cfg2.finetune_epochs) == (3, 7)
    assert config_from_args(build_parser().parse_args([])) == PRESETS["full"]


def test_bad_settings_exit_two(capsys):
    assert main(["--cases-2", "1", "--out", "unused"]) == 2
    assert "cases_2 must be >= 2" in capsys.readouterr().err
    assert main(["--epochs", "0", "--out", "unused"]) == 2
    assert "pretrain_epochs must be >= 1" in capsys.readouterr().err


def test_steps_are_skipped_on_rerun(tmp_path, capsys):
    demo = Demo(tmp_path, PRESETS["quick"], progress=False)
    calls = []
    info = demo.run_step(1, 2, "thing", "do a thing", lambda: calls.append(1) or {"answer": 42})
    assert info["answer"] == 42 and calls == [1]
    assert json.loads((tmp_path / "steps" / "thing.json").read_text())["answer"] == 42
    again = Demo(tmp_path, PRESETS["quick"], progress=False)
    assert again.run_step(1, 2, "thing", "do a thing", lambda: calls.append(2))["answer"] == 42
    assert calls == [1]
    out = capsys.readouterr().out
    assert "[1/2] do a thing" in out and "done in an earlier run" in out


def test_failed_step_names_itself_and_leaves_no_marker(tmp_path):
    demo = Demo(tmp_path, PRESETS["quick"], progress=False)

    def boom():
        raise ValueError("bad plans")

    with pytest.raises(DemoError, match=r"step 'plan_1' \(plan\) failed: ValueError: bad plans"):
        demo.run_step(3, 9, "plan_1", "plan", boom)
    assert not (tmp_path / "steps" / "plan_1.json").exists()


def test_rerun_with_other_settings_is_refused(tmp_path):
    Demo(tmp_path, PRESETS["quick"]).check_config()
    Demo(tmp_path, PRESETS["quick"]).check_config()  # same settings: fine
    with pytest.raises(DemoError, match="other settings.*cases_1: 4 -> 10"):
        Demo(tmp_path, PRESETS["full"]).check_config()


def test_a_run_made_by_another_phantom_generator_is_not_reused(tmp_path):
    import json

    Demo(tmp_path, PRESETS["quick"]).check_config()
    record = json.loads((tmp_path / "demo.json").read_text())
    assert len(record["phantom_generator"]) == 16
    record["phantom_generator"] = "0123456789abcdef"  # made by an older torsoseg
    (tmp_path / "demo.json").write_text(json.dumps(record))
    with pytest.raises(DemoError, match="another version of the phantom generator.*'0123456789abcdef'"):
        Demo(tmp_path, PRESETS["quick"]).check_config()
    del record["phantom_generator"]  # a folder from before the generator was recorded
    (tmp_path / "demo.json").write_text(json.dumps(record))
    with pytest.raises(DemoError, match="another version of the phantom generator"):
        Demo(tmp_path, PRESETS["quick"]).check_config()


def test_report_puts_models_side_by_side(tmp_path):
    raw, pred = make_folders(tmp_path)  # tmp/raw/Dataset003_Torso: the demo's dataset 3
    demo = Demo(tmp_path, PRESETS["quick"], progress=False)
    res = evaluate_folders(raw, pred)
    for model in ("fine-tuned", "scratch"):
        shutil.copytree(pred, demo.predictions / model)
        res.save(demo.evaluation / f"{model}.json")
    demo.timings = {"train_1": 12.0}
    path, printable = write_report(demo, started=0.0)
    text = path.read_text()
    assert "| organ | fine-tuned | scratch | Roth et al. 2017 (real CT) |" in printable
    assert "| liver | 1.000 ± 0.000 | 1.000 ± 0.000 | 0.95 |" in printable
    assert "Table 1 analogue, scratch model" in printable
    # the kidney is missed in both cases: each model's table is followed by the cases with and without it
    assert printable.count("| kidney_right | 2 | 0.000 | 2 | 0 | 0 | n/a |") == 2
    assert text.count("The organs some case lacks or some case missed") == 2
    assert "## Table 1: fine-tuned model, Dice per case" in text and "| train_1 | 12 | 0 |" in text
    # one comparison figure per test case (reference and both models), linked from the report
    assert (tmp_path / "previews" / "case_000.png").stat().st_size > 1000
    assert "![case_000](previews/case_000.png)" in text


def test_report_links_the_training_curves(tmp_path):
    from torsoseg.cli.demo_report import training_curves
    from torsoseg.fileio import atomic_write_json

    demo = Demo(tmp_path, PRESETS["quick"], progress=False)
    rel = "results/Dataset002_VISCERAL/Trainer_cpu__torsoseg_plans__3d_fullres/fold_all"
    fold = tmp_path / rel
    fold.mkdir(parents=True)
    (fold / "progress.png").write_bytes(b"png")
    atomic_write_json(demo.steps / "scratch_2.json", {"model_dir": str(fold.parent)})
    atomic_write_json(demo.steps / "finetune_2.json", {"model_dir": str(tmp_path / "missing")})
    assert training_curves(demo) == [
        f"- from scratch: [curves]({rel}/progress.png), [log with every organ]({rel}/training_log.csv)"
    ]


def test_report_names_the_organs_only_the_merge_provides(tmp_path):
    from torsoseg.cli.demo_report import merged_organs_note
    from torsoseg.fileio import atomic_write_json

    demo = Demo(tmp_path, PRESETS["quick"], progress=False)
    assert merged_organs_note(demo) == ""
    atomic_write_json(
        demo.steps / "predict_merged.json",
        {"only_abdomen": ["portal_vein", "stomach"], "only_visceral": ["lung_right", "kidney_left"]},
    )
    note = merged_organs_note(demo)
    assert "(from the abdomen model): portal_vein, stomach;" in note
    assert "(from the fine-tuned model): lung_right, kidney_left." in note
    atomic_write_json(
        demo.steps / "predict_merged.json",
        {"only_abdomen": ["stomach"], "only_visceral": [],
         "organ_weights": {"liver": [0.0, 1.0], "spleen": [1.0, 1.0]}},
    )
    note = merged_organs_note(demo)
    assert "held-out VISCERAL cases (dataset 4, never the test set): liver fine-tuned, spleen both." in note


def test_report_names_each_models_postprocessing(tmp_path):
    from torsoseg.cli.demo_report import postprocessing_note
    from torsoseg.fileio import atomic_write_json

    demo = Demo(tmp_path, PRESETS["quick"], progress=False)
    assert postprocessing_note(demo) == ""
    atomic_write_json(demo.steps / "postprocessing.json",
                      {"keep_largest_component": {"fine-tuned": ["liver", "kidney_left"], "scratch": []}})
    note = postprocessing_note(demo)
    assert "held-out VISCERAL cases (dataset 4, never the test set)" in note
    assert note.endswith("fine-tuned: liver, kidney_left; scratch: no organ.")


def test_held_out_cases_setting():
    """The held-out VISCERAL phantoms (dataset 4) are drawn like dataset 2; their count is a setting."""
    cfg = PRESETS["full"]
    assert cfg.cases_val >= 1 and cfg.size_of("visceral_val") == cfg.finetune_size
    assert config_from_args(build_parser().parse_args(["--cases-val", "3"])).cases_val == 3
    with pytest.raises(ValueError, match="cases_val must be >= 1"):
        config_from_args(build_parser().parse_args(["--cases-val", "0"]))


def test_the_cascade_flag_replaces_each_training_by_its_two_stages(tmp_path, capsys):
    from torsoseg.cli.demo_cascade import DEFAULT_FACTOR, cascade_training_steps

    cfg = config_from_args(build_parser().parse_args(["--quick", "--cascade"]))
    assert cfg.cascade_factor == DEFAULT_FACTOR and cfg.cases_1 == PRESETS["quick"].cases_1
    assert config_from_args(build_parser().parse_args(["--cascade", "3"])).cascade_factor == 3.0
    assert config_from_args(build_parser().parse_args([])).cascade_factor is None
    assert main(["--cascade", "1", "--out", "unused"]) == 2
    assert "--cascade F needs F > 1" in capsys.readouterr().err
    keys = [k for k, _, _ in cascade_training_steps(Demo(tmp_path, cfg, progress=False), cfg)]
    assert keys == ["plan_1", "train_1_lowres", "train_1", "plan_2", "finetune_2_lowres", "finetune_2",
                    "scratch_2_lowres", "scratch_2", "postprocessing", "predict_finetuned", "predict_scratch",
                    "evaluate_finetuned", "evaluate_scratch"]


@pytest.mark.slow
def test_a_tiny_cascade_demo_runs_end_to_end(tmp_path, one_torch_thread):
    """The whole --cascade demo at the smallest settings (2 training steps per stage): it must run, not
    learn; a rerun skips every step."""
    from torsoseg.plans import Plans

    out = tmp_path / "demo"
    argv = ["--cascade", "--out", str(out), "--cases-1", "2", "--cases-2", "2", "--cases-3", "1",
            "--finetune-size", "tiny", "--test-size", "tiny", "--epochs", "1", "--iterations", "2",
            "--workers", "1", "--no-progress", "--device", "cpu", "--precision", "fp32"]
    assert main(argv) == 0
    plans = Plans.load(out / "preprocessed" / "Dataset001_Abdomen" / "plans.json")
    assert plans.cascade is not None and plans.cascade_note.startswith("cascade forced (lowres_factor 2.5)")
    for trainer in ("FineTuneTrainer", "Trainer"):
        for stage in ("3d_lowres", "3d_cascade"):
            assert list((out / "results" / "Dataset002_VISCERAL").glob(f"{trainer}_*__{stage}/fold_all/"
                                                                        "checkpoint_final.pt"))
    for trainer in ("FineTuneTrainer", "Trainer"):  # each fine stage's postprocessing, chosen on dataset 4
        (fine,) = (out / "results" / "Dataset002_VISCERAL").glob(f"{trainer}_*__3d_cascade")
        assert "Dataset004_VISCERALval" in json.loads((fine / "postprocessing.json").read_text())["chosen_on"]
    for model in ("fine-tuned", "scratch"):
        assert len(list((out / "predictions" / model).glob("*.nii.gz"))) == 1
        assert len(list((out / "predictions" / f"val_{model}").glob("*.nii.gz"))) >= 1
        assert (out / "evaluation" / f"{model}.json").is_file()
    assert (out / "report.md").is_file() and not (out / "steps" / "predict_merged.json").exists()
    assert main(argv) == 0  # everything done: skipped


def test_the_postprocessing_is_chosen_on_held_out_cases_before_the_test_set_is_predicted(tmp_path):
    from torsoseg.cli.demo import demo_steps

    for flags in (["--quick"], ["--quick", "--cascade"]):
        cfg = config_from_args(build_parser().parse_args(flags))
        keys = [k for k, _, _ in demo_steps(Demo(tmp_path, cfg, progress=False), cfg)]
        assert keys.index("convert_4") < keys.index("postprocessing") < keys.index("predict_finetuned")
        assert keys.index("scratch_2") < keys.index("postprocessing") < keys.index("predict_scratch")


@pytest.mark.parametrize("tta", [False, True])
def test_held_out_predictions_use_the_test_sets_test_time_augmentation(tmp_path, monkeypatch, tta):
    """The postprocessing and the merge weights are chosen on dataset 4; with ``--tta`` the test set is
    predicted with mirroring, so dataset 4 must be too, or the choice is made on other predictions."""
    import types

    import torsoseg.cli.evaluate
    import torsoseg.dataset
    import torsoseg.evaluation
    import torsoseg.inference
    import torsoseg.inference.batch
    import torsoseg.inference.merge_weights
    from torsoseg.cli import demo_merge

    seen = []

    def from_model_dir(model_dir, **kw):
        seen.append(kw.get("tta"))
        return object()

    summary = types.SimpleNamespace(summary=lambda metric: {}, save=lambda path: path)
    monkeypatch.setattr(torsoseg.inference.Predictor, "from_model_dir", staticmethod(from_model_dir))
    monkeypatch.setattr(torsoseg.dataset, "find_dataset", lambda root, i: tmp_path)
    monkeypatch.setattr(torsoseg.inference.batch, "find_cases", lambda folder: [])
    monkeypatch.setattr(torsoseg.inference.batch, "predict_cases",
                        lambda *a, **k: types.SimpleNamespace(failed={}))
    monkeypatch.setattr(torsoseg.cli.evaluate, "choose_postprocessing",
                        lambda *a, **k: types.SimpleNamespace(keep_largest=()))
    monkeypatch.setattr(torsoseg.evaluation, "evaluate_folders", lambda *a, **k: summary)
    monkeypatch.setattr(torsoseg.inference.merge_weights, "organ_weights_from_scores", lambda scores: {})
    args = ["--quick"] + (["--tta"] if tta else [])
    demo = Demo(tmp_path, config_from_args(build_parser().parse_args(args)), progress=False)
    monkeypatch.setattr(Demo, "model_dir", lambda self, key: tmp_path / key)
    demo_merge.choose_postprocessing(demo)
    demo_merge.choose_merge_weights(demo)
    assert seen == [tta] * 4
