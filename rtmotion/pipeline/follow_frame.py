"""Per-frame placement of a follow-crop subject's model frame (`rtmotion.subject.follow`).

A Session is given poses in the subject's *reference frame* (its fixed crop at the model's
resolution: what normalization produces). For a subject trained with a follow crop, each frame
is placed here: the box around the person, the pose in that box's model pixels, the box's
origin (for the shift of the warps) and the room behind it (the full-resolution plate cropped
with the box: the generator's `plate` input, and what the canvas compares the frame with).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtmotion.subject.crop import CropBox
from rtmotion.subject.follow import FollowCrop, fixed_to_follow, origin_model


@dataclass(frozen=True)
class Placement:
    """Where one frame of a follow-crop subject is drawn.

    box: the frame's follow box (camera pixels); keypoints: float32 (K, 3) in its model pixels;
    origin: float32 (2,) the box's origin in model pixels; plate: uint8 (H, W, 3) RGB, the room
    behind the box at the model's resolution.
    """

    box: CropBox
    keypoints: np.ndarray
    origin: np.ndarray
    plate: np.ndarray


class FollowPlacer:
    """Places frames of one subject (module docstring).

    Args:
        fixed: the subject's fixed crop (the frame its poses are given in).
        follow: the subject's follow crop.
        scene_plate: uint8 (H_cam, W_cam, 3) RGB, the clean room at the camera's resolution.
        model_size: (W, H) of the model frame.
    """

    def __init__(self, fixed: CropBox, follow: FollowCrop, scene_plate: np.ndarray,
                 model_size: tuple[int, int]) -> None:
        self.fixed = fixed
        self.follow = follow
        self.scene_plate = np.ascontiguousarray(scene_plate, dtype=np.uint8)
        self.model_size = (int(model_size[0]), int(model_size[1]))
        self._last_box = follow.centre_box()
        self._plates: dict[tuple[int, int], np.ndarray] = {}

    def reset(self) -> None:
        self._last_box = self.follow.centre_box()

    def plate(self, box: CropBox) -> np.ndarray:
        """uint8 (H, W, 3): the room behind `box` at the model's resolution (a few recent boxes
        are kept: a person standing still keeps one box)."""
        key = (box.x0, box.y0)
        plate = self._plates.get(key)
        if plate is None:
            if len(self._plates) > 64:
                self._plates.clear()
            plate = self._plates[key] = box.crop_image(self.scene_plate, self.model_size)
        return plate

    def __call__(self, keypoints: np.ndarray) -> Placement:
        """keypoints: float32 (K, 3) in the fixed crop's model pixels (a frame without a person
        keeps the last box)."""
        cam = self.fixed.keypoints_from_crop(keypoints, self.model_size)
        box = self.follow.box(cam)
        box = self._last_box if box is None else box
        self._last_box = box
        kp = box.keypoints_to_crop(cam, self.model_size)
        return Placement(box, kp, origin_model(box, self.model_size), self.plate(box))

    def to_follow(self, keypoints: np.ndarray, box: CropBox) -> np.ndarray:
        """float32 (..., K, 3) fixed-crop model pixels -> `box`'s model pixels."""
        return fixed_to_follow(keypoints, self.fixed, box, self.model_size)
