"""Batched pose flow in torch (any device): same definition as `rtmotion.kernels.flow_numpy`.

Vectorized over batch and bones: a (B, N, H, W) float32 squared-distance tensor gives the
softmax weights; the weighted sum of the per-bone affine displacements is one batched matrix
product, because every T_i(p) - p is linear in (x, y, 1):
``sum_i w_i (A_i x + B_i y + C_i) = x sum_i w_i A_i + y sum_i w_i B_i + sum_i w_i C_i``.
Coordinates are taken relative to the frame centre to keep float32 rounding small.
Agreement with the numpy reference: max abs difference < 1e-3 px (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rtmotion.kernels.flow_numpy import (
    PoseFlowConfig,
    check_pose_pair,
    check_size,
    head_indices,
    head_similarities,
)
from rtmotion.kernels.segments import bone_array, trunk_indices
from rtmotion.kernels.segments_torch import (
    bone_segments_torch,
    segment_distance2_torch,
    segment_frame_torch,
)
from rtmotion.pose.skeleton import get_skeleton

# Missing bones are moved this far away (px): their weight exp(-(d^2 - d_min^2) / 2s^2)
# underflows to exactly 0 without a separate masking pass over the (B, N, H, W) tensor.
_FAR = 1.0e5


def bone_coefficients_torch(kp_a: torch.Tensor, kp_b: torch.Tensor, cfg: PoseFlowConfig
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bone displacement fields and pose-B segments.

    Args:
        kp_a, kp_b: float32 (B, K, 3).
    Returns:
        coef: float32 (B, N, 6) = (A_x, B_x, C_x, A_y, B_y, C_y) with T_i(p) - p =
            (A_x x + B_x y + C_x, A_y x + B_y y + C_y) for p in pixels; zero for missing bones.
        seg_b: float32 (B, N, 2, 2) pose-B endpoints (missing bones moved far away).
        valid: bool (B, N).
    """
    bones = bone_array(get_skeleton(cfg.skeleton))
    a1, b1, va = bone_segments_torch(kp_a, bones, cfg.min_confidence)   # pose A
    a2, b2, vb = bone_segments_torch(kp_b, bones, cfg.min_confidence)   # pose B
    valid = va & vb
    v1, v2 = b1 - a1, b2 - a2
    l1 = torch.linalg.vector_norm(v1, dim=-1)
    l2 = torch.linalg.vector_norm(v2, dim=-1)
    degenerate = (l1 < 1e-6) | (l2 < 1e-6)
    same = (v1 == v2).all(dim=-1)                                   # exactly M = I
    l1s = torch.where(degenerate, torch.ones_like(l1), l1)
    l2s = torch.where(degenerate, torch.ones_like(l2), l2)
    u1 = v1 / l1s[..., None]
    u2 = v2 / l2s[..., None]
    n1 = torch.stack([-u1[..., 1], u1[..., 0]], dim=-1)
    n2 = torch.stack([-u2[..., 1], u2[..., 0]], dim=-1)
    along = l1s / l2s
    fade = torch.zeros_like(along)
    if cfg.max_along is not None:   # foreshortened in pose B: clamped, fading to a translation
        fade = (along / cfg.max_along - 1.0).clamp(0.0, 1.0)
        along = along.clamp_max(cfg.max_along)
    across = torch.ones_like(along) if cfg.transform == "affine" else along
    m = along[..., None, None] * (u1[..., :, None] * u2[..., None, :]) + \
        across[..., None, None] * (n1[..., :, None] * n2[..., None, :])  # B x N x 2 x 2
    eye = torch.eye(2, dtype=m.dtype, device=m.device).expand_as(m)
    m = (1.0 - fade[..., None, None]) * m + fade[..., None, None] * eye
    m = torch.where((degenerate | same)[..., None, None], eye, m)
    t = a1 - (m @ a2[..., None])[..., 0]
    t = torch.where(degenerate[..., None], (a1 + b1) / 2 - (a2 + b2) / 2, t)
    if cfg.head == "rigid":
        # The fit of a few joints, on the host in float64 (numpy's small ops cost a quarter of
        # torch's dispatch: 0.11 against 0.45 ms a pair on one thread; one implementation).
        head_m, head_t, head_ok = (torch.from_numpy(v).to(m.device) for v in head_similarities(
            kp_a.detach().cpu().numpy(), kp_b.detach().cpu().numpy(), cfg))
        rigid = torch.zeros(m.shape[:2], dtype=torch.bool, device=m.device)
        rigid[:, torch.as_tensor(head_indices(get_skeleton(cfg.skeleton))[1], device=m.device)] = True
        rigid &= head_ok[:, None]
        m = torch.where(rigid[..., None, None], head_m[:, None].to(m.dtype), m)
        t = torch.where(rigid[..., None], head_t[:, None].to(t.dtype), t)
    coef = torch.stack([m[..., 0, 0] - 1, m[..., 0, 1], t[..., 0],
                        m[..., 1, 0], m[..., 1, 1] - 1, t[..., 1]], dim=-1)
    coef = torch.where(valid[..., None], coef, torch.zeros_like(coef))
    far = torch.full_like(a2, -_FAR)
    seg_b = torch.stack([torch.where(valid[..., None], a2, far), torch.where(valid[..., None], b2, far)], dim=2)
    return coef, seg_b, valid


def body_weight_torch(kp: torch.Tensor, size: tuple[int, int], cfg: PoseFlowConfig | None = None
                      ) -> torch.Tensor:
    """Where pose `kp`'s body is, as the pose flow sees it: 1 within r of a bone, falling off
    over f beyond (the weight `pose_flow_torch` gives the bones' displacement against the
    background's, here for one pose alone).

    Args:
        kp: float32 (B, K, 3) keypoints in pixels (confidence <= cfg.min_confidence: missing).
        size: (W, H) of the frame.
        cfg: parameters (default `PoseFlowConfig()`): r, f and the skeleton.
    Returns:
        float32 (B, H, W) in [0, 1] (0 everywhere for a pose without a bone).
    """
    cfg = cfg or PoseFlowConfig()
    w, h = check_size(size)
    _, r, f = cfg.pixels(h)
    a, b, valid = bone_segments_torch(kp.to(torch.float32), bone_array(get_skeleton(cfg.skeleton)),
                                      cfg.min_confidence)
    far = torch.full_like(a, -_FAR)
    ax, ay, ux, uy, length = segment_frame_torch(torch.where(valid[..., None], a, far),
                                                 torch.where(valid[..., None], b, far))
    d = segment_distance2_torch(ax, ay, ux, uy, length, w, h).amin(dim=1).sqrt_()  # B x H x W
    return _body_falloff_(d, r, f)


def _body_falloff_(d: torch.Tensor, r: float, f: float) -> torch.Tensor:
    """The body weight at distance `d` (px, float32) from the nearest bone, IN PLACE on d: 1
    within r, exp(-(d - r)^2 / 2f^2) beyond. The exponent is clamped at -80 (1.8e-35) because
    torch's CPU exp is ~40x slower when its result underflows to subnormals."""
    excess = d.sub_(r).clamp_min_(0.0)
    return excess.mul_(excess).mul_(-0.5 / (f * f)).clamp_min_(-80.0).exp_()


def background_shift_torch(kp_a: torch.Tensor, kp_b: torch.Tensor, cfg: PoseFlowConfig) -> torch.Tensor:
    """float32 (B, 2) background flow (see `flow_numpy.background_shift`)."""
    bsz = kp_a.shape[0]
    if cfg.background == "zero":
        return torch.zeros(bsz, 2, dtype=torch.float32, device=kp_a.device)
    common = (kp_a[..., 2] > cfg.min_confidence) & (kp_b[..., 2] > cfg.min_confidence)  # B x K
    trunk = torch.zeros_like(common)
    trunk[:, torch.as_tensor(trunk_indices(get_skeleton(cfg.skeleton)), device=kp_a.device)] = True
    has_trunk = (common & trunk).any(dim=1, keepdim=True)
    use = torch.where(has_trunk, common & trunk, common).to(torch.float32)          # B x K
    disp = (kp_a[..., :2] - kp_b[..., :2]) * use[..., None]
    return disp.sum(dim=1) / use.sum(dim=1, keepdim=True).clamp_min(1.0)


@torch.no_grad()
def pose_flow_torch(kp_a: torch.Tensor, kp_b: torch.Tensor, size: tuple[int, int],
                    cfg: PoseFlowConfig | None = None, stride: int = 1) -> torch.Tensor:
    """Backward flow from pose A's frames to pose B's frames, batched.

    Args:
        kp_a, kp_b: float (B, K, 3) keypoints in pixels of (W, H) frames; any device.
        size: (W, H).
        cfg: parameters (default `PoseFlowConfig()`).
        stride: 1 = exact at every pixel. k > 1: evaluate on a grid about k times coarser
            (same corner pixels) and upsample bilinearly (align_corners=True); the flow is
            smooth, so this is ~k^2 times cheaper for a small error (measured in
            docs/BENCHMARKS.md).
    Returns:
        float32 (B, H, W, 2) (dx, dy) in pixels on the keypoints' device.
    """
    cfg = cfg or PoseFlowConfig()
    check_pose_pair(kp_a, kp_b, get_skeleton(cfg.skeleton).num_joints, batched=True)
    w, h = check_size(size)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if stride > 1:
        gw, gh = max((w - 1) // stride + 1, 2), max((h - 1) // stride + 1, 2)
        if gw < w or gh < h:
            dev = kp_a.device
            coarse = _pose_flow_grid(kp_a, kp_b, w, h, cfg,
                                     torch.linspace(0, w - 1, gw, device=dev), torch.linspace(0, h - 1, gh, device=dev))
            up = F.interpolate(coarse.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=True)
            return up.permute(0, 2, 3, 1).contiguous()
    return _pose_flow_grid(kp_a, kp_b, w, h, cfg, None, None)


def _pose_flow_grid(kp_a: torch.Tensor, kp_b: torch.Tensor, w: int, h: int, cfg: PoseFlowConfig,
                    gx: torch.Tensor | None, gy: torch.Tensor | None) -> torch.Tensor:
    """Flow of (W, H) frames evaluated at grid columns gx and rows gy (None: every pixel)."""
    s, r, f = cfg.pixels(h)
    kp_a = kp_a.to(torch.float32)
    kp_b = kp_b.to(kp_a.device, torch.float32)
    dev = kp_a.device
    bsz = kp_a.shape[0]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    coef, seg_b, valid = bone_coefficients_torch(kp_a, kp_b, cfg)         # B x N x 6, B x N x 2 x 2
    # Re-express each displacement around the frame centre: C' = C + A cx + B cy.
    coef = torch.stack([coef[..., 0], coef[..., 1], coef[..., 2] + coef[..., 0] * cx + coef[..., 1] * cy,
                        coef[..., 3], coef[..., 4], coef[..., 5] + coef[..., 3] * cx + coef[..., 4] * cy], dim=-1)
    ax, ay, ux, uy, length = segment_frame_torch(seg_b[:, :, 0], seg_b[:, :, 1])
    if gx is None:
        gx = torch.arange(w, device=dev, dtype=torch.float32)
        gy = torch.arange(h, device=dev, dtype=torch.float32)
    w, h = len(gx), len(gy)                                               # grid size from here on
    d2 = segment_distance2_torch(ax, ay, ux, uy, length, w, h, gx, gy)    # B x N x h x w, px^2
    d2min = d2.amin(dim=1, keepdim=True)                                  # B x 1 x H x W
    # In place: d2 becomes the weights. The exponent is clamped at -80 (weight 1.8e-35, i.e.
    # nothing next to the nearest bone's 1) because torch's CPU exp is ~40x slower when its
    # result underflows to subnormals.
    wts = d2.sub_(d2min).mul_(-0.5 / (s * s)).clamp_min_(-80.0).exp_()
    wsum = wts.sum(dim=1)                                                 # B x H x W, >= 1
    n = wts.shape[1]
    agg = torch.bmm(wts.view(bsz, n, h * w).transpose(1, 2), coef)        # B x HW x 6
    agg = agg.view(bsz, h, w, 6)
    xs = gx.view(1, 1, w) - cx
    ys = gy.view(1, h, 1) - cy
    fx = (agg[..., 0] * xs + agg[..., 1] * ys + agg[..., 2]) / wsum
    fy = (agg[..., 3] * xs + agg[..., 4] * ys + agg[..., 5]) / wsum
    alpha = _body_falloff_(d2min[:, 0].sqrt_(), r, f)                    # B x H x W
    bg = background_shift_torch(kp_a, kp_b, cfg)                          # B x 2
    flow = torch.stack([fx, fy], dim=-1)                                  # B x H x W x 2
    # alpha * flow + (1 - alpha) * bg
    return (flow - bg[:, None, None, :]).mul_(alpha[..., None]).add_(bg[:, None, None, :])
