"""The keyframes at the camera's resolution: the detail the model frame cannot hold.

The generator draws a small model frame (128x128 on a CPU) and the output is the target's whole
camera frame, so the person is enlarged several times (a phone clip's 1085 px box from 128 px:
8.5x) and comes out as a blur, whatever the generator learned. Where the frame is the warped
keyframe (the generator passes real pixels through, `rtmotion.models.generator`), those pixels
exist at the camera's resolution: the bundle keeps each keyframe's box at up to
`DETAIL_MAX_SIDE` px (`keyframe_detail.npz`), and inference adds their fine detail to the
enlarged frame where the generated frame agrees with the warped keyframe
(`rtmotion.pipeline.detail`).

On disk (`keyframe_detail.npz`): the keyframes' boxes as JPEG (quality `JPEG_QUALITY`: a
subject's 32 keyframes at 768 px are ~3 MB instead of ~55 MB of pixels), concatenated in
`jpeg` uint8 with `offsets` int64 (N + 1,), and `frames` int64 (N,) the keyframes' video
indices (the same as `keyframes.npz`'s, checked on load).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rtmotion.atomic import atomic_path
from rtmotion.errors import CheckpointError
from rtmotion.subject.crop import CropBox
from rtmotion.subject.keyframes import KeyframeSet

KEYFRAME_DETAIL_FILE = "keyframe_detail.npz"
#: The longer side of a keyframe's detail image at most (pixels): a 1080p phone clip's person box
#: is ~1000 px; 768 keeps 6x the 128 px model frame's detail for a fraction of the memory
#: (32 x 768^2 x 3 bytes = 57 MB decoded).
DETAIL_MAX_SIDE = 768
JPEG_QUALITY = 93


def detail_size(box_size: tuple[int, int], max_side: int = DETAIL_MAX_SIDE) -> tuple[int, int]:
    """(W, H) of the detail images of boxes of `box_size` (W, H) camera pixels: the box's own
    size, scaled down to `max_side` on its longer side (never up)."""
    bw, bh = int(box_size[0]), int(box_size[1])
    scale = min(1.0, max_side / max(bw, bh))
    return max(1, math.floor(bw * scale + 0.5)), max(1, math.floor(bh * scale + 0.5))


@dataclass
class KeyframeDetail:
    """The subject's keyframes at a higher resolution than the model's.

    images: uint8 (N, Hd, Wd, 3) RGB, keyframe i's box (the same box its model-frame image was
        cut from) at `size`; frames: int64 (N,) their video indices, as `KeyframeSet.frames`.
    """

    images: np.ndarray
    frames: np.ndarray

    def __post_init__(self) -> None:
        self.images = np.ascontiguousarray(self.images, dtype=np.uint8)
        self.frames = np.asarray(self.frames, dtype=np.int64)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or len(self.frames) != len(self.images):
            raise ValueError(f"inconsistent keyframe detail: images {self.images.shape}, "
                             f"frames {self.frames.shape}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the images."""
        return int(self.images.shape[2]), int(self.images.shape[1])

    def save(self, path: str | Path) -> Path:
        """Write `keyframe_detail.npz` atomically (JPEG-encoded images)."""
        path = Path(path)
        blobs = []
        for img in self.images:
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError("JPEG encoding of a keyframe failed")
            blobs.append(buf.reshape(-1))
        offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, jpeg=np.concatenate(blobs) if blobs else np.zeros(0, np.uint8),
                         offsets=offsets, frames=self.frames)
        return path

    @classmethod
    def load(cls, path: str | Path) -> KeyframeDetail:
        """Read a `keyframe_detail.npz`; CheckpointError naming the file when it is unreadable."""
        path = Path(path)
        try:
            with np.load(path) as z:
                jpeg, offsets, frames = z["jpeg"], z["offsets"], z["frames"]
            images = []
            for a, b in zip(offsets[:-1], offsets[1:], strict=True):
                bgr = cv2.imdecode(jpeg[int(a):int(b)], cv2.IMREAD_COLOR)
                if bgr is None:
                    raise ValueError("an image does not decode")
                images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if not images or len({im.shape for im in images}) != 1:
                raise ValueError("no images, or images of different sizes")
            return cls(np.stack(images), frames)
        except (OSError, KeyError, ValueError) as e:
            raise CheckpointError(path, f"damaged keyframe detail file ({e})",
                                  "delete it (the subject then works without it) or retrain "
                                  "with `rtmotion train`") from None


def keyframe_boxes(keyframes: KeyframeSet, crop: CropBox,
                   follow_size: tuple[int, int] | None) -> list[CropBox]:
    """Each keyframe's box in camera pixels, the one its model-frame image was cut from: a
    follow crop's box of `follow_size` (W, H) at the keyframe's recorded origin (model pixels x
    camera pixels per model pixel, rounded: the origins were whole camera pixels), else the
    subject's fixed `crop`."""
    if follow_size is None or keyframes.origins is None:
        return [crop] * len(keyframes)
    (bw, bh), (mw, mh) = follow_size, keyframes.size
    boxes = []
    for ox, oy in keyframes.origins:
        x0, y0 = round(float(ox) * bw / mw), round(float(oy) * bh / mh)
        boxes.append(CropBox(x0, y0, x0 + bw, y0 + bh, crop.frame_size))
    return boxes


def keyframe_detail_from_frames(frames: Iterable[tuple[int, np.ndarray]], wanted: np.ndarray,
                                boxes: list[CropBox], max_side: int = DETAIL_MAX_SIDE
                                ) -> KeyframeDetail | None:
    """Cut the keyframes' boxes out of the camera frames.

    Args:
        frames: (video index, uint8 RGB (H, W, 3) camera frame) in order (a video reader's).
        wanted: int (N,) the keyframes' video indices (`frames` must reach the largest).
        boxes: keyframe i's box in camera pixels (all of one size).
    Returns:
        None when a keyframe's frame never came (a video shorter than its poses).
    """
    wanted = np.asarray(wanted, dtype=np.int64)
    if len(boxes) != len(wanted) or not len(wanted):
        raise ValueError(f"{len(wanted)} keyframes, {len(boxes)} boxes")
    size = detail_size((boxes[0].width, boxes[0].height), max_side)
    where = {int(f): i for i, f in enumerate(wanted)}
    images: list[np.ndarray | None] = [None] * len(wanted)
    last = int(wanted.max())
    for index, image in frames:
        i = where.get(int(index))
        if i is not None:
            images[i] = boxes[i].crop_image(image, size)
        if index >= last:
            break
    if any(im is None for im in images):
        return None
    return KeyframeDetail(np.stack(images), wanted)  # type: ignore[arg-type]
