"""Where the model frame sits on the training video: its shape, the fixed crop, the follow crop.

- `shape_model_frame`: with `TrainConfig.shape_frame` (`train --shape-frame`), the
  resolution is a pixel budget and the model frame takes the person's shape
  (`rtmotion.subject.model_frame`): a standing person in a portrait frame instead of a square,
  drawn larger for the same work per step.
- `choose_crops`: the fixed crop (the subject's reference frame) and the follow crop (or None)
  at the run's resolution.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import numpy as np

from rtmotion.errors import InputError
from rtmotion.models.config import GENERATOR_PRESETS, generator_preset
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject.crop import CropBox, compute_crop_box
from rtmotion.subject.follow import FollowCrop, compute_follow_crop
from rtmotion.subject.model_frame import best_frame_shape
from rtmotion.train.config import TrainConfig

log = logging.getLogger(__name__)


def generator_stride(cfg: TrainConfig) -> int:
    """The generator's total stride (2**n_down of `cfg.preset`): both sides of the model frame
    are multiples of it.

    Raises:
        InputError: `cfg.resolution` is not (said before any work, not after the cache).
    """
    w, h = cfg.resolution
    try:
        return 2 ** generator_preset(cfg.preset, (w, h)).n_down
    except ValueError as e:
        hint = None
        if cfg.preset in GENERATOR_PRESETS:  # (else the error names the presets)
            stride = 2 ** GENERATOR_PRESETS[cfg.preset].n_down
            hint = (f"give sides that are multiples of {stride}, e.g. "
                    f"{stride * max(1, round(w / stride))}x{stride * max(1, round(h / stride))}")
        raise InputError(None, f"--preset {cfg.preset} / --resolution {w}x{h}: {e}", hint) from None


def follow_crop_possible(cfg: TrainConfig) -> bool:
    """The follow crop is asked for and has what it needs (keyframes and the background plate:
    the room behind each box is a generator input)."""
    return cfg.follow_crop and cfg.keyframes > 0 and cfg.background_plate


def crops_at(cfg: TrainConfig, seq: PoseSequence, usable: np.ndarray, aspect: float
             ) -> tuple[CropBox, FollowCrop | None]:
    """The fixed crop and the follow crop (None: not possible, or no smaller than the fixed
    crop) of `seq` (camera pixels) for a model frame of `aspect` (W / H)."""
    crop = compute_crop_box(seq.keypoints, seq.size, aspect=aspect, margin=cfg.crop_margin,
                            usable=usable)
    follow = (compute_follow_crop(seq.keypoints, crop, aspect=aspect, usable=usable)
              if follow_crop_possible(cfg) else None)
    return crop, follow


def choose_crops(cfg: TrainConfig, seq: PoseSequence, usable: np.ndarray
                 ) -> tuple[CropBox, FollowCrop | None]:
    """`crops_at` the run's resolution, with the choice said in the log."""
    w, h = cfg.resolution
    crop, follow = crops_at(cfg, seq, usable, w / h)
    if not cfg.follow_crop:
        return crop, None
    if not follow_crop_possible(cfg):
        log.info("follow crop off: it needs keyframes and the background plate (the room behind "
                 "each box is a generator input)")
    elif follow is None:
        log.info("follow crop: the person fills the fixed crop (%dx%d); drawing the fixed crop",
                 crop.width, crop.height)
    else:
        log.info("follow crop: a %dx%d box around the person (the fixed crop is %dx%d: %.2fx the "
                 "linear resolution)", follow.size[0], follow.size[1], crop.width, crop.height,
                 crop.height / follow.size[1])
    return crop, follow


def drawn_box_size(cfg: TrainConfig, seq: PoseSequence, usable: np.ndarray, aspect: float
                   ) -> tuple[float, float]:
    """(W, H) camera pixels of the box the model frame shows at `aspect`: the follow box, or
    the fixed crop where there is none."""
    crop, follow = crops_at(cfg, seq, usable, aspect)
    return (float(follow.size[0]), float(follow.size[1])) if follow else (crop.width, crop.height)


def shape_model_frame(cfg: TrainConfig, seq: PoseSequence, usable: np.ndarray) -> TrainConfig:
    """`cfg` with the model frame shaped to the person (`cfg.shape_frame`): the shape of about
    `cfg.resolution`'s pixels that draws the box around the person largest, sides multiples of
    the generator's stride. Returns `cfg` itself when not asked; else a copy whose resolution is
    final (`shape_frame` False, so shaping again changes nothing).

    Args:
        seq: the training poses, camera pixels (T, 25, 3).
        usable: bool (T,) frames with a person.
    """
    if not cfg.shape_frame:
        return cfg
    budget = tuple(cfg.resolution)

    @functools.cache  # the crops of an aspect: asked again for the log line below
    def box_at(aspect: float) -> tuple[float, float]:
        return drawn_box_size(cfg, seq, usable, aspect)

    shape = best_frame_shape(budget, generator_stride(cfg), box_at)
    if shape != budget:
        def drawn_scale(frame: tuple[int, int]) -> float:  # model pixels per camera pixel
            box = box_at(frame[0] / frame[1])
            return min(frame[0] / box[0], frame[1] / box[1])

        log.info("model frame %dx%d: the person's shape at the pixels of %dx%d (the person drawn "
                 "%.2fx as large)", shape[0], shape[1], budget[0], budget[1],
                 drawn_scale(shape) / drawn_scale(budget))
    else:
        log.info("model frame %dx%d: no other shape of its pixels draws the person larger",
                 *budget)
    return dataclasses.replace(cfg, resolution=shape, shape_frame=False)
