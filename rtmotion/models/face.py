"""Optional face enhancer (EDN's face GAN): a small residual generator on a crop around the head.

EDN adds a second generator that sees the face crop of the main generator's output and of the
pose maps and predicts a residual: face = crop(G(x)) + G_f(crop(x), crop(G(x))). The crop has a
fixed pixel size (`FaceConfig.crop_size`) so the enhancer has static shapes; the crop box is
found from the keypoints (`face_box`), the crop is resized to that size (`crop_resize`) and the
residual is resized back and added into the frame (`add_face_residual`). Crop and paste run
outside the exported network, like the warp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rtmotion.models.blocks import UNetBody
from rtmotion.models.config import FaceConfig

# BODY25 joint indices (rtmotion.pose.skeleton.BODY25_JOINTS): nose, neck, eyes, ears.
NOSE, NECK, R_EYE, L_EYE, R_EAR, L_EAR = 0, 1, 15, 16, 17, 18
FACE_JOINTS: tuple[int, ...] = (NOSE, R_EYE, L_EYE, R_EAR, L_EAR)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive, square


class FaceEnhancer(nn.Module):
    """(face crop of the frame, face crop of the pose maps) -> (enhanced crop, residual).

    A U-Net (same blocks as the generator) with a zero-initialized output conv, so the enhancer
    starts as the identity and learns only a correction.
    """

    def __init__(self, config: FaceConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or FaceConfig()
        chans = [config.base_channels * 2**i for i in range(config.n_down + 1)]
        self.body = UNetBody(
            3 + config.pose_channels, chans, n_res=config.n_res, res_block="plain", norm=config.norm
        )
        self.head = nn.Conv2d(chans[0], 3, 3, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, frame_crop: torch.Tensor, pose_crop: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Enhance a batch of face crops.

        Args:
            frame_crop: B x 3 x s x s, float in [-1, 1] (s = crop_size), the generator's face.
            pose_crop: B x Cp x s x s, float in [0, 1], the same crop of the pose maps.

        Returns:
            enhanced: B x 3 x s x s, frame_crop + residual (not clamped: clamp when converting
                to uint8, so the training gradient is not cut at the range's ends).
            residual: B x 3 x s x s.
        """
        x = torch.cat([frame_crop, pose_crop * 2.0 - 1.0], dim=1)  # B x (3+Cp) x s x s
        residual = self.head(self.body(x))  # B x 3 x s x s
        return frame_crop + residual, residual


def head_size(keypoints: np.ndarray, min_conf: float = 0.1) -> float | None:
    """A head-size estimate in pixels from BODY25 keypoints (K, 3), or None if no face joint.

    The largest of: ear-to-ear distance (about the head's width), 2.5 x eye-to-eye distance,
    0.8 x nose-to-neck distance, each where both joints are visible (conf >= min_conf). These
    ratios hold for adult proportions seen from the front; taking the largest keeps the estimate
    sane in profile, where the ears or eyes overlap.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[:, 2] >= min_conf

    def dist(a: int, b: int) -> float | None:
        if a < len(kp) and b < len(kp) and vis[a] and vis[b]:
            return float(np.hypot(*(kp[a, :2] - kp[b, :2])))
        return None

    cands = [(dist(R_EAR, L_EAR), 1.0), (dist(R_EYE, L_EYE), 2.5), (dist(NOSE, NECK), 0.8)]
    sizes = [d * k for d, k in cands if d is not None and d > 0]
    return max(sizes) if sizes else None


def face_box(
    keypoints: np.ndarray,
    frame_size: tuple[int, int],
    crop_size: int,
    scale: float = 2.2,
    side: int | None = None,
    min_conf: float = 0.1,
) -> Box | None:
    """A square box around the head, inside the frame, or None if no face joint is visible.

    Center: the mean of the visible nose / eyes / ears. Side: `side` pixels if given (EDN uses
    one fixed side per subject: it keeps the crop steady from frame to frame; compute it once,
    e.g. the median of `scale * head_size` over the training poses), else `scale * head_size`
    (see `head_size`), and at least crop_size / 4 so a tiny head still gets a usable crop. The
    side is capped at min(W, H) and the box shifted (not cut) to lie inside the frame, so it
    stays square and the resize to crop_size x crop_size keeps the aspect ratio.

    Args:
        keypoints: (K, 3) BODY25 keypoints in pixels (x, y, confidence).
        frame_size: (W, H) of the frame the keypoints are in.
        crop_size: the enhancer's crop side (only used for the minimum side).
        scale: box side / head size.
        side: fixed box side in pixels, or None.
        min_conf: confidence below which a joint counts as missing.

    Returns:
        (x0, y0, x1, y1) integer pixels with x1 - x0 == y1 - y0, or None.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    w, h = frame_size
    idx = [j for j in FACE_JOINTS if j < len(kp) and kp[j, 2] >= min_conf]
    if not idx:
        return None
    cx, cy = kp[idx, :2].mean(axis=0)
    if side is None:
        hs = head_size(kp, min_conf)
        side = int(round(scale * hs)) if hs is not None else crop_size
        side = max(side, int(math.ceil(crop_size / 4)))
    side = int(max(1, min(side, w, h)))
    x0 = int(round(cx - side / 2))
    y0 = int(round(cy - side / 2))
    x0 = min(max(x0, 0), w - side)
    y0 = min(max(y0, 0), h - side)
    return x0, y0, x0 + side, y0 + side


def crop_resize(images: torch.Tensor, boxes: Sequence[Box], size: int) -> torch.Tensor:
    """Crop each image to its box and resize to size x size (bilinear, antialiased).

    Args:
        images: B x C x H x W float.
        boxes: B boxes (x0, y0, x1, y1) from `face_box`.
        size: output side.

    Returns:
        B x C x size x size, same dtype/device.
    """
    if len(boxes) != images.shape[0]:
        raise ValueError(f"{len(boxes)} boxes for a batch of {images.shape[0]}")
    crops = []
    for img, (x0, y0, x1, y1) in zip(images, boxes):
        crop = img[None, :, y0:y1, x0:x1]  # 1 x C x side x side
        if crop.shape[-1] != size or crop.shape[-2] != size:
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False,
                                 antialias=crop.shape[-1] > size)
        crops.append(crop)
    return torch.cat(crops, dim=0)


def add_face_residual(
    frames: torch.Tensor, residual: torch.Tensor, boxes: Sequence[Box]
) -> torch.Tensor:
    """Resize each crop-sized residual back to its box and add it into its frame.

    Args:
        frames: B x 3 x H x W float in [-1, 1].
        residual: B x 3 x s x s, the enhancer's residual.
        boxes: B boxes (x0, y0, x1, y1).

    Returns:
        B x 3 x H x W, a new tensor (differentiable w.r.t. both inputs); not clamped.
    """
    out = frames.clone()
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        r = residual[i : i + 1]
        if r.shape[-1] != x1 - x0 or r.shape[-2] != y1 - y0:
            r = F.interpolate(r, size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False)
        out[i : i + 1, :, y0:y1, x0:x1] = out[i : i + 1, :, y0:y1, x0:x1] + r
    return out
