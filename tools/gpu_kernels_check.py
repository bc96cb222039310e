"""GPU check of the pose kernels: CuPy and torch-CUDA against the numpy oracle, then timings.

Usage (on a machine with a CUDA GPU, from the repository root):
    PYTHONPATH=. python3 tools/gpu_kernels_check.py --out kernels.json

Imports only numpy, torch, cupy and rtmotion.kernels / rtmotion.pose (no PyAV, MediaPipe or
synthetic dancer), so it runs on a bare GPU image. Every section is guarded: a failure is
recorded in the JSON (with its traceback) and the rest still runs. Timings: median wall time
per call with a device synchronize, divided by the batch (ms per frame), for numpy (CPU),
torch CPU, torch CUDA and CuPy at 256x256 and 512x512, batch 1 and 8.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_kernels import cpu_cases, poses, time_ms  # noqa: E402

from rtmotion.kernels.flow_numpy import PoseFlowConfig, pose_flow  # noqa: E402
from rtmotion.kernels.maps_numpy import PoseMapConfig, pose_maps_numpy  # noqa: E402
from rtmotion.kernels.warp_numpy import warp_numpy  # noqa: E402
from rtmotion.pose.skeleton import BODY25  # noqa: E402


def guarded(res: dict, key: str, fn) -> None:
    try:
        res[key] = fn()
    except Exception as e:  # record and go on: one broken backend must not hide the others
        res[key] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}


def env() -> dict:
    import torch

    out = {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
           "torch_cuda": torch.cuda.is_available(), "machine": platform.machine()}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    try:
        import cupy

        out["cupy"] = cupy.__version__
        out["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    except Exception as e:
        out["cupy"] = f"unavailable: {e}"
    return out


def test_poses(size, n=8, seed=3):
    a, b = poses(size, n, seed)
    a[1, BODY25.index("l_elbow"), 2] = 0
    b[2, BODY25.index("r_knee"), 2] = 0
    a[3, :, 2] = 0
    b[4, BODY25.index("r_heel"), :2] = b[4, BODY25.index("r_ankle"), :2]  # zero-length bone
    return a, b


def parity(size) -> dict:
    """Max abs diff vs the numpy oracle: maps (values), flow (px), warp (values)."""
    import torch

    from rtmotion.kernels.flow_torch import pose_flow_torch
    from rtmotion.kernels.maps_torch import pose_maps_torch
    from rtmotion.kernels.warp_torch import warp_torch

    out: dict = {}
    a, b = test_poses(size)
    mcfg = PoseMapConfig(size=size, hands=True)
    ref_maps = np.stack([pose_maps_numpy(k, mcfg) for k in a])
    cfgs = {"default": PoseFlowConfig(), "similarity_torso": PoseFlowConfig(transform="similarity", background="torso")}
    ref_flow = {n: np.stack([pose_flow(x, y, size, c) for x, y in zip(a, b)]) for n, c in cfgs.items()}
    img = np.random.default_rng(0).random((len(a), 3, size[1], size[0])).astype(np.float32)
    flow = ref_flow["default"]
    ref_warp = np.stack([warp_numpy(i.transpose(1, 2, 0), f).transpose(2, 0, 1) for i, f in zip(img, flow)])
    devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devs:
        ta, tb = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
        out[f"torch_{dev}"] = {
            "maps": float(np.abs(pose_maps_torch(ta, mcfg).cpu().numpy() - ref_maps).max()),
            "maps_fullgrid": float(np.abs(pose_maps_torch(ta, mcfg, windows=False).cpu().numpy()
                                          - ref_maps).max()),
            **{f"flow_px_{n}": float(np.abs(pose_flow_torch(ta, tb, size, c).cpu().numpy() - ref_flow[n]).max())
               for n, c in cfgs.items()},
            "warp": float(np.abs(warp_torch(torch.from_numpy(img).to(dev), torch.from_numpy(flow).to(dev))
                                 .cpu().numpy() - ref_warp).max()),
        }

    def cupy_part() -> dict:
        import cupy

        from rtmotion.kernels.cupy_kernels import pose_flow_cupy, pose_maps_cupy, warp_cupy

        res = {
            "maps": float(np.abs(pose_maps_cupy(a, mcfg).get() - ref_maps).max()),
            **{f"flow_px_{n}": float(np.abs(pose_flow_cupy(a, b, size, c).get() - ref_flow[n]).max())
               for n, c in cfgs.items()},
            "warp": float(np.abs(warp_cupy(cupy.asarray(img), cupy.asarray(flow)).get() - ref_warp).max()),
            "flow_same_pose_max": float(np.abs(pose_flow_cupy(a[:1], a[:1], size).get()).max()),
        }
        if torch.cuda.is_available():  # torch CUDA tensors through the dispatcher (DLPack)
            from rtmotion.kernels import pose_flow_batch, pose_maps_batch, warp_batch

            ta = torch.from_numpy(a).cuda()
            m = pose_maps_batch(ta, mcfg, kernels="cupy")
            f = pose_flow_batch(ta, torch.from_numpy(b).cuda(), size, kernels="cupy")
            wgt = warp_batch(torch.from_numpy(img).cuda(), torch.from_numpy(flow).cuda(), kernels="cupy")
            res["dlpack_torch_maps"] = float(np.abs(m.cpu().numpy() - ref_maps).max())
            res["dlpack_torch_flow_px"] = float(np.abs(f.cpu().numpy() - ref_flow["default"]).max())
            res["dlpack_torch_warp"] = float(np.abs(wgt.cpu().numpy() - ref_warp).max())
            res["dlpack_types"] = [type(x).__name__ for x in (m, f, wgt)]
        return res

    guarded(out, "cupy", cupy_part)
    return out


def gpu_cases(size, batch) -> dict:
    """name -> (callable, sync) for torch CUDA and CuPy."""
    import torch

    from rtmotion.kernels.flow_torch import pose_flow_torch
    from rtmotion.kernels.maps_torch import pose_maps_torch
    from rtmotion.kernels.warp_torch import warp_torch

    cases: dict = {}
    mcfg = PoseMapConfig(size=size)
    a, b = poses(size, batch)
    w, h = size
    img = np.random.default_rng(1).random((batch, 3, h, w)).astype(np.float32)
    flow = np.stack([pose_flow(a[0], b[0], size)] * batch)
    if torch.cuda.is_available():
        sync = torch.cuda.synchronize
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        ti, tf = torch.from_numpy(img).cuda(), torch.from_numpy(flow).cuda()
        cases["maps/torch-cuda"] = (lambda: pose_maps_torch(ta, mcfg), sync)
        cases["flow/torch-cuda"] = (lambda: pose_flow_torch(ta, tb, size), sync)
        cases["warp/torch-cuda"] = (lambda: warp_torch(ti, tf), sync)
    try:
        import cupy

        from rtmotion.kernels.cupy_kernels import cupy_available, pose_flow_cupy, pose_maps_cupy, warp_cupy

        if cupy_available():
            csync = cupy.cuda.Stream.null.synchronize
            ci, cf = cupy.asarray(img), cupy.asarray(flow)
            # keypoints start on the host (as from the pose extractor): upload included
            cases["maps/cupy"] = (lambda: pose_maps_cupy(a, mcfg), csync)
            cases["flow/cupy"] = (lambda: pose_flow_cupy(a, b, size), csync)
            cases["warp/cupy"] = (lambda: warp_cupy(ci, cf), csync)
    except ImportError:
        pass
    return cases


def timings(sizes, batches, reps, budget_s: float = 1.5) -> dict:
    out: dict = {}
    for s in sizes:
        size = (s, s)
        for bsz in batches:
            for name, fn in cpu_cases(size, bsz).items():
                try:
                    out[f"{name}/{s}/b{bsz}"] = round(time_ms(fn, reps, budget_s=budget_s) / bsz, 4)
                except Exception as e:
                    out[f"{name}/{s}/b{bsz}"] = f"error: {e}"
            for name, (fn, sync) in gpu_cases(size, bsz).items():
                try:
                    out[f"{name}/{s}/b{bsz}"] = round(time_ms(fn, reps * 3, sync, budget_s=budget_s) / bsz, 4)
                except Exception as e:
                    out[f"{name}/{s}/b{bsz}"] = f"error: {e}"
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="JSON report path")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--budget", type=float, default=1.5, help="seconds at most per timed case (>= 3 runs)")
    args = p.parse_args()
    res: dict = {}
    guarded(res, "env", env)
    res["parity"] = {}
    for s in args.sizes:
        guarded(res["parity"], f"{s}", lambda s=s: parity((s, s)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))  # parity first: kept even if timing dies
    guarded(res, "ms_per_frame", lambda: timings(args.sizes, args.batches, args.reps, args.budget))
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items()}, indent=1)[:11000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
