"""The crop that follows the person: the generator's pixels go to the person, not the room.

A subject's fixed crop (`rtmotion.subject.crop`) holds the person wherever they go in the video,
so on a wide shot most of the model's pixels draw the room (demo-ada: a 568 px box drawn at
128 px, the person ~75 px tall). A *follow crop* is a box of one size for the whole subject (the
person in their widest pose, with margins), placed on every frame around that frame's person:
the model frame then holds the person at ~1.5x the linear resolution for the same cost.

The box only translates from frame to frame (its size is fixed), so two frames' model pixels
differ by a shift: a model pixel u of frame t and u + (o_t - o_s) of frame s (o = the box's
origin in model pixels, `origin_model`) show the same scene point. The warps of the previous
output and of a keyframe add that shift to the pose flow (`rtmotion.kernels.warp_torch.
warp_previous(..., shift=)`), so the warp is done in the camera's coordinates and a moving box
does not break temporal smoothing. The room at the box comes from the subject's full-resolution
plate (`Subject.scene_plate`), cropped with the box and given to the generator as an input.

Coordinates are those of `rtmotion.subject.crop`: the fixed crop (the subject's *reference
frame*: normalization, pose statistics, the poses a Session is given) and the follow box are
both `CropBox`es of the camera frame; keypoints move between them through camera pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtmotion.subject.crop import CropBox, visible_coordinates


@dataclass(frozen=True)
class FollowCrop:
    """A box of fixed size, placed per frame around the person.

    Attributes:
        size: (W, H) of the box in camera pixels.
        frame_size: the camera frame's (W, H).
        margin: space around the joints as a fraction of the box height (as `compute_crop_box`:
            1.5 x above for the top of the head).
    """

    size: tuple[int, int]
    frame_size: tuple[int, int]
    margin: float = 0.04

    def box(self, keypoints: np.ndarray, min_conf: float = 0.0) -> CropBox | None:
        """The box of one frame: centred on its visible joints (camera pixels, (K, 3));
        None when no joint is visible."""
        kp = np.asarray(keypoints, dtype=np.float64)
        vis = kp[:, 2] > min_conf
        if not vis.any():
            return None
        xs, ys = kp[vis, 0], kp[vis, 1]
        m = self.margin * self.size[1]
        cx = (xs.min() + xs.max()) / 2
        cy = (ys.min() - 1.5 * m + ys.max() + m) / 2
        return self.box_at(cx, cy)

    def centre_box(self) -> CropBox:
        """The box at the frame's centre (where a video without a person yet starts)."""
        return self.box_at(self.frame_size[0] / 2, self.frame_size[1] / 2)

    def box_at(self, cx: float, cy: float) -> CropBox:
        """The box centred on (cx, cy) camera pixels (rounded to whole pixels)."""
        w, h = self.size
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        return CropBox(x0, y0, x0 + w, y0 + h, self.frame_size)

    def boxes(self, keypoints: np.ndarray, min_conf: float = 0.0) -> list[CropBox]:
        """One box per frame of (T, K, 3) camera-pixel poses; a frame without a person keeps
        the box of the last frame with one (the first frames without: the frame's centre)."""
        out: list[CropBox] = []
        last = self.centre_box()
        for kp in np.asarray(keypoints):
            box = self.box(kp, min_conf)
            last = box if box is not None else last
            out.append(last)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"size": list(self.size), "frame_size": list(self.frame_size), "margin": self.margin}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FollowCrop:
        return cls((int(d["size"][0]), int(d["size"][1])),
                   (int(d["frame_size"][0]), int(d["frame_size"][1])), float(d.get("margin", 0.04)))


def origin_model(box: CropBox, model_size: tuple[int, int]) -> np.ndarray:
    """float32 (2,): the box's origin (x0, y0) in model pixels (camera pixels x model px per
    camera px). Two boxes of one size: a scene point at model pixel u in box a is at
    u + origin_model(a) - origin_model(b) in box b."""
    return origins_model(np.array([[box.x0, box.y0]]), (box.width, box.height), model_size)[0]


def origins_model(origins: np.ndarray, box_size: tuple[int, int], model_size: tuple[int, int]
                  ) -> np.ndarray:
    """float32 (N, 2): box origins (N, 2) in camera pixels, of boxes of `box_size` (W, H) drawn
    at `model_size` (W, H), in model pixels (`origin_model` of each)."""
    scale = np.array([model_size[0] / box_size[0], model_size[1] / box_size[1]])
    return (np.asarray(origins, dtype=np.float64) * scale).astype(np.float32)


def fixed_to_follow(keypoints: np.ndarray, fixed: CropBox, box: CropBox,
                    model_size: tuple[int, int]) -> np.ndarray:
    """Keypoints (..., K, 3) in the fixed crop's model pixels -> in `box`'s model pixels."""
    return box.keypoints_to_crop(fixed.keypoints_from_crop(keypoints, model_size), model_size)


def compute_follow_crop(keypoints: np.ndarray, fixed: CropBox, aspect: float = 1.0,
                        margin: float = 0.04, *, usable: np.ndarray | None = None,
                        percentile: float = 1.0, min_conf: float = 0.0) -> FollowCrop | None:
    """The follow box of a video from its poses: the person's per-frame extent (robust high
    percentile over frames), plus margins, grown to the model's aspect ratio.

    Args:
        keypoints: float (T, K, 3) camera pixels.
        fixed: the video's fixed crop (`compute_crop_box`); when the follow box would not be
            smaller than it by at least 10 % a side, there is nothing to gain: None.
        aspect: the model's W / H.
        margin, percentile, min_conf, usable: as `compute_crop_box`.
    """
    xs, ys = visible_coordinates(keypoints, usable, min_conf, "the follow crop")
    ext_w = np.nanpercentile(np.nanmax(xs, axis=1) - np.nanmin(xs, axis=1), 100 - percentile)
    ext_h = np.nanpercentile(np.nanmax(ys, axis=1) - np.nanmin(ys, axis=1), 100 - percentile)
    # The margin is a fraction of the box height, which depends on the margin: solve for it.
    bh = ext_h / (1.0 - 2.5 * margin)
    bw = ext_w + 2 * margin * bh
    if bw / bh < aspect:
        bw = bh * aspect
    else:
        bh = bw / aspect
    w, h = int(math.ceil(bw)), int(math.ceil(bh))
    if w > 0.9 * fixed.width or h > 0.9 * fixed.height:
        return None
    return FollowCrop((w, h), fixed.frame_size, margin)
