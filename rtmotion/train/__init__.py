"""Training: target video -> subject bundle (`rtmotion train`), and loading bundles back.

- `config.TrainConfig`: every knob; `trainer.train(cfg) -> TrainResult`.
- `crop.CropBox` / `compute_crop_box`: the ONE fixed crop per target video (EDN's frame of
  reference); poses of a subject are in this crop's pixels at the model resolution.
- `cache.build_cache`: cropped frames (uint8 .npy memory map) + poses, keyed by the inputs.
- `dataset.make_split` / `clip_ends` / `ClipDataset`: consecutive pairs and clips, the
  held-out last block.
- `background.estimate_background_plate`: the target's clean background for the generator.
- `bundle.load_subject(path) -> Subject` (generator in eval mode, stats, crop, configs), with
  CheckpointError for anything wrong; `write_bundle`, `save_checkpoint` / `load_checkpoint`.
- `distributed`: torchrun / DDP helpers (NCCL on CUDA, gloo on CPU).

Heavy modules (torch) load on first use of these names.
"""

from __future__ import annotations

import importlib
from typing import Any

from rtmotion.train.config import TrainConfig
from rtmotion.train.crop import CropBox, compute_crop_box

_LAZY = {
    "train": "rtmotion.train.trainer",
    "TrainResult": "rtmotion.train.trainer",
    "Subject": "rtmotion.train.bundle",
    "load_subject": "rtmotion.train.bundle",
    "write_bundle": "rtmotion.train.bundle",
    "load_checkpoint": "rtmotion.train.bundle",
    "save_checkpoint": "rtmotion.train.bundle",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rtmotion.train' has no attribute {name!r}")


__all__ = ["CropBox", "TrainConfig", "compute_crop_box", *_LAZY]
