"""Full-resolution detail from the keyframes: the enlarged person gets the camera's sharpness
where the generated frame is the warped keyframe.

The output frame shows the person enlarged from the model frame (`rtmotion.pipeline.canvas`:
a 128 px model frame onto a 1085 px box is 8.5x), so on its own it is a blur. The subject's
appearance reference is a real keyframe warped to the current pose (`rtmotion.pipeline.
reference`), and the generator passes it through where it fits (on a phone clip, a scratch count
of its candidate weights put near half of the person's pixels there). That keyframe exists at
the camera's resolution (`rtmotion.subject.keyframe_detail`), so where the generated frame agrees
with the warped keyframe its fine detail can be added back:

    lr      = the keyframe's model-frame image warped to the pose (the pose flow, as the
              reference warp: model pixels)
    fine    = the keyframe's detail image minus its Gaussian blur of DETAIL_SIGMA model pixels
              (once per keyframe), warped by the same flow, sampled at output pixels
    agree   = 1 where the generated model frame is within AGREE_LEVELS of lr (max over RGB,
              3x3 blur), falling to 0 over AGREE_RAMP more levels, eroded by AGREE_ERODE model
              pixels (at the person's outline the two disagree within a pixel: added detail
              there drew halos)
    output += person mask * agree * fine

`fine` is the keyframe's detail finer than a model pixel, which enlarging the model
frame cannot make, aligned with what the generator passed through; where the generator drew on
its own (a hand no keyframe shows, a new fold) nothing is added and the frame stays as it was.

Measured (docs/BENCHMARKS.md, "Full-resolution detail from the keyframes", `rtmotion eval S`
with and without `--no-detail`): the output frame's fine detail (eval's "detail" row) from 0.48
to 0.71 of the camera's on demo-ada and 0.56 to 0.65 on a phone clip, its body SSIM within
-0.003..+0.011, its flicker up by 0.2 grey levels (on real clips still under the real video's).

Runs on the CPU in the finish stage, whatever the engine (it needs the generated uint8 frame, the
pose and which keyframe was used: not the engine's tensors), so every backend gets the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.flow_torch import pose_flow_torch
from rtmotion.kernels.warp_torch import shift_keypoints
from rtmotion.subject.keyframe_detail import KeyframeDetail
from rtmotion.subject.keyframes import KeyframeSet

#: The generated frame counts as the warped keyframe within this many grey levels (0..255, max
#: over RGB after a 3x3 blur), and not at all AGREE_RAMP levels further; AGREE_ERODE model pixels
#: of disagreement around any pixel count for it. Chosen on a phone clip's held-out frames in
#: scratch tries: 8 / 16 / 0 added less detail; 16 / 32 / 0 more, with white halos at the
#: outline (looked at); 16 / 32 / 1 most of it without them.
AGREE_LEVELS = 16.0
AGREE_RAMP = 32.0
AGREE_ERODE = 1
#: The detail added is the detail image minus its Gaussian blur of this many model pixels
#: (sigma). In scratch tries on a phone clip's held-out frames, 0.25 added less, 0.5 lowered the
#: output's SSIM more, and either subtraction (this blur, or the warped model-frame keyframe
#: enlarged like the frame) scored alike; the blur costs a third and is made once per keyframe.
DETAIL_SIGMA = 0.35
#: Where the output enlarges the person past the detail image's resolution (a phone clip's
#: 1085 px box, its detail at 768 px), the detail is made at the detail image's resolution and
#: enlarged (cubic) instead of at every output pixel. Measured (docs/BENCHMARKS.md, "The detail
#: at its own resolution"): uni8 at 692x1108, eval's output-frame detail 0.651 -> 0.644 (0.56
#: without any), SSIM unchanged, convert 7 % faster. A flag for that comparison.
DETAIL_AT_ITS_RESOLUTION = True
#: The pose flow's grid step (model pixels): the flow is smooth and sampled again at output pixels.
DETAIL_FLOW_STRIDE = 2

#: What `Canvas.compose` calls with the enlarged frame: (big uint8 (h, w, 3), affine 2 x 3 from
#: model pixels to big's pixels, alpha float32 (h, w) the person mask) -> the frame with detail.
Sharpen = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class DetailLayer:
    """A subject's keyframe detail, ready for `for_frame` (module docstring).

    keyframes: the subject's keyframes (model resolution, keypoints, origins);
    detail: the same keyframes at the detail resolution; flow_config: the subject's pose flow.
    """

    keyframes: KeyframeSet
    detail: KeyframeDetail
    flow_config: PoseFlowConfig | None = None

    def __post_init__(self) -> None:
        # keyframe index -> its detail image's, by video frame (a subset of the keyframes, as
        # eval's fit draws training blocks with, keeps the detail of those it has)
        of_frame = {int(f): j for j, f in enumerate(self.detail.frames)}
        self._detail_of = {k: of_frame[int(f)] for k, f in enumerate(self.keyframes.frames)
                           if int(f) in of_frame}
        self._kp = torch.from_numpy(self.keyframes.keypoints)               # N x K x 3
        self._fine: dict[int, np.ndarray] = {}                              # `fine`'s cache

    def fine(self, index: int) -> np.ndarray:
        """uint8 (Hd, Wd, 3): keyframe `index`'s detail finer than DETAIL_SIGMA model pixels
        (the detail image minus its Gaussian blur), offset by 128 (128: none). Made once per
        keyframe: per frame only its warp is left."""
        if index not in self._fine:
            image = self.detail.images[self._detail_of[index]]
            sigma = DETAIL_SIGMA * image.shape[1] / self.keyframes.size[0]  # detail px
            self._fine[index] = cv2.addWeighted(image, 1.0, cv2.GaussianBlur(image, (0, 0), sigma),
                                                -1.0, 128.0)
        return self._fine[index]

    def for_frame(self, generated: np.ndarray, keypoints: np.ndarray, index: int,
                  origin: np.ndarray | None = None) -> Sharpen | None:
        """The sharpening of one frame, for `Canvas.compose` (None: that keyframe has no detail).
        Nothing is computed until it is called (a session that never composes a full frame pays
        nothing), and its model-frame part once (a repeated frame is composed again).

        Args:
            generated: uint8 (H, W, 3) the frame as the generator made it (model pixels).
            keypoints: float32 (K, 3) its pose, model pixels of its box.
            index: the keyframe its reference used (into `keyframes`).
            origin: float32 (2,) its box's origin in model pixels (follow crop), or None.
        """
        k = int(index)
        if k not in self._detail_of:
            return None
        model: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (fine, where, agree), once

        def sharpen(big: np.ndarray, affine: np.ndarray, alpha: np.ndarray) -> np.ndarray:
            if not model:
                model.append(self._model_part(generated, keypoints, k, origin))
            fine, where, agree = model[0]
            bh, bw = big.shape[:2]
            # Sampled at big's pixels, or at the detail image's own where big is finer
            # (DETAIL_AT_ITS_RESOLUTION) and enlarged: cubic (linear kept less of it).
            scale = min(1.0, fine.shape[1] / (generated.shape[1] * float(affine[0, 0])))
            lw, lh = max(1, round(bw * scale)), max(1, round(bh * scale))
            if (lw, lh) == (bw, bh) or not DETAIL_AT_ITS_RESOLUTION:
                return cv2.add(big, self._weighted(fine, where, agree, affine, alpha, (bw, bh)),
                               dtype=cv2.CV_8U)
            r = np.array([[lw / bw], [lh / bh]], np.float32)
            # model px -> low px, pixel centres as cv2.resize maps low back onto big
            low = r * affine
            low[:, 2:] += 0.5 * (r - 1.0)
            detail = self._weighted(fine, where, agree, low,
                                    cv2.resize(alpha, (lw, lh), interpolation=cv2.INTER_AREA),
                                    (lw, lh))
            detail = cv2.resize(detail, (bw, bh), interpolation=cv2.INTER_CUBIC)
            return cv2.add(big, detail, dtype=cv2.CV_8U)

        return sharpen

    @staticmethod
    def _weighted(fine: np.ndarray, where: np.ndarray, agree: np.ndarray, affine: np.ndarray,
                  alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """float32 (h, w, 3): the detail to add over an area of `size` (w, h) whose pixels
        `affine` (2 x 3) maps model pixels to, person mask `alpha` float32 (h, w) there."""

        def enlarge(a: np.ndarray) -> np.ndarray:
            return cv2.warpAffine(a, affine, size, flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)

        # The sampling maps are smooth: enlarged bilinearly, as the flow would be at these
        # pixels. (Each step is one OpenCV call over the area: ~2 ms at 520 x 1100 on one core.)
        detail = cv2.remap(fine, enlarge(where), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
        detail = cv2.subtract(detail, np.full_like(detail, 128), dtype=cv2.CV_16S)
        weight = cv2.multiply(enlarge(agree), alpha)                    # float32 (h, w)
        return cv2.multiply(detail, cv2.merge([weight] * 3), dtype=cv2.CV_32F)

    def _model_part(self, generated: np.ndarray, keypoints: np.ndarray, k: int,
                    origin: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What one frame's sharpening needs at model pixels: keyframe k's `fine` image, where
        each model pixel samples it (float32 H x W x 2, its pixels) and the agreement of the
        generated frame with the warped keyframe (float32 H x W in [0, 1])."""
        h, w = generated.shape[:2]
        shift = None
        if origin is not None and self.keyframes.origins is not None:
            shift = torch.from_numpy(np.asarray(origin, np.float32).reshape(1, 2)
                                     - self.keyframes.origins[k:k + 1])
        kp = torch.from_numpy(np.asarray(keypoints, np.float32))[None]
        # The reference warp's flow (`warp_previous`): from the keyframe's pose to this one.
        flow = pose_flow_torch(shift_keypoints(self._kp[k:k + 1], shift), kp, (w, h),
                               self.flow_config, DETAIL_FLOW_STRIDE)
        if shift is not None:
            flow = flow + shift.view(1, 1, 1, 2)
        flow = flow[0].numpy()                                             # H x W x 2, px
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        sx, sy = gx + flow[..., 0], gy + flow[..., 1]                      # keyframe model px
        lr = cv2.remap(self.keyframes.images[k], sx, sy, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)                    # H x W x 3 uint8
        diff = cv2.GaussianBlur(cv2.absdiff(generated, lr).max(axis=2), (3, 3), 0)
        if AGREE_ERODE:
            size = 2 * AGREE_ERODE + 1
            diff = cv2.dilate(diff, np.ones((size, size), np.uint8))
        agree = np.clip(1.0 - (diff.astype(np.float32) - AGREE_LEVELS) / AGREE_RAMP, 0.0, 1.0)
        fine = self.fine(k)
        # Where each model pixel samples the detail image (its pixels, centre convention).
        where = np.dstack([(sx + 0.5) * np.float32(fine.shape[1] / w) - 0.5,
                           (sy + 0.5) * np.float32(fine.shape[0] / h) - 0.5])  # H x W x 2
        return fine, where, agree
