"""Training: settings presets, data loading and augmentation, losses, the loop, checkpoints, fine-tuning.

``train_model(dataset_id, fold, preset=..., pretrained=...)`` is the entry point (the CLI
``torsoseg_train`` calls it). See ``documentation/training.md``.
"""

from torsoseg.training.settings import PRESETS, AugmentationSettings, TrainingSettings, get_settings

__all__ = ["PRESETS", "AugmentationSettings", "TrainingSettings", "get_settings", "train_model"]


def __getattr__(name: str):  # lazy: keeps ``import torsoseg.training`` free of torch until needed
    if name == "train_model":
        from torsoseg.training.run import train_model

        return train_model
    raise AttributeError(f"module 'torsoseg.training' has no attribute {name!r}")
