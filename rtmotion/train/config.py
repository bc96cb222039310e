"""`TrainConfig`: every knob of `rtmotion train` in one dataclass (stdlib only).

The checkpoint stores `to_dict()`; `from_dict` restores it and rejects unknown keys, so a typo
never trains the wrong thing silently. CLI flags map one to one onto the main fields
(`rtmotion/commands/train.py`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, fields
from typing import Any

from rtmotion.models.config import GAN_MODES

#: "auto", "cpu", "cuda" or "cuda:N" (resolved by rtmotion.devices.resolve_device)
_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")
AMP_MODES = ("auto", "bf16", "fp16", "off")
#: Where the SSIM loss is measured (`TrainConfig.ssim_region`).
SSIM_REGIONS = ("frame", "body")
#: The loss weights (each must be >= 0).
LOSS_WEIGHTS = ("weight_l1", "weight_ssim", "weight_gan", "weight_temporal", "weight_fm",
                "weight_perceptual")


@dataclass
class TrainConfig:
    """How to train one subject.

    Paths:
        video: the target's video.
        output: the subject bundle folder (subjects/NAME).
        poses: a pose file (.npz) of `video` (ground truth or a precomputed extraction); None runs
            MediaPipe extraction and caches it.
        person: whom that extraction follows when the video shows several people ("auto",
            "largest", "center", N = the N-th from the left; `rtmotion.pose.person`).
        work_dir: where training state lives (checkpoints/, cache/, samples/, tb/); None = output.
            The shipped demo subject sets it elsewhere so only the bundle files land in the package.
        cache_dir: the dataset cache; None = work_dir/cache.
        name: subject name (default: the output folder's name).

    Model / data:
        preset: generator preset ("tiny", "small", "base"; rtmotion.models.config).
        resolution: (W, H) of the model, i.e. of the fixed crop after resizing.
        shape_frame: `resolution` is a pixel budget: the trainer gives the model frame the
            person's shape at about its pixels (`rtmotion.train.framing.shape_model_frame`; a
            standing person: a portrait frame, drawn larger at the same cost). `--shape-frame`;
            off by default (at 20 CPU minutes it scored lower than the square, docs/
            BENCHMARKS.md). The run records False and its final resolution.
        crop_margin: margin around the person's box as a fraction of its height (head, hands,
            feet stick out beyond the keypoints).
        min_pose_frames: fewer usable pose frames than this -> InputError.
        val_fraction: this fraction of the video (one contiguous block in its middle, with a guard
            band either side that nothing trains on: `rtmotion.subject.split.heldout_block`) is
            held out for `rtmotion eval` and the score `train` prints.
        min_joints: a frame is usable when at least this many joints are visible.
        background_plate: estimate the target's clean background from the training frames and
            give it to the generator (rtmotion.train.background); right for a fixed camera (EDN's
            setting), off for a moving one.
        person_segmentation: join the person's segmentation (BlazePose's, in the mediapipe
            wheel) to the skeleton mask that keeps the person out of the plates, so clothes and
            hair beyond the bones leave no silhouette and fewer pixels are guessed.
        keyframes: how many keyframes of the target the bundle keeps as the generator's
            appearance reference (chosen from the training frames for pose coverage; per frame
            the nearest is warped to the pose and fed to the generator; `rtmotion.subject.
            keyframes`). 0: no reference (the generator draws the person from memory).
        keyframe_exclude: training never gives a frame a keyframe taken within this many frames
            of it (the target must not be its own reference: that teaches copying). 8 (a third
            of a second at 25 fps; 30 before 2026-12-04): references near in pose, so the
            generator learns to pass a well-fitting warped keyframe through (measured in
            docs/BENCHMARKS.md, "Closer references in training").
        max_gap: clips take frames ..., t - g1 - g2, t - g1, t with each gap drawn uniformly
            from 1..max_gap (1: consecutive frames, EDN). Live transfer drops frames (50-80 % on
            a laptop), so the generator should see previous frames that are several frames old
            and learn to reject a warped previous frame that does not fit (no double figures).
        follow_crop: the generator draws a box that follows the person (`rtmotion.subject.
            follow`: one size, the person in their widest pose, placed on each frame) instead
            of the fixed crop of the whole area they move in: more of the model's pixels go to
            the person. Needs keyframes and the background plate (the room behind each box is
            a generator input; off without them); ignored where the box would not be smaller than
            the fixed crop. Measured in docs/BENCHMARKS.md (the look at the output frame).
            Default 8: with the reference it also lifted held-out body SSIM from 0.87 to 0.92 at
            equal steps (the gate stops leaning on a warped previous output that blurs).

    Optimisation:
        steps: total optimizer steps (a resumed run continues up to this number).
        minutes: stop this run after this many minutes of training as well (None: no limit).
        fit_minutes: plan this run's end step from its measured step time so that it ends with
            `minutes` (`rtmotion.train.machine_settings.BudgetPlanner`; `steps` is then the
            current plan, re-planned as the run measures itself). Set by `rtmotion train` on a
            CPU with --minutes and without both --steps and --lr-decay-steps.
        max_steps: with `fit_minutes`, the planned end never passes this step (an explicit
            --steps); 0: no cap.
        fit_lr_decay: with `fit_minutes`, the learning rate decays linearly to 0 over this run's
            planned steps (`lr_decay_steps` follows the plan).
        batch_size: per process.
        lr, beta1, beta2: Adam for G and the discriminators (pix2pixHD: 2e-4, (0.5, 0.999)).
        lr_decay_steps: the learning rate falls linearly from `lr` to 0 over the LAST this many
            steps of `steps` (pix2pixHD's niter_decay; 0: constant). A function of the step, so
            a resumed run follows the same schedule.
        lr_warmup_start, lr_warmup_steps: the learning rate rises linearly from 0 over
            `lr_warmup_steps` steps from step `lr_warmup_start` (0 steps: none). Set by a resumed
            run whose decay is fitted to its --minutes: its schedule starts again at `lr` after
            the last run's decayed to 0, and that jump made the discriminator collapse within
            ~30 steps (measured: hinge loss 2.000, feature matching 0.40 -> 0.02);
            `RESUME_WARMUP_STEPS` (rtmotion.train.machine_settings.plan_config).
        clip_length: consecutive frames per training sample (EDN: 2, pairs). Longer clips feed
            the generator its own blended outputs as previous frames, as a long inference
            rollout does, so the error that builds up through the warped previous frame is
            trained against; each step costs about clip_length / 2 times a pair step.
        teacher_forcing: probability, at step 0, of feeding the REAL previous frame (warped)
            instead of the generator's own previous output; decays linearly to 0 at
            `teacher_forcing_steps`. Early on the generated previous frame is noise, and a gate
            that only ever saw noise learns to ignore the warped input for good; real previous
            frames teach it that warping is worth using, then the generator switches to its own
            outputs (what inference feeds). None: 0.5 without a reference, 0 with one (the
            warped keyframe already gives early training real pixels; real previous frames then
            only teach the gate to trust a warped previous frame more than its own outputs
            deserve, which blurs a long rollout: measured in docs/BENCHMARKS.md).
        gan_mode, weight_*: losses ("hinge" or "lsgan"; weights L1 10, SSIM 1, GAN 1, FM 10).
        adversarial: train with the discriminators (the frame and temporal GAN losses and
            feature matching). False: the generator learns from L1 + SSIM (+ perceptual) alone
            and no discriminator runs, so a step costs about half (measured in
            docs/BENCHMARKS.md, "Reconstruction losses alone").
        person_weight: in the L1 loss the person's pixels weigh this many times the room's (the
            person is where the frame differs from the background plate,
            `rtmotion.train.person_weight`; 1: uniform; no effect without a plate).
        ssim_region: where the SSIM loss is measured: "frame" (the whole model frame) or "body"
            (each frame's body box, the region eval scores: `rtmotion.train.person_weight.
            body_box_masks`).
        perceptual_weights: local VGG19 weights file for the perceptual loss (None: off).
        d_scales, d_channels: discriminator size (multi-scale PatchGAN).
        face: train the face enhancer after the generator (`face_steps` steps, generator frozen).
        face_crop: the enhancer's crop side in pixels (None: from the subject's face box,
            `rtmotion.train.face_stage.face_crop_for_side`). A resumed face stage keeps its
            checkpoint's crop (another value here is logged as not used).

    Runtime:
        device: "auto" (cuda if available), "cpu", "cuda", "cuda:N".
        amp: "auto" (bf16 on CUDA, off on CPU), "bf16", "fp16" (with GradScaler), "off".
        workers: DataLoader worker processes.
        seed: fixed seed (per rank: seed + rank).
        save_every, sample_every, log_every: steps between checkpoints / sample grids / logs.
        resume: continue from work_dir/checkpoints/last.pt.
    """

    video: str = ""
    output: str = ""
    poses: str | None = None
    person: str | int = "auto"
    work_dir: str | None = None
    cache_dir: str | None = None
    name: str | None = None

    preset: str = "small"
    resolution: tuple[int, int] = (256, 256)
    shape_frame: bool = False
    crop_margin: float = 0.12
    min_pose_frames: int = 50
    val_fraction: float = 0.1
    min_joints: int = 8
    background_plate: bool = True
    person_segmentation: bool = True
    keyframes: int = 32
    keyframe_exclude: int = 8
    max_gap: int = 8
    follow_crop: bool = True

    steps: int = 20000
    minutes: float | None = None
    fit_minutes: bool = False
    max_steps: int = 0
    fit_lr_decay: bool = False
    lr_warmup_start: int = 0
    lr_warmup_steps: int = 0
    batch_size: int = 4
    lr: float = 2e-4
    lr_decay_steps: int = 0
    beta1: float = 0.5
    beta2: float = 0.999
    clip_length: int = 2
    teacher_forcing: float | None = None
    teacher_forcing_steps: int = 2000
    gan_mode: str = "hinge"
    weight_l1: float = 10.0
    weight_ssim: float = 1.0
    weight_gan: float = 1.0
    weight_temporal: float = 1.0
    weight_fm: float = 10.0
    weight_perceptual: float = 10.0
    adversarial: bool = True
    person_weight: float = 1.0
    ssim_region: str = "frame"
    perceptual_weights: str | None = None
    d_scales: int = 2
    d_channels: int = 64
    face: bool = False
    face_steps: int = 2000
    face_crop: int | None = None

    device: str = "auto"
    amp: str = "auto"
    workers: int = 2
    seed: int = 0
    save_every: int = 500
    sample_every: int = 500
    log_every: int = 20
    preview_frames: int = 4
    resume: bool = False

    def __post_init__(self) -> None:
        self.resolution = (int(self.resolution[0]), int(self.resolution[1]))
        if not _DEVICE_RE.fullmatch(self.device):
            raise ValueError(f"device {self.device!r} is not auto, cpu, cuda or cuda:N")
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode {self.gan_mode!r} is not one of {GAN_MODES}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp {self.amp!r} is not one of {AMP_MODES}")
        if self.steps < 0 or self.batch_size < 1 or self.workers < 0:
            raise ValueError("steps must be >= 0, batch_size >= 1, workers >= 0")
        if not 0.0 <= self.val_fraction < 0.9:
            raise ValueError(f"val_fraction must be in [0, 0.9), got {self.val_fraction}")
        if not 0 <= self.lr_decay_steps <= self.steps:
            raise ValueError(f"lr_decay_steps must be in [0, steps={self.steps}], "
                             f"got {self.lr_decay_steps}")
        if self.keyframes < 0 or self.keyframe_exclude < 0 or self.max_gap < 1:
            raise ValueError("keyframes and keyframe_exclude must be >= 0, max_gap >= 1")
        if self.clip_length < 2:
            raise ValueError(f"clip_length must be at least 2, got {self.clip_length}")
        if self.teacher_forcing is None:  # resolved here, so checkpoints record the number
            self.teacher_forcing = 0.0 if self.keyframes > 0 else 0.5
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing}")
        if not self.person_weight >= 1.0:
            raise ValueError(f"person_weight must be at least 1, got {self.person_weight}")
        if self.ssim_region not in SSIM_REGIONS:
            raise ValueError(f"ssim_region {self.ssim_region!r} is not one of {SSIM_REGIONS}")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.face_crop is not None and (self.face_crop < 8 or self.face_crop % 4):
            raise ValueError(f"face_crop must be a multiple of 4 and at least 8, got {self.face_crop}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be > 0, got {self.minutes}")
        self._check_optimizer_and_losses()

    def _check_optimizer_and_losses(self) -> None:
        """ValueError for a learning rate, Adam beta or loss weight that would not train (a
        negative rate or weight climbs its loss instead of descending it)."""
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")
        for name in LOSS_WEIGHTS:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resolution"] = list(self.resolution)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}")
        d = dict(data)
        if "resolution" in d:
            d["resolution"] = tuple(d["resolution"])
        return cls(**d)

    def with_(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
