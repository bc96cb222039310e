"""Several synthetic dancers in one video, with each dancer's exact poses (shared by the
people-count, person-choice and "no limb jumps" tests; never downloaded footage).

`write_dancers_video` renders each dancer through its own camera (shifted sideways, optionally
zoomed) on one shared background and composites them back to front, so a stretched arm can
reach into a neighbour's space, as in a real group clip. The exact poses are the renderer's own
BODY25 ground truth in the composite frame's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from rtmotion.synthetic import Camera, Renderer, motion_angles, pose_body

SIZE = (768, 384)


@dataclass(frozen=True)
class Dancer:
    """One dancer of a group clip: who, what motion, where (image x of the body), how large."""

    character: str
    motion: str
    x: float           # pixels: where the dancer stands in the composite frame
    zoom: float = 1.0  # > 1: nearer the camera, larger
    seed: int = 0


#: Left to right: a large dancer (nearer the camera), one in the centre, a small one.
#: centre -> #2, largest -> #1, auto (central and large) -> #2.
THREE = (Dancer("bruno", "wave", 150.0, 1.2, 1), Dancer("ada", "dance", 384.0, 1.0, 0),
         Dancer("mira", "jump", 620.0, 0.85, 2))


@dataclass
class GroupClip:
    """A written group video and its truth: `poses[i]` is dancer i's float32 (T, 25, 3)."""

    video: Path
    poses: list[np.ndarray]
    size: tuple[int, int]
    fps: Fraction

    @property
    def num_frames(self) -> int:
        return len(self.poses[0])


def _camera(d: Dancer, size: tuple[int, int]) -> Camera:
    """A camera that shows dancer `d` (standing at the world origin) at image x = d.x."""
    base = Camera(zoom=d.zoom)
    f = base.focal(size)
    depth = base.position[2]  # the dancer stands at z = 0, the camera looks along -z
    dx = (size[0] / 2 - d.x) * depth / f  # metres: shift the camera the other way
    return Camera(position=(dx, base.position[1], base.position[2]),
                  look_at=(dx, base.look_at[1], base.look_at[2]), zoom=d.zoom)


def render_group(dancers: tuple[Dancer, ...] = THREE, seconds: float = 1.0,
                 size: tuple[int, int] = SIZE, fps: Fraction = Fraction(30)):
    """Yield (uint8 RGB (H, W, 3) frame, [float32 (25, 3) pose per dancer]) per frame."""
    renderers = [Renderer(d.character, size, camera=_camera(d, size), background="studio")
                 for d in dancers]
    angles = [motion_angles(d.motion, seconds, fps, d.seed) for d in dancers]
    # The shared background (the first dancer's view of the studio; each dancer's pixels are
    # where its own render differs from its own empty background).
    empties = [cv2.resize(r.background, size, interpolation=cv2.INTER_AREA) if r.ss > 1
               else r.background for r in renderers]
    order = np.argsort([d.zoom for d in dancers])  # far (small) first, near (large) on top
    for t in range(len(angles[0].values)):
        frame = None
        poses = []
        bodies = [pose_body(r.character, a.values[t]) for r, a in zip(renderers, angles, strict=True)]
        for i in order:
            img = renderers[i].render(bodies[i])
            if frame is None:
                frame = img.copy()
            else:
                mask = np.abs(img.astype(np.int16) - empties[i].astype(np.int16)).max(-1) > 12
                frame[mask] = img[mask]
        poses = [r.keypoints(b) for r, b in zip(renderers, bodies, strict=True)]
        assert frame is not None
        yield frame, poses


def write_dancers_video(path: Path, dancers: tuple[Dancer, ...] = THREE, seconds: float = 1.0,
                        size: tuple[int, int] = SIZE, fps: Fraction = Fraction(30)) -> GroupClip:
    """The group clip as a real H.264 video (PyAV) and its exact poses."""
    from rtmotion.io import VideoWriter

    truth: list[list[np.ndarray]] = [[] for _ in dancers]
    with VideoWriter(path, fps, size) as writer:
        for frame, poses in render_group(dancers, seconds, size, fps):
            writer.write(frame)
            for i, p in enumerate(poses):
                truth[i].append(p)
    return GroupClip(path, [np.stack(p).astype(np.float32) for p in truth], size, fps)


def three_dancers_video(path: Path, seconds: float = 1.0) -> Path:
    """Three dancers side by side in one 768x384 video (`THREE`)."""
    return write_dancers_video(path, THREE, seconds).video
