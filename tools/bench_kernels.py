"""Time the pose kernels per frame: conditioning maps, pose flow and warp (numpy / torch, CPU).

Usage: python tools/bench_kernels.py [--sizes 256 512] [--batches 1 8] [--reps 7]
                                     [--threads N] [--quality] [--json out.json]

Numbers are the median over `--reps` runs of one call, divided by the batch size (ms per
frame); every backend is checked against the numpy reference before it is timed. Poses are
the stand-in figure of `rtmotion.synthetic.figures` with a few pixels of jitter (no video
needed). `--quality` also measures the warp gain on the synthetic dancer
(`rtmotion.eval.warp_gain`). Imports only numpy, torch and rtmotion (the GPU check
`tools/gpu_kernels_check.py` reuses `time_ms` and `cpu_cases`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow  # noqa: E402
from rtmotion.kernels.maps_numpy import PoseMapConfig, pose_maps_numpy  # noqa: E402
from rtmotion.kernels.warp_numpy import warp_numpy  # noqa: E402
from rtmotion.synthetic.figures import figure_keypoints, jittered  # noqa: E402


def time_ms(fn: Callable[[], object], reps: int, sync: Callable[[], None] | None = None,
            budget_s: float = 3.0) -> float:
    """Median wall time of fn() in ms over `reps` runs (fewer if they exceed `budget_s`), after one warm-up."""
    fn()
    if sync:
        sync()
    times = []
    start = time.perf_counter()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def poses(size: tuple[int, int], n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) float32 (n, 25, 3): a jittered figure and a moved copy (both in the frame)."""
    rng = np.random.default_rng(seed)
    a = np.stack([jittered(figure_keypoints(size), rng, 0.01 * size[1]) for _ in range(n)])
    b = np.stack([jittered(k, rng, 0.015 * size[1]) for k in a])
    return a, b


def cpu_cases(size: tuple[int, int], batch: int, with_numpy: bool = True) -> dict[str, Callable[[], object]]:
    """name -> zero-argument callable doing one batch on the CPU (numpy loops, torch batched)."""
    import torch

    from rtmotion.kernels.flow_torch import pose_flow_torch
    from rtmotion.kernels.maps_torch import pose_maps_torch
    from rtmotion.kernels.warp_torch import warp_torch

    w, h = size
    mcfg = PoseMapConfig(size=size)
    fcfg = PoseFlowConfig()
    a, b = poses(size, batch)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    img = np.random.default_rng(1).random((batch, h, w, 3)).astype(np.float32)
    flow = np.stack([pose_flow(x, y, size, fcfg) for x, y in zip(a[:1], b[:1])] * batch)
    timg = torch.from_numpy(img).permute(0, 3, 1, 2).contiguous()
    tflow = torch.from_numpy(flow)
    cases: dict[str, Callable[[], object]] = {}
    if with_numpy:
        cases["maps/numpy"] = lambda: [pose_maps_numpy(k, mcfg) for k in a]
        cases["flow/numpy"] = lambda: [pose_flow(x, y, size, fcfg) for x, y in zip(a, b)]
        cases["warp/numpy"] = lambda: [warp_numpy(i, f) for i, f in zip(img, flow)]
    cases["maps/torch"] = lambda: pose_maps_torch(ta, mcfg)
    cases["flow/torch"] = lambda: pose_flow_torch(ta, tb, size, fcfg)
    cases["flow/torch-stride2"] = lambda: pose_flow_torch(ta, tb, size, fcfg, stride=2)
    cases["warp/torch"] = lambda: warp_torch(timg, tflow)
    return cases


def check_cpu(size: tuple[int, int]) -> dict[str, float]:
    """Max abs difference torch vs numpy on 4 poses (maps: values, flow: px, warp: values)."""
    import torch

    from rtmotion.kernels.flow_torch import pose_flow_torch
    from rtmotion.kernels.maps_torch import pose_maps_torch
    from rtmotion.kernels.warp_torch import warp_torch

    mcfg = PoseMapConfig(size=size, hands=True)
    a, b = poses(size, 4, seed=5)
    maps = np.stack([pose_maps_numpy(k, mcfg) for k in a])
    flows = np.stack([pose_flow(x, y, size) for x, y in zip(a, b)])
    img = np.random.default_rng(2).random((4, size[1], size[0], 3)).astype(np.float32)
    warped = np.stack([warp_numpy(i, f) for i, f in zip(img, flows)])
    tw = warp_torch(torch.from_numpy(img).permute(0, 3, 1, 2), torch.from_numpy(flows)).permute(0, 2, 3, 1)
    return {
        "maps": float(np.abs(pose_maps_torch(torch.from_numpy(a), mcfg).numpy() - maps).max()),
        "flow_px": float(np.abs(pose_flow_torch(torch.from_numpy(a), torch.from_numpy(b), size).numpy() - flows).max()),
        "warp": float(np.abs(tw.numpy() - warped).max()),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square frame sizes")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--quality", action="store_true", help="also measure the warp gain on the synthetic dancer")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    res: dict = {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
                 "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                 "machine": platform.processor() or platform.machine(), "reps": args.reps,
                 "parity": {}, "ms_per_frame": {}}
    for s in args.sizes:
        size = (s, s)
        res["parity"][f"{s}"] = check_cpu(size)
        for bsz in args.batches:
            for name, fn in cpu_cases(size, bsz).items():
                ms = time_ms(fn, args.reps) / bsz
                res["ms_per_frame"][f"{name}/{s}/b{bsz}"] = round(ms, 3)
    if args.quality:
        from dataclasses import asdict

        from rtmotion.eval.warp_gain import measure_warp_gain

        res["warp_gain"] = asdict(measure_warp_gain())

    print(f"torch {res['torch']} ({res['torch_threads']} threads), numpy {res['numpy']}, {res['cpus']} CPUs")
    print("parity (max abs diff torch vs numpy):", json.dumps(res["parity"]))
    ops = sorted({k.rsplit("/", 2)[0] for k in res["ms_per_frame"]})
    cols = [f"{s}/b{b}" for s in args.sizes for b in args.batches]
    print(f"{'ms per frame':<22}" + "".join(f"{c:>12}" for c in cols))
    for op in ops:
        print(f"{op:<22}" + "".join(f"{res['ms_per_frame'].get(f'{op}/{c}', float('nan')):>12.2f}" for c in cols))
    if "warp_gain" in res:
        g = res["warp_gain"]
        print(f"warp gain ({g['pairs']} pairs): moving-region L1 {g['l1_plain']:.1f} -> {g['l1_warp']:.1f}, "
              f"PSNR {g['psnr_plain']:.2f} -> {g['psnr_warp']:.2f} dB, better in {100 * g['better']:.0f}%")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
