"""Optional face enhancer (EDN's face GAN): a small residual generator on a crop around the head.

EDN adds a second generator that sees the face crop of the main generator's output and of the
pose maps and predicts a residual: face = crop(G(x)) + G_f(crop(x), crop(G(x))). The crop has a
fixed pixel size (`FaceConfig.crop_size`) so the enhancer has static shapes; the crop box is
found from the keypoints (`rtmotion.pose.boxes.face_crop_box`), the crop is resized to that size (`crop_resize`) and the
residual is resized back and added into the frame (`add_face_residual`). Crop and paste run
outside the exported network, like the warp.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rtmotion.models.blocks import UNetBody
from rtmotion.models.config import FaceConfig

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


def crop_resize(images: torch.Tensor, boxes: Sequence[Box], size: int) -> torch.Tensor:
    """Crop each image to its box and resize to size x size (bilinear, antialiased).

    Args:
        images: B x C x H x W float.
        boxes: B boxes (x0, y0, x1, y1) from `rtmotion.pose.boxes.face_crop_box`.
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
