"""The subject: one trained target person, as a bundle folder that inference runs on.

- `bundle`: the format (subject.json + weight files + pose statistics + previews), `load_subject`
  (every check, one clear CheckpointError line each), `write_bundle`, shipped subjects by name.
- `weights`: generator.pt / face.pt payloads (kind, version, config, fp16 state dict).
- `crop`: the ONE fixed crop box per target video (EDN's frame of reference).
- `split`: the held-out block of the training video (training and eval share the rule) and
  how new its poses are (`pose_novelty`).
- `model_frame`: the model frame's shape that draws a person largest for a pixel budget.

Pipeline, eval, runtime and export import this package, never `rtmotion.train`.
"""

from __future__ import annotations

from rtmotion.subject.bundle import (
    Subject,
    builtin_subjects_dir,
    load_subject,
    read_subject_info,
    resolve_subject_path,
    write_bundle,
    write_png,
)
from rtmotion.subject.crop import CropBox, compute_crop_box

__all__ = ["CropBox", "Subject", "builtin_subjects_dir", "compute_crop_box", "load_subject",
           "read_subject_info", "resolve_subject_path", "write_bundle", "write_png"]
