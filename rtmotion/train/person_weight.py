"""Where the person is in a training frame, to weight the reconstruction loss there.

A target video is mostly room. With the background plate the generator copies the room (the
plate is one of the candidates it mixes, `rtmotion.models.generator`), so every room pixel soon
costs nothing in the L1 loss, but it still dilutes the mean: the loss of a 128x128 frame in
which the person covers a quarter is a quarter of what it would be if it were all person, and
the GAN and feature-matching terms, which do not shrink with the room, then outweigh it.
`TrainConfig.person_weight` gives the person's pixels that many times the weight of the room's
(`person_weights`, for `rtmotion.models.losses.l1_loss`).

The person is found where the real frame differs from the background plate: the plate is the
room without the person (kept clean by the person's segmentation, `rtmotion.train.background`),
so what differs from it is the person and what they bring into the room (their shadow, a
swinging hem), which is exactly what the generator has to draw. It costs one subtraction per
frame on the device, needs no extra model pass over the video, and is exact for a follow crop,
whose plate comes with every frame. Where the plate is wrong (a moving camera) the whole frame
differs, so the weights become uniform again: the plain L1 loss, not a wrong weighting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rtmotion.pose.boxes import BODY_BOX_MARGIN, BODY_BOX_MIN_CONF

#: Mean absolute RGB difference from the plate, in the model's [-1, 1] range, below which a
#: pixel is room (12/255 of the uint8 range: video noise and compression stay under it) and
#: above which it is fully the person (32/255); linear in between.
ROOM_BELOW = 2 * 12 / 255
PERSON_ABOVE = 2 * 32 / 255
#: The person mask grows by this many pixels of the model frame (max pooling): the person's
#: edge, blurred by motion and resampling, differs from the plate less than its inside.
GROW_PIXELS = 2


def person_mask(real: torch.Tensor, plate: torch.Tensor) -> torch.Tensor:
    """Soft person mask of frames against their background plate.

    Args:
        real: N x 3 x H x W float in [-1, 1], the frames.
        plate: N x 3 x H x W or 1 x 3 x H x W float in [-1, 1], the background each frame is on.
    Returns:
        N x 1 x H x W float32 in [0, 1]: 1 on the person (and their shadow), 0 on the room.
    """
    diff = (real.float() - plate.float()).abs().mean(dim=1, keepdim=True)
    soft = ((diff - ROOM_BELOW) / (PERSON_ABOVE - ROOM_BELOW)).clamp(0.0, 1.0)
    k = 2 * GROW_PIXELS + 1
    return F.max_pool2d(soft, k, stride=1, padding=GROW_PIXELS)


def person_weights(real: torch.Tensor, plate: torch.Tensor, weight: float) -> torch.Tensor:
    """Per-pixel loss weights: 1 on the room, `weight` on the person (N x 1 x H x W float32).

    Args:
        real, plate: as in `person_mask`.
        weight: the person's weight relative to the room's (>= 1; 1 gives uniform weights).
    """
    return 1.0 + (float(weight) - 1.0) * person_mask(real, plate)


def body_box_masks(keypoints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Masks of eval's body box of each frame (what its body SSIM is computed on).

    Args:
        keypoints: N x K x 3 float (x, y in pixels of the model frame, confidence).
        size: (W, H) of the model frame.
    Returns:
        N x 1 x H x W float32 in {0, 1}: 1 inside the frame's body box (the box of
        `rtmotion.pose.boxes.body_box`, margin BODY_BOX_MARGIN, clipped to the frame and rounded
        as its crop is); all ones for a frame with fewer than 2 visible joints (no box: the
        whole frame, as the plain SSIM).
    """
    w, h = size
    kp = keypoints.float()
    vis = kp[..., 2] > BODY_BOX_MIN_CONF                                   # N x K
    big = torch.finfo(torch.float32).max
    xs, ys = kp[..., 0], kp[..., 1]
    x0 = torch.where(vis, xs, big).amin(-1)
    y0 = torch.where(vis, ys, big).amin(-1)
    x1 = torch.where(vis, xs, -big).amax(-1)
    y1 = torch.where(vis, ys, -big).amax(-1)
    pad = BODY_BOX_MARGIN * torch.maximum(torch.maximum(x1 - x0, y1 - y0), torch.ones_like(x0))
    # `_clip_box` rounds to whole pixels within the frame: x0 = floor, x1 = ceil.
    bx0 = torch.floor(x0 - pad).clamp(0, w)[:, None]
    by0 = torch.floor(y0 - pad).clamp(0, h)[:, None]
    bx1 = torch.ceil(x1 + pad).clamp(0, w)[:, None]
    by1 = torch.ceil(y1 + pad).clamp(0, h)[:, None]
    gx = torch.arange(w, device=kp.device, dtype=torch.float32)[None]
    gy = torch.arange(h, device=kp.device, dtype=torch.float32)[None]
    inside = ((gy >= by0) & (gy < by1))[:, :, None] & ((gx >= bx0) & (gx < bx1))[:, None, :]
    no_box = vis.sum(-1) < 2
    inside = inside | no_box[:, None, None]
    return inside[:, None].float()
