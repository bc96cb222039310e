"""Training checkpoints (`last.pt`, `step_N.pt`): the whole training state, resumable.

Not part of a subject bundle (that ships inference weights only, see `rtmotion.subject`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rtmotion import __version__
from rtmotion.errors import CheckpointError
from rtmotion.subject.weights import json_normalized, load_torch_file, torch_save_atomic

CHECKPOINT_KIND = "rtmotion-train-state"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training checkpoint atomically (kind, version and rtmotion version added)."""
    path = Path(path)
    payload = {"kind": CHECKPOINT_KIND, "version": CHECKPOINT_VERSION,
               "rtmotion_version": __version__, **state}
    torch_save_atomic(payload, path)
    return path


def load_checkpoint(path: str | Path, generator_config: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Read a training checkpoint written by `save_checkpoint`.

    CheckpointError: missing, damaged, not a training checkpoint, another checkpoint version,
    or a generator config other than `generator_config` (resuming would load the wrong model).
    """
    path = Path(path)
    obj = load_torch_file(path, "training checkpoint")
    if obj.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(path, f"not an rtmotion training checkpoint (kind {obj.get('kind')!r})",
                              "remove it, or train without --resume")
    ver = obj.get("version")
    if ver != CHECKPOINT_VERSION:
        raise CheckpointError(path, f"training checkpoint version {ver}, this rtmotion "
                              f"{__version__} resumes version {CHECKPOINT_VERSION}",
                              "train without --resume, or with the rtmotion that wrote it")
    if generator_config is not None and \
            json_normalized(obj.get("generator_config")) != json_normalized(generator_config):
        raise CheckpointError(path, "was trained with another generator config (preset or "
                              "resolution changed)", "use the same --preset/--resolution, or "
                              "train without --resume")
    return obj
