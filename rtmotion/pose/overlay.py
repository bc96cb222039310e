"""Skeleton overlay videos: a pose sequence drawn over its video, another video or a plain
background (`rtmotion extract --overlay`, `rtmotion normalize --overlay`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from rtmotion.errors import InputError
from rtmotion.io import VideoInfo, VideoReader, VideoWriter
from rtmotion.pose.draw import draw_skeleton
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import SKELETONS, Skeleton
from rtmotion.pose.stats import skeleton_bones
from rtmotion.progress import progress


def drawing_skeleton(seq: PoseSequence) -> Skeleton:
    """The skeleton to draw `seq` with: its own, or for a custom joint order the canonical bones
    between the joints it has."""
    skel = SKELETONS.get(seq.skeleton)
    if skel is not None and skel.joints == seq.joint_names:
        return skel
    names = seq.joint_names
    return Skeleton(seq.skeleton, names, tuple((names.index(a), names.index(b))
                                               for a, b in skeleton_bones(names)))


def _backgrounds(video: Path | None, size: tuple[int, int], start: int, loop: bool,
                 blank_level: int) -> Iterator[np.ndarray]:
    """Endless uint8 RGB (H, W, 3) frames: the video's from `start` (again from the start when it
    ends if `loop`, resized to `size` when it differs), or a plain grey level."""
    w, h = size
    if video is None:
        while True:
            yield np.full((h, w, 3), blank_level, dtype=np.uint8)
    first = True
    while True:
        n = 0
        with VideoReader(video, start=start if first else 0) as reader:
            for frame in reader:
                n += 1
                img = frame.image
                if img.shape[:2] != (h, w):
                    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
                yield np.ascontiguousarray(img)
        first = False
        if n == 0:
            raise InputError(video, "no frames could be decoded")
        if not loop:
            return


def write_overlay(seq: PoseSequence, out: str | Path, video: str | Path | None = None, *,
                  start: int = 0, loop: bool = False, blank_level: int = 0,
                  show_progress: bool = True) -> Path:
    """Draw `seq` into the video `out` (atomic, via VideoWriter) at the poses' frame rate.

    Frame i is drawn over frame start + i of `video` (with `loop`, the video restarts when it
    ends: a driving sequence over a shorter target video), or over a plain `blank_level` grey
    background of `seq.size` without a video. The video's audio is kept when the overlay covers
    it from frame 0 without looping.
    """
    skel = drawing_skeleton(seq)
    vpath = None if video is None else Path(video)
    audio = vpath if (vpath is not None and start == 0 and not loop
                      and VideoInfo.from_path(vpath).has_audio) else None
    bgs = _backgrounds(vpath, seq.size, start, loop, blank_level)
    # closing(): stops the reader thread when the poses run out before the video does.
    with VideoWriter(out, fps=seq.fps, size=seq.size, audio_from=audio) as writer, \
            contextlib.closing(bgs):
        bar = progress(total=len(seq), desc=f"overlay {Path(out).name}") if show_progress else None
        try:
            for kp, bg in zip(seq.keypoints, bgs):
                writer.write(draw_skeleton(bg, kp, skel, copy=False))
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    return Path(out)
