"""The fixed per-video crop box (EDN's frame of reference).

EDN's generator renders the target's whole scene from a fixed camera, so training uses ONE crop
for the whole target video: the box that holds the person in every frame (robust extremes of
the visible keypoints over all frames, plus a margin for the head, hands and feet that stick out
beyond the joints), grown to the model's aspect ratio, shifted inside the frame where it fits
and padded where it does not, then resized to the model's resolution. Never a per-frame crop:
that would move the camera from frame to frame and the generator would learn a jittering scene.

Pixel convention: a pixel's centre is at its integer coordinate (the convention of
`rtmotion.kernels.maps_numpy` and `rtmotion.kernels`). The box covers source pixels x0..x1-1 and
y0..y1-1; resizing maps edges to edges (cv2.resize's half-pixel convention), so a keypoint moves
as the image does: x_crop = (x - x0 + 0.5) * W / (x1 - x0) - 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rtmotion.errors import InputError


@dataclass(frozen=True)
class CropBox:
    """Integer box (x0, y0) inclusive .. (x1, y1) exclusive in source-frame pixels.

    It may reach outside the source frame (x0 < 0, x1 > W...): those parts are padded by edge
    replication when cropping (the scene continues rather than a black border appearing).
    `frame_size` is the source frame's (W, H).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    frame_size: tuple[int, int]

    def __post_init__(self) -> None:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError(f"empty crop box {self}")
        object.__setattr__(self, "frame_size", (int(self.frame_size[0]), int(self.frame_size[1])))

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def scale(self, out_size: tuple[int, int]) -> tuple[float, float]:
        """(sx, sy): crop pixels per source pixel when resized to out_size (W, H)."""
        return out_size[0] / self.width, out_size[1] / self.height

    def keypoints_to_crop(self, keypoints: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        """Keypoints (..., K, 3) in source pixels -> in pixels of the resized crop (float32).

        Confidence is kept; a missing joint (confidence 0) stays (0, 0, 0).
        """
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        sx, sy = self.scale(out_size)
        vis = kp[..., 2] > 0
        kp[..., 0] = np.where(vis, (kp[..., 0] - self.x0 + 0.5) * sx - 0.5, 0.0)
        kp[..., 1] = np.where(vis, (kp[..., 1] - self.y0 + 0.5) * sy - 0.5, 0.0)
        return kp

    def keypoints_from_crop(self, keypoints: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        """Inverse of `keypoints_to_crop`."""
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        sx, sy = self.scale(out_size)
        vis = kp[..., 2] > 0
        kp[..., 0] = np.where(vis, (kp[..., 0] + 0.5) / sx - 0.5 + self.x0, 0.0)
        kp[..., 1] = np.where(vis, (kp[..., 1] + 0.5) / sy - 0.5 + self.y0, 0.0)
        return kp

    def crop_image(self, image: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        """uint8 (H, W, 3) source frame -> uint8 (out_H, out_W, 3) crop, resized.

        Area interpolation when shrinking (no aliasing), bilinear when enlarging.
        """
        h, w = image.shape[:2]
        if (w, h) != self.frame_size:
            raise ValueError(f"frame is {w}x{h}, the crop box was made for "
                             f"{self.frame_size[0]}x{self.frame_size[1]}")
        pad_l, pad_t = max(0, -self.x0), max(0, -self.y0)
        pad_r, pad_b = max(0, self.x1 - w), max(0, self.y1 - h)
        if pad_l or pad_t or pad_r or pad_b:
            image = cv2.copyMakeBorder(image, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
        crop = image[self.y0 + pad_t:self.y1 + pad_t, self.x0 + pad_l:self.x1 + pad_l]
        ow, oh = int(out_size[0]), int(out_size[1])
        if (crop.shape[1], crop.shape[0]) == (ow, oh):
            return np.ascontiguousarray(crop)
        shrink = ow < crop.shape[1] or oh < crop.shape[0]
        return cv2.resize(crop, (ow, oh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def to_dict(self) -> dict[str, Any]:
        return {"x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1,
                "frame_size": list(self.frame_size)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CropBox:
        return cls(int(d["x0"]), int(d["y0"]), int(d["x1"]), int(d["y1"]),
                   (int(d["frame_size"][0]), int(d["frame_size"][1])))


def usable_frames(keypoints: np.ndarray, min_joints: int = 8, min_conf: float = 0.0) -> np.ndarray:
    """bool (T,): frames whose pose has at least `min_joints` visible joints (a person)."""
    kp = np.asarray(keypoints)
    return (kp[..., 2] > min_conf).sum(axis=-1) >= min_joints


def visible_coordinates(keypoints: np.ndarray, usable: np.ndarray | None, min_conf: float,
                        what: str) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys), float64 (T', K) each: the joints' x and y in the frames with a visible joint
    (and `usable`, when given), NaN where a joint is not visible (confidence <= min_conf).

    Raises InputError (no path) naming `what` when no frame has a visible joint."""
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[..., 2] > min_conf
    frames = vis.any(axis=-1) if usable is None else (np.asarray(usable, bool) & vis.any(axis=-1))
    if not frames.any():
        raise InputError(None, f"no frame has a visible person, cannot place {what}")
    kp, vis = kp[frames], vis[frames]
    return np.where(vis, kp[..., 0], np.nan), np.where(vis, kp[..., 1], np.nan)


def compute_crop_box(
    keypoints: np.ndarray,
    frame_size: tuple[int, int],
    aspect: float = 1.0,
    margin: float = 0.12,
    *,
    usable: np.ndarray | None = None,
    percentile: float = 1.0,
    min_conf: float = 0.0,
) -> CropBox:
    """The one crop box of a video, from its poses.

    Args:
        keypoints: float (T, K, 3) in source pixels (x, y, confidence).
        frame_size: source (W, H).
        aspect: the model's W / H; the box is grown (never shrunk) to this ratio.
        margin: extra space as a fraction of the person's height: `margin` on the left, right
            and below (feet beyond the ankles/heels), 1.5 x `margin` above (the top of the head
            is above the eyes and ears, the highest joints).
        usable: bool (T,) frames to use (default: all with a visible joint).
        percentile: robust extremes: the person's per-frame extents are reduced over frames with
            this low / (100 - this) high percentile, so one spurious detection cannot blow the
            box up (with < 100 frames it is nearly the true min / max).
        min_conf: joints with confidence <= this are ignored.

    Returns:
        The integer box. Where the box fits in the frame it is shifted inside it; a box larger
        than the frame in one dimension stays centred and the crop pads that side.

    Raises:
        InputError (no path) if no frame has a visible joint.
    """
    xs, ys = visible_coordinates(keypoints, usable, min_conf, "the crop box")
    x_lo = np.nanpercentile(np.nanmin(xs, axis=1), percentile)
    x_hi = np.nanpercentile(np.nanmax(xs, axis=1), 100 - percentile)
    y_lo = np.nanpercentile(np.nanmin(ys, axis=1), percentile)
    y_hi = np.nanpercentile(np.nanmax(ys, axis=1), 100 - percentile)
    person_h = max(y_hi - y_lo, x_hi - x_lo, 1.0)
    m = margin * person_h
    x_lo, x_hi = x_lo - m, x_hi + m
    y_lo, y_hi = y_lo - 1.5 * m, y_hi + m
    bw, bh = x_hi - x_lo, y_hi - y_lo
    # Grow the short side to the model's aspect ratio, around the centre.
    if bw / bh < aspect:
        bw = bh * aspect
    else:
        bh = bw / aspect
    cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
    w_i, h_i = int(math.ceil(bw)), int(math.ceil(bh))
    fw, fh = int(frame_size[0]), int(frame_size[1])
    x0 = int(round(cx - w_i / 2))
    y0 = int(round(cy - h_i / 2))
    # Inside the frame where it fits (no padding needed), else centred on the frame's span.
    x0 = min(max(x0, 0), fw - w_i) if w_i <= fw else int(round((fw - w_i) / 2))
    y0 = min(max(y0, 0), fh - h_i) if h_i <= fh else int(round((fh - h_i) / 2))
    return CropBox(x0, y0, x0 + w_i, y0 + h_i, (fw, fh))
