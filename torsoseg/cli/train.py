"""``torsoseg_train``: train, fine-tune or resume a 3D U-Net on a preprocessed dataset."""

from __future__ import annotations

import argparse
import logging
import sys

EPILOG = """examples:
  torsoseg_train 1 --fold all --preset cpu                 # pretrain on dataset 1 (2 CPU cores, minutes)
  torsoseg_train 2 --fold all --pretrained 1 --preset finetune_cpu
  torsoseg_train 1 --fold 0 --resume                       # continue after an interruption
  torsoseg_train 1 --fold 0 --resume --epochs 1500         # explicitly extend a finished run
  torsoseg_train 1 --fold all -c 3d_lowres --preset cpu    # the two stages of the cascade
  torsoseg_train 1 --fold all -c 3d_cascade --preset cpu
  torchrun --nproc_per_node 2 $(which torsoseg_train) 1 --fold 0   # DistributedDataParallel
exit code: 0 on success, 1 when the data or a run failed, 2 for incompatible fine-tuning plans or bad
flags, 130 when interrupted (continue with --resume); errors are one line, -v shows the traceback.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torsoseg_train",
        description="Train the 3D U-Net of a planned and preprocessed dataset (from scratch, or fine-tuned "
        "from "
        "another dataset's model with a 10x smaller learning rate). Writes <results>/DatasetXXX_Name/"
        "<Trainer>__<plans>__<configuration>/fold_K/ with checkpoints, training_log.csv and progress.png.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", help="dataset id (1, 001) or folder name (Dataset001_Abdomen)")
    p.add_argument(
        "--fold",
        default=None,
        choices=["0", "1", "2", "3", "4", "all"],
        help="cross-validation fold, or 'all' to train on every case (library default: 0)",
    )
    p.add_argument(
        "-c", "--configuration", default=None, choices=["3d_fullres", "3d_lowres", "3d_cascade"],
        help="which network of the plans: 3d_fullres (default), or a stage of the cascade: 3d_lowres "
        "(coarse, whole image) or 3d_cascade (fine, trained on patches around the organs)",
    )
    _add_source_and_settings(p)
    _add_finetune_and_roots(p)
    return p


def _add_source_and_settings(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--pretrained",
        default=None,
        metavar="SRC_ID",
        help="fine-tune from the trained model of dataset SRC_ID (its plans must be compatible: plan "
        "this dataset with --plans-from SRC_ID)",
    )
    src.add_argument(
        "--pretrained-checkpoint", default=None, metavar="PATH", help="fine-tune from this checkpoint file"
    )
    p.add_argument(
        "--preset",
        default=None,
        help="settings preset: default, cpu, finetune, finetune_cpu (default: 'default', or "
        "'finetune' with --pretrained)",
    )
    p.add_argument("--epochs", type=int, default=None, help="number of epochs (overrides the preset)")
    p.add_argument("--iterations-per-epoch", type=int, default=None, help="training steps per epoch")
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (overrides the preset)")
    p.add_argument(
        "--seed", type=int, default=None,
        help="base random seed of initialisation, patch sampling and augmentation (overrides the preset; "
        "report learning results over several)",
    )
    p.add_argument(
        "--device",
        default=None,
        choices=["cpu", "cuda", "auto"],
        help="device (auto: CUDA with mixed precision when present, else CPU)",
    )
    p.add_argument(
        "--precision",
        default=None,
        choices=["fp32", "bf16", "auto"],
        help="numeric precision (auto: bfloat16 on CPUs with AMX/AVX512-BF16, AMP on CUDA)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue from the fold's checkpoint_latest.pt (with a larger --epochs: extend a finished run)",
    )


def _add_finetune_and_roots(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--freeze-encoder-epochs",
        type=int,
        default=None,
        metavar="N",
        help="fine-tuning: keep the encoder's learning rate at 0 for the first N epochs",
    )
    p.add_argument(
        "--head-lr-factor",
        type=float,
        default=None,
        metavar="F",
        help="learning rate of the output heads relative to --lr (fine-tuning: new organ rows learn faster)",
    )
    p.add_argument(
        "--head-first-epochs",
        type=int,
        default=None,
        metavar="N",
        help="fine-tuning: train only the output heads (body frozen) for the first N epochs",
    )
    p.add_argument(
        "--new-row-init",
        default=None,
        choices=["zero", "random"],
        help="fine-tuning: initial output rows of organs the pretrained model does not know",
    )
    p.add_argument(
        "--ce-class-balance",
        type=float,
        default=None,
        metavar="E",
        help="exponent of the inverse class-frequency weights of the cross-entropy (0: plain)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="background data-augmentation processes (0: inline)"
    )
    p.add_argument(
        "--preprocessed",
        default=None,
        metavar="DIR",
        help="preprocessed root (default: $TORSOSEG_PREPROCESSED)",
    )
    p.add_argument("--results", default=None, metavar="DIR", help="results root (default: $TORSOSEG_RESULTS)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch only)")
    p.add_argument("-v", "--verbose", action="store_true", help="log details; tracebacks of errors")


def main(argv: list[str] | None = None) -> int:
    from torsoseg.cli.errors import guard

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from torsoseg.training.finetune import IncompatiblePlansError

    return guard("torsoseg_train", lambda: _run(args), verbose=args.verbose, usage=(IncompatiblePlansError,),
                 interrupted="interrupted; continue with --resume")


def _run(args: argparse.Namespace) -> int:
    from torsoseg.training.run import train_model

    overrides = {
        "num_epochs": args.epochs,
        "iterations_per_epoch": args.iterations_per_epoch,
        "initial_lr": args.lr,
        "seed": args.seed,
        "precision": args.precision,
        "num_workers": args.workers,
        "freeze_encoder_epochs": args.freeze_encoder_epochs,
        "head_lr_factor": args.head_lr_factor,
        "head_first_epochs": args.head_first_epochs,
        "new_row_init": args.new_row_init,
        "ce_class_balance": args.ce_class_balance,
    }
    kwargs = {
        k: v
        for k, v in {
            "fold": args.fold,
            "preset": args.preset,
            "pretrained": args.pretrained,
            "pretrained_checkpoint": args.pretrained_checkpoint,
            "device": args.device,
            "resume": args.resume,
            "preprocessed_root": args.preprocessed,
            "results_root": args.results,
            "configuration": args.configuration,
        }.items()
        if v is not None
    }
    summary = train_model(args.dataset, progress=not args.no_progress, echo=print, **kwargs, **overrides)
    if summary.get("message"):
        print(summary["message"])
    if not summary.get("message"):
        dice = ", ".join(f"{k} {v:.3f}" for k, v in summary["final_dice"].items() if v is not None)
        print(f"done: {summary['fold_dir']}  (last pseudo Dice: {dice})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
