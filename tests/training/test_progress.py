"""Tests of torsoseg.training.progress."""

from __future__ import annotations

import csv

from torsoseg.training.progress import TrainingLog, format_epoch_line


def test_csv_png_and_line(tmp_path):
    log = TrainingLog(["liver", "spleen"])
    log.append(0, 1.5, 1.2, [0.5, float("nan")], 0.5, 0.01, 2.0)
    row = log.append(1, 1.0, 0.9, [0.7, 0.3], 0.52, 0.005, 2.5)
    assert row["mean_dice"] == 0.5
    log.write_csv(tmp_path / "training_log.csv")
    rows = list(csv.DictReader(open(tmp_path / "training_log.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert set(rows[0]) >= {"epoch", "train_loss", "val_loss", "lr", "seconds", "dice_liver", "dice_spleen"}
    assert float(rows[1]["dice_spleen"]) == 0.3
    assert log.plot(tmp_path / "progress.png").stat().st_size > 1000
    line = format_epoch_line(row, 10, ["liver", "spleen"])
    assert line.startswith("epoch 2/10") and "liver 0.70" in line and "left" not in line


def test_epoch_line_estimates_the_time_left():
    log = TrainingLog(["liver"])
    for e, sec in enumerate([100.0, 30.0, 32.0, 31.0]):  # a slow first epoch (start-up) barely counts
        row = log.append(e, 1.0, 1.0, [0.5], 0.5, 0.01, sec)
    assert log.remaining_seconds(25) == 21 * 31.5
    assert format_epoch_line(row, 25, ["liver"], log.remaining_seconds(25)).endswith("  ~11 min left")
    assert log.remaining_seconds(4) == 0 and TrainingLog(["liver"]).remaining_seconds(10) == 0
    assert format_epoch_line(row, 5, ["liver"], log.remaining_seconds(5)).endswith("  ~32 s left")
    assert format_epoch_line(row, 200, ["liver"], log.remaining_seconds(200)).endswith("  ~1 h 43 min left")


def test_truncate_for_resume_round_trip():
    log = TrainingLog(["liver"])
    for e in range(4):
        log.append(e, 1.0, 1.0, [0.1], 0.1, 0.01, 1.0)
    back = TrainingLog(["liver"], log.to_state())
    back.truncate(2)
    assert [r["epoch"] for r in back.rows] == [0, 1]
    assert TrainingLog([]).plot("unused.png") is None


def test_figure_has_title_and_a_curve_per_organ():
    import matplotlib.pyplot as plt

    log = TrainingLog(["liver", "kidney_left"])
    log.append(0, 1.5, 1.2, [0.5, 0.1], 0.3, 0.01, 2.0)
    log.append(1, 1.0, 0.9, [0.7, 0.4], 0.4, 0.005, 2.5)
    fig = log.figure("Dataset002_VISCERAL  Trainer_cpu  fold all")
    try:
        assert fig._suptitle.get_text() == "Dataset002_VISCERAL  Trainer_cpu  fold all"
        per_organ = next(a for a in fig.axes if a.get_ylabel() == "pseudo Dice per organ")
        curves = {line.get_label(): list(line.get_ydata()) for line in per_organ.get_lines()}
        assert curves == {"liver": [0.5, 0.7], "kidney_left": [0.1, 0.4]}
    finally:
        plt.close(fig)
