"""The training log: one row per epoch, written as CSV, drawn as a PNG, printed as one line."""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torsoseg.fileio import atomic_write_text

BASE_COLUMNS = ("epoch", "train_loss", "val_loss", "mean_dice", "ema_dice", "lr", "seconds")


class TrainingLog:
    """Per-epoch records ``{epoch, train_loss, val_loss, mean_dice, ema_dice, lr, seconds, dice_<organ>...}``.

    Args:
        organs: foreground label names in value order (columns ``dice_<organ>``).
        rows: previous rows (resume).
    """

    def __init__(self, organs: Sequence[str], rows: Sequence[dict[str, Any]] | None = None):
        self.organs = list(organs)
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows or []]

    @property
    def columns(self) -> list[str]:
        return [*BASE_COLUMNS, *(f"dice_{o}" for o in self.organs)]

    def append(
        self,
        epoch: int,
        train_loss: float,
        val_loss: float,
        dice: Sequence[float],
        ema: float,
        lr: float,
        seconds: float,
    ) -> dict[str, Any]:
        finite = [d for d in dice if d == d]
        row = {
            "epoch": int(epoch),
            "train_loss": float(train_loss),
            "val_loss": float(val_loss),
            "mean_dice": float(sum(finite) / len(finite)) if finite else float("nan"),
            "ema_dice": float(ema),
            "lr": float(lr),
            "seconds": float(seconds),
        }
        for o, d in zip(self.organs, dice):
            row[f"dice_{o}"] = float(d)
        self.rows.append(row)
        return row

    def truncate(self, epochs: int) -> None:
        """Keeps the rows of the first ``epochs`` epochs (resume after a kill)."""
        self.rows = [r for r in self.rows if r["epoch"] < epochs]

    def to_state(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def remaining_seconds(self, num_epochs: int, window: int = 5) -> float:
        """Estimated time left: the median duration of the last ``window`` epochs times the epochs to go.

        Resumed runs count only epochs this log holds; 0 when the last epoch is done or nothing is logged.
        """
        if not self.rows:
            return 0.0
        per_epoch = statistics.median(float(r["seconds"]) for r in self.rows[-window:])
        return per_epoch * max(0, num_epochs - int(self.rows[-1]["epoch"]) - 1)

    def write_csv(self, path: str | os.PathLike) -> Path:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        return atomic_write_text(path, buf.getvalue())

    def plot(self, path: str | os.PathLike, title: str | None = None) -> Path | None:
        """Writes :meth:`figure` to ``path`` (PNG, atomically); ``None`` without rows."""
        if not self.rows:
            return None
        import matplotlib.pyplot as plt

        fig = self.figure(title)
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp.png")
        fig.savefig(tmp, dpi=80)
        plt.close(fig)
        os.replace(tmp, p)
        return p

    def figure(self, title: str | None = None) -> Any:
        """Loss curves and mean pseudo Dice, the pseudo Dice of every organ, and the learning rate per
        epoch, under ``title`` (a matplotlib figure; the caller closes it)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ep = [r["epoch"] for r in self.rows]
        fig, (ax, ax_org, ax_lr) = plt.subplots(
            3, 1, figsize=(9, 10), sharex=True, gridspec_kw={"height_ratios": [3, 3, 1]}
        )
        if title:
            fig.suptitle(title)
        ax.plot(ep, [r["train_loss"] for r in self.rows], color="tab:blue", label="train loss")
        ax.plot(ep, [r["val_loss"] for r in self.rows], color="tab:red", label="val loss")
        ax.set_ylabel("loss")
        ax2 = ax.twinx()
        ax2.plot(ep, [r["mean_dice"] for r in self.rows], color="tab:green", ls=":", label="pseudo Dice")
        ax2.plot(ep, [r["ema_dice"] for r in self.rows], color="tab:green", label="pseudo Dice (EMA)")
        ax2.set_ylabel("pseudo Dice")
        ax2.set_ylim(0, 1)
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="center right")
        cmap = plt.get_cmap("tab20")
        for i, o in enumerate(self.organs):
            dice = [r.get(f"dice_{o}", float("nan")) for r in self.rows]
            ax_org.plot(ep, dice, color=cmap(i % 20), label=o)
        ax_org.set_ylabel("pseudo Dice per organ")
        ax_org.set_ylim(0, 1)
        if self.organs:
            ax_org.legend(loc="upper left", fontsize=7, ncol=max(1, (len(self.organs) + 9) // 10))
        ax_lr.plot(ep, [r["lr"] for r in self.rows], color="k")
        ax_lr.set_ylabel("learning rate")
        ax_lr.set_xlabel("epoch")
        fig.tight_layout()
        return fig


def format_epoch_line(
    row: dict[str, Any], num_epochs: int, organs: Sequence[str], remaining_s: float | None = None
) -> str:
    """``epoch 3/40  train 0.812  val 0.790  dice 0.41 (ema 0.33)  lr 9.3e-03  12.1 s  [liver 0.80 ...]``.

    With ``remaining_s`` (see :meth:`TrainingLog.remaining_seconds`) the line ends in the estimated time
    left, e.g. ``  ~7 min left``.
    """

    def f(v: float, spec: str) -> str:
        return "nan" if isinstance(v, float) and math.isnan(v) else format(v, spec)

    per = " ".join(f"{o} {f(row.get(f'dice_{o}', float('nan')), '.2f')}" for o in organs)
    return (
        f"epoch {row['epoch'] + 1}/{num_epochs}  train {f(row['train_loss'], '.4f')}  "
        f"val {f(row['val_loss'], '.4f')}  dice {f(row['mean_dice'], '.3f')} "
        f"(ema {f(row['ema_dice'], '.3f')})  lr {row['lr']:.2e}  {row['seconds']:.1f} s  [{per}]"
    ) + (f"  ~{format_duration(remaining_s)} left" if remaining_s else "")


def format_duration(seconds: float) -> str:
    """``42 s``, ``7 min``, ``1 h 05 min``: a duration as a person reads an estimate."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
