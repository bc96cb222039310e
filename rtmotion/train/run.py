"""The state of one training run, in one object that every part of training takes.

`TrainPaths` (where it writes), `TrainData` (what it trains on), `TrainRun` (the models,
optimizers, counters and the checkpoint state). Built by `rtmotion.train.trainer.build_run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rtmotion.io import VideoInfo
from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.models.config import GeneratorConfig
from rtmotion.models.generator import PoseGenerator
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject.crop import CropBox
from rtmotion.subject.follow import FollowCrop, origins_model
from rtmotion.train import distributed as D
from rtmotion.train.background import BackgroundPlate
from rtmotion.train.cache import CachedData
from rtmotion.train.checkpoint import save_checkpoint
from rtmotion.train.config import TrainConfig
from rtmotion.train.dataset import Split
from rtmotion.train.step import Discriminators, TrainReference


@dataclass
class TrainPaths:
    """Where a run writes (output = the bundle; work = training state)."""

    output: Path
    work: Path
    cache: Path

    @property
    def checkpoint(self) -> Path:
        return self.work / "checkpoints" / "last.pt"

    @property
    def samples(self) -> Path:
        return self.work / "samples"

    @property
    def tensorboard(self) -> Path:
        return self.work / "tb"

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> TrainPaths:
        out = Path(cfg.output)
        work = Path(cfg.work_dir) if cfg.work_dir else out
        cache = Path(cfg.cache_dir) if cfg.cache_dir else work / "cache"
        return cls(out, work, cache)


@dataclass
class TrainData:
    """The prepared data of a run: poses (source pixels), the fixed crop, the frame cache (crop
    pixels at the model resolution) and the split."""

    seq: PoseSequence
    pose_source: str
    crop: CropBox
    cache: CachedData
    split: Split
    video_info: VideoInfo
    #: the follow crop (None: the generator draws `crop`); the cache's frames and poses are then
    #: in each frame's own box (`cache.boxes`)
    follow: FollowCrop | None = None
    #: the clean room at the camera's resolution (a follow crop's plate inputs; None otherwise)
    scene_plate: np.ndarray | None = None
    #: how it was made (`BackgroundPlate.summary`: its residual and changed share say whether the
    #: camera moved); None without one or from a checkpoint saved before it was kept
    scene_plate_summary: dict[str, Any] | None = None

    def fixed_poses(self) -> np.ndarray:
        """float32 (T, K, 3) the poses in the fixed crop's model pixels (the subject's
        reference frame: its pose statistics, what a Session is given)."""
        if self.follow is None:
            return self.cache.poses
        w, h = self.cache.frames.shape[2], self.cache.frames.shape[1]
        return self.crop.keypoints_to_crop(self.seq.keypoints[:len(self.cache)], (w, h))

    def follow_origins(self) -> np.ndarray | None:
        """float32 (T, 2): each cached frame's box origin in model pixels (follow crop), or
        None."""
        if self.follow is None or self.cache.boxes is None:
            return None
        w, h = self.cache.frames.shape[2], self.cache.frames.shape[1]
        return origins_model(self.cache.boxes, self.follow.size, (w, h))

    def dataset_follow(self) -> tuple[tuple[int, int], np.ndarray, np.ndarray] | None:
        """`ClipDataset`'s follow argument (None: the fixed crop)."""
        if self.follow is None or self.cache.boxes is None or self.scene_plate is None:
            return None
        return self.follow.size, self.cache.boxes, self.scene_plate


#: The options `run_record` keeps of a run: the ones a --resume may change.
RUN_OPTIONS = ("lr", "lr_decay_steps", "fit_minutes", "adversarial", "batch_size", "amp", "face")


def run_record(config: dict[str, Any], steps: tuple[int, int], face_steps: tuple[int, int],
               seconds: float) -> dict[str, Any]:
    """One run of a training, for the checkpoint and subject.json's "training.runs".

    Args:
        config: the run's `TrainConfig.to_dict()`.
        steps: (first, last) generator step, the run trained steps first+1..last.
        face_steps: the same for the face stage.
        seconds: the run's wall time.
    """
    return {"steps": [int(steps[0]), int(steps[1])],
            "face_steps": [int(face_steps[0]), int(face_steps[1])],
            "minutes": round(float(seconds) / 60.0, 3),
            **{k: config.get(k) for k in RUN_OPTIONS}}


@dataclass
class TrainRun:
    """Everything one run holds: what it trains on, the models and optimizers, where it is.

    The GAN step, the face stage and the bundle writer each take this one object.
    """

    cfg: TrainConfig
    paths: TrainPaths
    device: torch.device
    dist: D.DistInfo
    data: TrainData
    pose_map_config: PoseMapConfig
    generator_config: GeneratorConfig
    #: the pose flow that warps previous frames in training; the bundle records this same one
    flow_config: PoseFlowConfig
    gen: PoseGenerator
    discs: Discriminators
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    autocast: Callable[[], AbstractContextManager[Any]]
    perceptual: nn.Module | None = None
    plate: BackgroundPlate | None = None
    #: the appearance reference (keyframes + their training lookup), None without one
    reference: TrainReference | None = None
    tb: Any = None  # TensorBoard SummaryWriter on rank 0, else None
    step: int = 0
    face_step: int = 0
    trained_seconds: float = 0.0  # before this process started
    started: float = field(default_factory=time.monotonic)
    losses: dict[str, float] = field(default_factory=dict)  # the last logged (mean) losses
    face_state: dict[str, Any] = field(default_factory=dict)  # the face stage's, for checkpoints
    #: the runs a --resume continues (`run_record`s, oldest first; the checkpoint's "runs"): the
    #: last one ends at the step and face step this run started from
    earlier_runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def use_scaler(self) -> bool:
        return self.scaler_g.is_enabled()

    def minutes(self) -> float:
        """Training minutes in all (resumed runs included)."""
        return (self.trained_seconds + time.monotonic() - self.started) / 60.0

    def runs(self) -> list[dict[str, Any]]:
        """Every run of this training, oldest first, this one last (`run_record`): a resumed
        run's options (say the face stage's `--lr`) are not the ones earlier steps trained with."""
        last = self.earlier_runs[-1] if self.earlier_runs else {"steps": [0, 0], "face_steps": [0, 0]}
        this = run_record(self.cfg.to_dict(), (last["steps"][1], self.step),
                          (last["face_steps"][1], self.face_step), time.monotonic() - self.started)
        return [*self.earlier_runs, this]

    def state(self) -> dict[str, Any]:
        """The whole training state, for a checkpoint."""
        return {
            "step": self.step, "face_step": self.face_step,
            "trained_seconds": self.minutes() * 60.0,
            "config": self.cfg.to_dict(), "generator_config": self.generator_config.to_dict(),
            "pose_map_config": {"size": list(self.pose_map_config.size)},
            "crop": self.data.crop.to_dict(),
            "generator": self.gen.state_dict(), "discriminators": self.discs.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict() if self.use_scaler else None,
            "scaler_d": self.scaler_d.state_dict() if self.use_scaler else None,
            "losses": self.losses,
            "runs": self.runs(),
            # the held-out frames (start, end): a resumed run that holds out others says so
            "validation": list(self.data.split.val_range),
            # the room a follow crop's plate inputs were cut from: a resumed run trains on, and
            # ships, this one rather than an estimate that another version or flag may change
            "scene_plate": None if self.data.scene_plate is None or self.data.follow is None
            else torch.from_numpy(np.ascontiguousarray(self.data.scene_plate)),
            "scene_plate_summary": self.data.scene_plate_summary,
            **self.face_state,
        }

    def save_checkpoint(self) -> None:
        save_checkpoint(self.paths.checkpoint, self.state())
