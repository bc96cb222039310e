"""A synthetic clip whose camera moves, for the moving-camera checks (`rtmotion train`,
tools/camera_motion.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtmotion.io import VideoReader, VideoWriter


def write_tilting_clip(clip, folder: Path) -> tuple[Path, Path]:
    """`clip` (a conftest `DancerClip`) as a camera that tilts a pixel further every frame: each
    frame rolled down by its index, its poses moved with it. Returns (video, poses) written as
    folder/tilt.mp4 and folder/tilt.npz."""
    video, poses = folder / "tilt.mp4", folder / "tilt.npz"
    with VideoReader(clip.video) as reader, VideoWriter(video, fps=clip.fps) as writer:
        for i, fr in enumerate(reader):
            writer.write(np.roll(fr.image, i, axis=0))
    kp = clip.seq.keypoints.copy()
    kp[..., 1] += np.arange(len(kp))[:, None]
    clip.seq.with_keypoints(kp).save(poses)
    return video, poses
