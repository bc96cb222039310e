"""The appearance reference of one frame: the nearest keyframe, warped to the current pose.

One function for inference (`ReferencePicker`, per frame) and training (`reference_batch`, a
batch of frames with training's exclusion rule), so a subject is fed at inference what
it was trained with: the keyframe nearest in pose (`rtmotion.subject.keyframes`), warped by the
analytic pose flow (`rtmotion.kernels.warp_torch.warp_previous`, the warp of the previous
output, with the subject's pose flow config), its warp validity mask, and the keyframe unwarped
(between two keyframes, for a few frames, a blend of the two: below).

At inference the nearest keyframe changes now and then as the pose moves, and the generator's
frame jumps with it (the other keyframe's folds, shading, face): driven by another clip's poses
(200 frames) the keyframe changed 14-21 times and the frames next to a change jittered 2.7-3.7x
the others (docs/BENCHMARKS.md, "Fading between keyframes"). So
`ReferencePicker` fades from the keyframe in use to the new one over `FADE_FRAMES` frames
(`blend_references`): the generator's own previous frame carries the rest. Training draws one
keyframe per frame (`reference_batch`: frames are drawn independently there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.flow_torch import body_weight_torch
from rtmotion.kernels.warp_torch import warp_previous
from rtmotion.subject.keyframes import KeyframeSet


@dataclass
class Reference:
    """The generator's reference inputs for a batch of frames.

    warped: B x 3 x H x W in [-1, 1], the keyframe warped to the frame's pose;
    mask: B x 1 x H x W in [0, 1], where that warp sampled inside the keyframe (1) and not a
        ghost of the keyframe's own person (`ghost_share`, with `PoseFlowConfig.mask_ghosts`);
        in a fade between two keyframes (`blend_references`) a mix of theirs;
    image: B x 3 x H x W in [-1, 1], the keyframe unwarped;
    index: int64 (B,) which keyframe (into the KeyframeSet);
    distance: at inference (`ReferencePicker`), how far in pose (body heights,
        `KeyframeSet.distances`) the frame is from that keyframe, its nearest; None in training.
    """

    warped: torch.Tensor
    mask: torch.Tensor
    image: torch.Tensor
    index: np.ndarray
    distance: float | None = None

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
                   shift: torch.Tensor | None = None, flow_stride: int = 1,
                   bodies: torch.Tensor | None = None) -> Reference:
    """Warp keyframes `index` (B,) of (images, keypoints) to poses kp_cur (B x K x 3).

    shift: B x 2, the current frames' box origins minus the keyframes' (follow crop, model
    pixels; `warp_previous`), or None (the fixed crop). flow_stride: the pose flow's grid
    (`warp_previous`'s stride: 1 in training, exact). bodies: `keyframe_body` of all the
    keyframes (N x 1 x H x W), computed once by a caller that warps them again and again; None:
    computed here for those warped."""
    idx = torch.as_tensor(np.asarray(index, dtype=np.int64), device=images.device)
    image = images.index_select(0, idx)                                # B x 3 x H x W
    kp_key, kp_cur = keypoints.index_select(0, idx), kp_cur.to(images.device)
    ghosts = masks_ghosts(flow_cfg)
    if ghosts:
        body = (keyframe_body(kp_key, image, flow_cfg) if bodies is None
                else bodies.index_select(0, idx))
    # The keyframe's own body rides along as a fourth channel through the same warp.
    source = torch.cat([image, body], 1) if ghosts else image
    warped, mask = warp_previous(source, kp_key, kp_cur, flow_cfg,
                                 None if shift is None else shift.to(images.device), flow_stride)
    if ghosts:
        warped, body_sampled = warped[:, :3], warped[:, 3:]
        mask = mask * (1.0 - ghost_share(body_sampled, kp_cur, flow_cfg))
    return Reference(warped, mask, image, np.asarray(index, dtype=np.int64))


def masks_ghosts(flow_cfg: PoseFlowConfig | None) -> bool:
    """Whether references warped with `flow_cfg` get the ghost mask (None: the defaults do)."""
    return flow_cfg is None or flow_cfg.mask_ghosts


def keyframe_body(kp_key: torch.Tensor, image: torch.Tensor, flow_cfg: PoseFlowConfig | None
                  ) -> torch.Tensor:
    """B x 1 x H x W in [0, 1]: where each keyframe's person is in its own image (the pose
    flow's body weight of its pose, `body_weight_torch`), in the image's dtype."""
    h, w = image.shape[2:]
    return body_weight_torch(kp_key, (w, h), flow_cfg)[:, None].to(image.dtype)


def ghost_share(body_sampled: torch.Tensor, kp_cur: torch.Tensor,
                flow_cfg: PoseFlowConfig | None) -> torch.Tensor:
    """B x 1 x H x W in [0, 1]: how much of each warped pixel is a ghost, the keyframe's person
    sampled where the pose drawn has no body.

    A keyframe in another pose has its limbs elsewhere; the pose flow moves the pixels near the
    bones of the pose drawn, but beside them (the falloff band and beyond) it samples the
    keyframe near where they were, so a leg the keyframe holds apart shows as a smeared leg
    beside the legs drawn together (looked at: fresh8b's profile poses on uni8, boots and dark
    tendrils at the feet). The share is the keyframe's body there minus the drawn pose's
    (`body_sampled`: `keyframe_body` warped with the image, B x 1 x H x W), so a keyframe in
    the very pose drawn has no ghost at all.
    """
    h, w = body_sampled.shape[2:]
    drawn = body_weight_torch(kp_cur, (w, h), flow_cfg)[:, None].to(body_sampled.dtype)
    return (body_sampled - drawn).clamp_(0.0, 1.0)


#: Frames over which the reference fades from the keyframe in use to a new nearest one (the
#: old one's weight 3/4, 2/4, 1/4 at most). Measured (docs/BENCHMARKS.md, "Fading between
#: keyframes", tools/bench_keyframe_fade.py): against none, the flicker over the real video's
#: fell on all four subjects tried and the generated frames next to a change of keyframe
#: jittered 10-14 % less (driven by another clip's poses), body SSIM within 0.001. In scratch
#: tries, 6 frames cut the flicker further but lost face SSIM, and keeping the keyframe in use
#: while it was nearly as near (hysteresis) halved the changes but lost face SSIM: neither kept.
FADE_FRAMES = 3
#: Where the two keyframes differ by more than FADE_AGREE_LEVELS grey levels (0..255, max over
#: RGB), the old one's share falls, to none FADE_AGREE_RAMP levels further: a dark boot on a
#: white floor where the new keyframe has none is a different silhouette, which a dissolve shows
#: twice (looked at: four boots on ubc8 for three frames), so the new one takes it at once;
#: shading, folds and texture, which differ less, dissolve. Against dissolving everything (255,
#: the same benchmark) that keeps a third to three quarters of its cut in flicker, without the
#: ghosts; 16 levels kept less.
FADE_AGREE_LEVELS = 64.0
FADE_AGREE_RAMP = 64.0


def _agreement(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """B x 1 x H x W in [0, 1]: 1 where images a and b (B x 3 x H x W in [-1, 1]) differ by at
    most FADE_AGREE_LEVELS grey levels, 0 from FADE_AGREE_RAMP levels further."""
    levels = (a - b).abs().amax(1, keepdim=True) * 127.5
    return (1.0 - (levels - FADE_AGREE_LEVELS) / FADE_AGREE_RAMP).clamp(0.0, 1.0)


def blend_references(old: Reference, new: Reference, weight_old: float) -> Reference:
    """The reference `weight_old` of the way back from `new` to `old`: per pixel, the old one's
    share is `weight_old` where the two agree (`_agreement`), less where they do not. The warps
    and the masks mix with the warps' shares, the unwarped images with their own; the index is
    `new`'s.

    The mask mixes too, so where the keyframes disagree about where the person is, the generator
    is told the reference is only partly valid there and leans on its own previous frame: in a
    scratch try, a blend that kept the mask {0, 1} (each pixel from whichever warp was valid
    there) flickered more and scored lower."""
    share = weight_old * _agreement(old.warped, new.warped)               # B x 1 x H x W
    share_image = weight_old * _agreement(old.image, new.image)
    return Reference(share * old.warped + (1.0 - share) * new.warped,
                     share * old.mask + (1.0 - share) * new.mask,
                     share_image * old.image + (1.0 - share_image) * new.image, new.index)


class ReferencePicker:
    """Per-frame reference of a subject at inference (keyframes held on `device`), fading from
    one keyframe to the next over `FADE_FRAMES` frames (module docstring).

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
        # each keyframe's own body, for the ghost mask: once, not every frame
        self.bodies = (keyframe_body(self.keypoints, self.images, flow_cfg)
                       if masks_ghosts(flow_cfg) else None)
        self._current: int | None = None  # the keyframe the last frame used
        self._fading_from: int | None = None  # the one it is fading from, for `_fade_left` more
        self._fade_left = 0

    @torch.no_grad()
    def __call__(self, kp_np: np.ndarray, kp: torch.Tensor, origin: np.ndarray | None = None,
                 continuing: bool = False) -> Reference:
        """kp_np: float32 (K, 3) the frame's pose (model pixels); kp: the same as 1 x K x 3 on
        the device; origin: float32 (2,) the frame's box origin (follow crop) or None;
        continuing: this frame follows the last one asked for (the generator warps its previous
        frame): a change of keyframe fades in. False (a sequence starts): the nearest, plainly.
        Returns the batch-of-one `Reference`, with the frame's distance to that keyframe."""
        distances = self.keyframes.distances(kp_np)
        nearest = int(np.argmin(distances))              # `KeyframeSet.nearest`, distance kept
        if not continuing:
            self._fade_left = 0
        elif nearest != self._current and self._current is not None:
            self._fading_from, self._fade_left = self._current, FADE_FRAMES
        self._current = nearest
        ref = self._warp(nearest, kp, origin)
        if self._fade_left > 0 and self._fading_from is not None:
            weight_old = self._fade_left / (FADE_FRAMES + 1)
            self._fade_left -= 1
            ref = blend_references(self._warp(self._fading_from, kp, origin), ref, weight_old)
        ref.distance = float(distances[nearest])
        return ref

    def _warp(self, keyframe: int, kp: torch.Tensor, origin: np.ndarray | None) -> Reference:
        """Keyframe `keyframe` warped to kp (1 x K x 3)."""
        index = np.array([keyframe], dtype=np.int64)
        return warp_reference(self.images, self.keypoints, index, kp.float(), self.flow_cfg,
                              keyframe_shift(self.keyframes, index, origin), self.flow_stride,
                              self.bodies)


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
