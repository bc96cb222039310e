"""The subject's full frame: the generator's model frame placed back into the scene.

The generator draws the subject's *model frame*: a crop of the target's camera frame (the
subject's `CropBox`) at the model's resolution (demo-ada: a 568 px box around a 512x512 frame,
drawn at 128x128). What a user gets is the target's whole camera frame at its own resolution
(or `--size`): `Canvas.compose` scales the model frame back onto the frame and, when the subject
ships its clean background at full resolution (`Subject.scene_plate`, made by `rtmotion train`),
keeps that sharp plate wherever the generator only redrew the background:

    mask   = where the generated frame differs from the generator's own plate (the person, their
             shadow), a soft ramp, closed and feathered; model pixels, float32 in [0, 1]
    output = mask * upscaled generated frame + (1 - mask) * the full-resolution plate

So the scene is as sharp as the camera's, and only the person is upscaled. Without a scene plate
(an older bundle, or a subject trained with --no-background-plate) the model frame is scaled onto
the frame alone, its border continued where the box does not cover the frame.

A follow-crop subject (`rtmotion.subject.follow`) draws each frame in its own box: `compose`
is then given the frame's `Placement` (its box, and the room behind it, which the frame is
compared with).

Coordinates: a pixel's centre is at its integer coordinate (`rtmotion.subject.crop`). Model
pixel u maps to source pixel X = (u + 0.5) * box_w / W_model - 0.5 + x0 and source pixel X to
output pixel (X + 0.5) * W_out / W_src - 0.5; both are affine, so one `cv2.warpAffine` does it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from rtmotion.pipeline.follow_frame import Placement
from rtmotion.subject.crop import CropBox

#: Difference (0..255, max over RGB, after a 3x3 blur) below which a generated pixel counts as
#: the plate, and the ramp width above it: a generator reproduces its plate to within a few
#: levels; a person differs by tens.
MASK_THRESHOLD = 8.0
MASK_RAMP = 16.0
#: Closing of the mask (model pixels): holes in the person where their colour is near the
#: background's, and the soft edge, are taken from the generated frame too.
MASK_GROW = 2
MASK_FEATHER = 2


@dataclass(frozen=True)
class CanvasGeometry:
    """Where the model frame lies in the output frame.

    box: the subject's crop box in source pixels; model_size: (W, H) of the model frame;
    source_size: (W, H) of the target's camera frame; output_size: (W, H) written.
    """

    box: CropBox
    model_size: tuple[int, int]
    output_size: tuple[int, int]

    @property
    def source_size(self) -> tuple[int, int]:
        return self.box.frame_size

    def model_to_output(self, box: CropBox | None = None) -> np.ndarray:
        """float64 2 x 3 affine: model pixel (u, v, 1) of `box` (None: `self.box`) -> output
        pixel."""
        box = self.box if box is None else box
        (mw, mh), (sw, sh), (ow, oh) = self.model_size, self.source_size, self.output_size
        sx, sy = mw / box.width, mh / box.height                 # model px per source px
        ox, oy = ow / sw, oh / sh                                # output px per source px
        return np.array([[ox / sx, 0.0, (0.5 / sx + box.x0) * ox - 0.5],
                         [0.0, oy / sy, (0.5 / sy + box.y0) * oy - 0.5]])

    def keypoints_to_output(self, keypoints: np.ndarray) -> np.ndarray:
        """float (..., K, 3) in model pixels -> output pixels (confidence kept; a missing
        joint stays (0, 0, 0))."""
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        m = self.model_to_output()
        vis = kp[..., 2] > 0
        kp[..., 0] = np.where(vis, kp[..., 0] * m[0, 0] + m[0, 2], 0.0)
        kp[..., 1] = np.where(vis, kp[..., 1] * m[1, 1] + m[1, 2], 0.0)
        return kp


class Canvas:
    """Composes model frames into the subject's full frame (module docstring).

    Args:
        geometry: the model frame's place in the output.
        scene_plate: uint8 (H_src, W_src, 3) RGB, the clean background at the camera's
            resolution, or None.
        model_plate: uint8 (H, W, 3) RGB, the plate the generator holds (model resolution), or
            None; needed with `scene_plate` (what "only background" looks like in the model frame)
            unless each frame brings its own (`compose(image, placement)`: a follow crop).
    """

    def __init__(self, geometry: CanvasGeometry, scene_plate: np.ndarray | None = None,
                 model_plate: np.ndarray | None = None) -> None:
        self.geometry = geometry
        self._affine = geometry.model_to_output()
        ow, oh = geometry.output_size
        self._plate_out: np.ndarray | None = None
        self._plate_model: np.ndarray | None = None
        if scene_plate is not None:
            sw, sh = geometry.source_size
            if scene_plate.shape[:2] != (sh, sw):
                raise ValueError(f"scene plate is {scene_plate.shape[1]}x{scene_plate.shape[0]}, "
                                 f"the camera frame {sw}x{sh}")
            if (ow, oh) != (sw, sh):
                shrink = ow < sw or oh < sh
                self._plate_out = cv2.resize(scene_plate, (ow, oh), interpolation=cv2.INTER_AREA
                                             if shrink else cv2.INTER_CUBIC)
            else:
                self._plate_out = np.ascontiguousarray(scene_plate)
        if model_plate is not None:
            self._plate_model = np.ascontiguousarray(model_plate, dtype=np.uint8)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the frames `compose` returns."""
        return self.geometry.output_size

    def person_mask(self, image: np.ndarray, plate: np.ndarray | None = None) -> np.ndarray:
        """float32 (H, W) in [0, 1], model pixels: where `image` is not the generator's plate
        (`plate`, uint8 (H, W, 3); None: the canvas's model plate)."""
        plate = self._plate_model if plate is None else plate
        assert plate is not None
        diff = cv2.absdiff(image, plate).max(axis=2)
        diff = cv2.GaussianBlur(diff, (3, 3), 0).astype(np.float32)
        mask = np.clip((diff - MASK_THRESHOLD) / MASK_RAMP, 0.0, 1.0)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_GROW + 1,) * 2)
        mask = cv2.dilate(mask, kernel)
        k = 2 * MASK_FEATHER + 1
        return cv2.GaussianBlur(mask, (k, k), 0)

    def compose(self, image: np.ndarray, placement: Placement | None = None,
                sharpen: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
                ) -> np.ndarray:
        """uint8 (H, W, 3) model frame -> uint8 (H_out, W_out, 3) full frame, a new array.

        placement: where a follow-crop subject drew this frame (its box and the room behind
        it); None: the frame is the canvas's own box.
        sharpen: adds detail to the enlarged person before it is blended onto the plate
        (`rtmotion.pipeline.detail`): (enlarged uint8 (h, w, 3), affine 2 x 3 from model pixels
        to its pixels, person mask float32 (h, w)) -> uint8 (h, w, 3). Only with a scene plate
        (without one the whole model frame is enlarged, and the person has no mask)."""
        mh, mw = image.shape[:2]
        if (mw, mh) != tuple(self.geometry.model_size):
            raise ValueError(f"model frame is {mw}x{mh}, the canvas was made for "
                             f"{self.geometry.model_size[0]}x{self.geometry.model_size[1]}")
        size = self.geometry.output_size
        affine = self._affine if placement is None else self.geometry.model_to_output(placement.box)
        plate = self._plate_model if placement is None else placement.plate
        if self._plate_out is None or plate is None:
            # Cubic: the model frame is enlarged several times; linear looks visibly softer.
            return cv2.warpAffine(image, affine, size, flags=cv2.INTER_CUBIC,
                                  borderMode=cv2.BORDER_REPLICATE)
        out = self._plate_out.copy()
        mask = self.person_mask(image, plate)
        roi = self._output_roi(mask, affine)
        if roi is None:  # nothing but background: the sharp plate is the frame
            return out
        x0, y0, x1, y1 = roi
        # Only the person's box is enlarged and blended (a few times cheaper than the frame).
        affine = affine.copy()
        affine[:, 2] -= (x0, y0)
        big = cv2.warpAffine(image, affine, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(mask, affine, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        if sharpen is not None:
            big = sharpen(big, affine, alpha)
        out[y0:y1, x0:x1] = cv2.blendLinear(big, out[y0:y1, x0:x1], alpha, 1.0 - alpha)
        return out

    def _output_roi(self, mask: np.ndarray, affine: np.ndarray) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) output pixels holding every non-zero mask pixel (None: none)."""
        ys, xs = np.nonzero(mask > 1e-3)
        if len(xs) == 0:
            return None
        m = affine
        ow, oh = self.geometry.output_size
        # A model pixel covers +-0.5 of itself, and linear interpolation reaches one more.
        x0 = int(np.floor((xs.min() - 1.5) * m[0, 0] + m[0, 2]))
        x1 = int(np.ceil((xs.max() + 1.5) * m[0, 0] + m[0, 2])) + 1
        y0 = int(np.floor((ys.min() - 1.5) * m[1, 1] + m[1, 2]))
        y1 = int(np.ceil((ys.max() + 1.5) * m[1, 1] + m[1, 2])) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(ow, x1), min(oh, y1)
        return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def canvas_geometry(box: CropBox, model_size: tuple[int, int],
                    output_size: tuple[int, int] | None = None) -> CanvasGeometry:
    """The geometry of a subject's full frame; `output_size` None: the camera frame's size."""
    out = box.frame_size if output_size is None else (int(output_size[0]), int(output_size[1]))
    if out[0] < 2 or out[1] < 2:
        raise ValueError(f"output size {out[0]}x{out[1]} is too small")
    return CanvasGeometry(box, (int(model_size[0]), int(model_size[1])), out)
