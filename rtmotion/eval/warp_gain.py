"""How much the pose-flow warp helps: warp frame t of a synthetic dancer to the pose of frame
t+k and compare with the true frame t+k, against not warping at all.

Used by `tests/eval/test_warp_gain.py` (asserts the gain) and `tools/bench_kernels.py`
(reports it in docs/BENCHMARKS.md). An evaluation, not a kernel: it needs the synthetic dancer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.flow_torch import pose_flow_torch
from rtmotion.kernels.warp_numpy import warp_numpy
from rtmotion.synthetic.generate import render_sequence


@dataclass
class WarpGain:
    """Errors of frame t+k predicted by frame t, warped or not, in uint8 levels / dB.

    Attributes:
        pairs: number of (t, t+k) pairs measured.
        l1_plain, l1_warp: mean |prediction - truth| over the *moving region* (pixels whose
            colour changes by more than 10 levels per channel on average between t and t+k).
        psnr_plain, psnr_warp: whole-frame PSNR (dB), averaged over pairs.
        by_k: {k: (l1_plain, l1_warp)} per frame gap.
        better: fraction of pairs where the warp lowers the moving-region L1.
    """

    pairs: int = 0
    l1_plain: float = 0.0
    l1_warp: float = 0.0
    psnr_plain: float = 0.0
    psnr_warp: float = 0.0
    better: float = 0.0
    by_k: dict[int, tuple[float, float]] = field(default_factory=dict)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def measure_warp_gain(clips: tuple[tuple[str, str, int], ...] = (("ada", "dance", 3), ("bruno", "steps", 3)),
                      ks: tuple[int, ...] = (2, 3, 5), every: int = 9, seconds: float = 2.0,
                      size: tuple[int, int] = (256, 256), fps: int = 30,
                      cfg: PoseFlowConfig | None = None) -> WarpGain:
    """Measure on synthetic clips (character, motion, seed), pairs (t, t+k) for t = 0, every, ...

    The flow is computed from the ground-truth poses (torch), the warp is `warp_numpy`.
    """

    cfg = cfg or PoseFlowConfig()
    rows: list[tuple[int, float, float, float, float]] = []
    for character, motion, seed in clips:
        frames, seq = render_sequence(character, motion, seconds=seconds, size=size, fps=fps, seed=seed)
        imgs = np.stack(list(frames)).astype(np.float32)
        kp = torch.from_numpy(seq.keypoints)
        for k in ks:
            ts = np.arange(0, len(imgs) - k, every)
            if len(ts) == 0:
                continue
            flows = pose_flow_torch(kp[ts], kp[ts + k], size, cfg).numpy()
            for t, flow in zip(ts, flows):
                a, b = imgs[t], imgs[t + k]
                moving = np.abs(a - b).mean(axis=-1) > 10.0
                if moving.sum() < 50:
                    continue  # (almost) no motion: nothing to measure
                warped = warp_numpy(a, flow)
                rows.append((k, float(np.abs(a - b)[moving].mean()), float(np.abs(warped - b)[moving].mean()),
                             _psnr(a, b), _psnr(warped, b)))
    if not rows:
        return WarpGain()
    arr = np.array([r[1:] for r in rows])
    kk = np.array([r[0] for r in rows])
    return WarpGain(
        pairs=len(rows), l1_plain=float(arr[:, 0].mean()), l1_warp=float(arr[:, 1].mean()),
        psnr_plain=float(arr[:, 2].mean()), psnr_warp=float(arr[:, 3].mean()),
        better=float((arr[:, 1] < arr[:, 0]).mean()),
        by_k={int(k): (float(arr[kk == k, 0].mean()), float(arr[kk == k, 1].mean())) for k in np.unique(kk)},
    )
