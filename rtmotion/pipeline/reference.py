"""The appearance reference of one frame: the nearest keyframe, warped to the current pose.

One function for inference (`ReferencePicker`, per frame) and training (`reference_batch`, a
batch of frames with training's exclusion rule), so a subject is fed at inference exactly what
it was trained with: the keyframe nearest in pose (`rtmotion.subject.keyframes`), warped by the
analytic pose flow (`rtmotion.kernels.warp_torch.warp_previous`, the warp of the previous
output, with the subject's pose flow config), its warp validity mask, and the keyframe unwarped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.warp_torch import warp_previous
from rtmotion.subject.keyframes import KeyframeSet


@dataclass
class Reference:
    """The generator's reference inputs for a batch of frames.

    warped: B x 3 x H x W in [-1, 1], the keyframe warped to the frame's pose;
    mask: B x 1 x H x W in {0, 1}, where that warp sampled inside the keyframe;
    image: B x 3 x H x W in [-1, 1], the keyframe unwarped;
    index: int64 (B,) which keyframe (into the KeyframeSet).
    """

    warped: torch.Tensor
    mask: torch.Tensor
    image: torch.Tensor
    index: np.ndarray

    def inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ref_warped, ref_mask, ref_image) in the generator's argument order."""
        return self.warped, self.mask, self.image


def keyframe_shift(keyframes: KeyframeSet, index: np.ndarray, origins: np.ndarray | None
                   ) -> torch.Tensor | None:
    """B x 2 float32: frames' box origins (B, 2) minus keyframes `index`'s (follow crop), or
    None when the keyframes have no origins (the fixed crop)."""
    if keyframes.origins is None or origins is None:
        return None
    return torch.from_numpy(np.asarray(origins, np.float32).reshape(-1, 2)
                            - keyframes.origins[np.asarray(index, dtype=np.int64)])


def keyframe_tensors(keyframes: KeyframeSet, device: torch.device | str
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images N x 3 x H x W float32 in [-1, 1], keypoints N x K x 3 float32) on `device`."""
    images = torch.from_numpy(keyframes.images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return images.to(device), torch.from_numpy(keyframes.keypoints).to(device)


def warp_reference(images: torch.Tensor, keypoints: torch.Tensor, index: np.ndarray,
                   kp_cur: torch.Tensor, flow_cfg: PoseFlowConfig | None,
                   shift: torch.Tensor | None = None, flow_stride: int = 1) -> Reference:
    """Warp keyframes `index` (B,) of (images, keypoints) to poses kp_cur (B x K x 3).

    shift: B x 2, the current frames' box origins minus the keyframes' (follow crop, model
    pixels; `warp_previous`), or None (the fixed crop). flow_stride: the pose flow's grid
    (`warp_previous`'s stride: 1 in training, exact)."""
    idx = torch.as_tensor(np.asarray(index, dtype=np.int64), device=images.device)
    image = images.index_select(0, idx)                                # B x 3 x H x W
    warped, mask = warp_previous(image, keypoints.index_select(0, idx), kp_cur.to(images.device),
                                 flow_cfg, None if shift is None else shift.to(images.device),
                                 flow_stride)
    return Reference(warped, mask, image, np.asarray(index, dtype=np.int64))


class ReferencePicker:
    """Per-frame reference of a subject at inference (keyframes held on `device`).

    Args:
        keyframes: the subject's keyframes (at the generator's resolution).
        device: where the keyframes live and the warp runs.
        flow_cfg: the subject's pose flow config (None: the defaults).
        flow_stride: the pose flow's grid (`warp_previous`'s stride).
    """

    def __init__(self, keyframes: KeyframeSet, device: torch.device | str,
                 flow_cfg: PoseFlowConfig | None = None, flow_stride: int = 1) -> None:
        if len(keyframes) == 0:
            raise ValueError("a reference needs at least one keyframe")
        self.keyframes = keyframes
        self.flow_cfg = flow_cfg
        self.flow_stride = int(flow_stride)
        self.images, self.keypoints = keyframe_tensors(keyframes, device)

    @torch.no_grad()
    def __call__(self, kp_np: np.ndarray, kp: torch.Tensor, origin: np.ndarray | None = None
                 ) -> Reference:
        """kp_np: float32 (K, 3) the frame's pose (model pixels); kp: the same as 1 x K x 3 on
        the device; origin: float32 (2,) the frame's box origin (follow crop) or None.
        Returns the batch-of-one `Reference`."""
        index = np.array([self.keyframes.nearest(kp_np)], dtype=np.int64)
        return warp_reference(self.images, self.keypoints, index, kp.float(), self.flow_cfg,
                              keyframe_shift(self.keyframes, index, origin), self.flow_stride)


@torch.no_grad()
def reference_batch(keyframes: KeyframeSet, images: torch.Tensor, keypoints: torch.Tensor,
                    kps: torch.Tensor, frames: np.ndarray, flow_cfg: PoseFlowConfig | None,
                    exclude_near: int, origins: np.ndarray | None = None) -> Reference:
    """References of a training batch (training's rule: never a keyframe taken within
    `exclude_near` frames of the frame predicted, so the generator cannot learn to copy).

    Args:
        keyframes: the run's keyframes; images, keypoints: `keyframe_tensors` of them.
        kps: N x K x 3 poses of the frames (model pixels, on the device).
        frames: int (N,) their indices in the training video.
        origins: float32 (N, 2) their box origins (follow crop, model pixels) or None.
    """
    kps_np = kps.detach().float().cpu().numpy()
    index = np.array([keyframes.nearest(kps_np[i], exclude_near, int(frames[i]))
                      for i in range(len(kps_np))], dtype=np.int64)
    return warp_reference(images, keypoints, index, kps.float(), flow_cfg,
                          keyframe_shift(keyframes, index, origins))
