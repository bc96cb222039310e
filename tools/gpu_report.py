"""GPU measurements for issue 12 and the report `docs/gpu_report.json`.

    python tools/gpu_report.py measure --out RAW.json [--sizes 256 512] [--frames 200]   (needs CUDA)
    python tools/gpu_report.py write --measure RAW.json [--bench BENCH.json] [--train TRAIN.json]
                                     --out docs/gpu_report.json                          (any machine)

`measure` (CUDA + CuPy), in one process, on the default GPU:
- bandwidth: a device-to-device copy of 256 MiB (bytes read + written / time), the floor's unit;
- kernels: each CUDA kernel of the per-frame step alone on static buffers (batch 1), with its
  memory-traffic floor = bytes it must move / that bandwidth: `maps`, `flow`, `warp` (CuPy),
  `frames_to_float`, `float_to_frames` (CuPy, one kernel each) and `float_to_frames_torch` (the
  same conversion as torch ops). GPU time, not Python's: `--launches` launches are captured in
  one CUDA graph and the graph's replay is timed with CUDA events (ms per launch = replay /
  launches). Timing launches issued from Python would measure the ~10-20 us of CPU each CuPy
  call costs, against floors of 0.1-6 us. When a capture fails, the eager launches are timed
  instead and the entry says so ("method");
- generator: the "small" preset (random weights), "fp32", batch 1, captured in a CUDA graph,
  ms per replay (the issue's "generator at 512x512 under 1 ms" goal). torch runs CUDA fp32
  convolutions as TF32 by default (cuDNN); the raw file records the setting ("tf32") and the
  time with TF32 off too ("ms_strict_fp32"), so the report's generator_ms is the TF32 number;
- synth: ms per frame of the whole per-frame step, keypoints in, uint8 frame on the host out,
  over `--frames` frames of the synthetic dancer: `SubjectSynthesizer` (the reference loop),
  `SubjectSynthesizer` with its CUDA layer (`CudaOptions`) without graphs and with graphs.

`write` turns RAW.json, `rtmotion bench --json` output and the training timing of
`tools/gpu_check.sh` into the report with exactly these keys:
``{"gpu", "date", "generator_ms": {"256", "512"}, "offline_fps": {"256", "512"}, "live_p95_ms",
"train_steps_per_s", "kernels": {name: {"ms", "floor_ms"}}}``; a number that was not measured
is null (the raw files say why). generator_ms is the fastest of the bench's runners and the
graph-captured generator; offline_fps the fastest offline cell; live_p95_ms the live cell of the
largest resolution with the lowest p95; kernels are named ``NAME_SIZE`` (e.g. ``warp_512``).

torch, CuPy and most of rtmotion are imported inside the `measure` functions on purpose: `write`
runs with numpy alone (any Python, e.g. the system one after a failed GPU part).

Written in a session without a GPU: `write` is tested on CPU (tests/tools/test_gpu_report.py);
`measure` has not run yet.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPORT_KEYS = ("gpu", "date", "generator_ms", "offline_fps", "live_p95_ms", "train_steps_per_s", "kernels")
SIZES = ("256", "512")


# ---- write (any machine) ---------------------------------------------------------------------
def _best(values: list[float], lowest: bool) -> float | None:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and v > 0]
    if not vals:
        return None
    return round(min(vals) if lowest else max(vals), 4)


def _cells(bench: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Bench cells that ran (no error), with their square size as a string key."""
    out = []
    for cell in (bench or {}).get("cells", []):
        if cell.get("error"):
            continue
        w, h = (int(v) for v in cell.get("resolution", (0, 0)))
        out.append(cell | {"size": str(w) if w == h else f"{w}x{h}"})
    return out


def train_rate(train: dict[str, Any] | None) -> float | None:
    """Steps per second between two training runs of different lengths (start-up cancels):
    ``{"runs": [{"steps", "seconds", "cache"}, ...]}``, the shortest and the longest successful
    run. Start-up cancels only when both runs pay the same start-up: two runs that name the same
    dataset cache (the second skips building it, so the difference is too small and the rate
    inflated) give None."""
    runs = sorted((r for r in (train or {}).get("runs", []) if r.get("ok", True) and r.get("seconds")),
                  key=lambda r: r["steps"])
    if len(runs) < 2 or runs[-1]["steps"] <= runs[0]["steps"] or runs[-1]["seconds"] <= runs[0]["seconds"]:
        return None
    if runs[0].get("cache") is not None and runs[0].get("cache") == runs[-1].get("cache"):
        return None
    return round((runs[-1]["steps"] - runs[0]["steps"]) / (runs[-1]["seconds"] - runs[0]["seconds"]), 3)


def build_report(measure: dict[str, Any], bench: dict[str, Any] | None = None,
                 train: dict[str, Any] | None = None, date: str | None = None) -> dict[str, Any]:
    """The report (exact keys, see the module docstring) from the raw measurements."""
    cells = _cells(bench)
    generator_ms, offline_fps = {}, {}
    for size in SIZES:
        bench_gen = [c.get("generator_ms", {}).get("p50") for c in cells if c["size"] == size]
        graph_gen = (measure.get("generator") or {}).get(size, {}).get("ms")
        generator_ms[size] = _best([*bench_gen, graph_gen], lowest=True)
        offline_fps[size] = _best([c.get("offline", {}).get("fps") for c in cells if c["size"] == size],
                                  lowest=False)
    live = [c for c in cells if c.get("live", {}).get("latency_ms", {}).get("p95")]
    live_p95 = None
    if live:
        top = max(int(c["resolution"][0]) * int(c["resolution"][1]) for c in live)
        live_p95 = _best([c["live"]["latency_ms"]["p95"] for c in live
                          if int(c["resolution"][0]) * int(c["resolution"][1]) == top], lowest=True)
    kernels = {name: {"ms": round(float(k["ms"]), 5), "floor_ms": round(float(k["floor_ms"]), 5)}
               for name, k in sorted((measure.get("kernels") or {}).items())
               if isinstance(k, dict) and "ms" in k and "floor_ms" in k}
    return {"gpu": measure.get("gpu"),
            "date": date or measure.get("date") or time.strftime("%Y-%m-%d", time.gmtime()),
            "generator_ms": generator_ms, "offline_fps": offline_fps, "live_p95_ms": live_p95,
            "train_steps_per_s": train_rate(train), "kernels": kernels}


def _load(path: str | None) -> dict[str, Any] | None:
    """A JSON file, or None when no path was given or the file is missing / broken (the step
    that writes it failed: the report says null for its numbers)."""
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def cmd_write(args: argparse.Namespace) -> int:
    measure = _load(args.measure) or {}
    report = build_report(measure, _load(args.bench), _load(args.train), args.date)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


# ---- measure (CUDA) ----------------------------------------------------------------------------
def _events_ms(fn: Callable[[], object], reps: int) -> float:
    """GPU ms per call of fn (queued on torch's current stream), CUDA events, after warm-up."""
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / reps


def _graph_ms(fn: Callable[[], object], launches: int, reps: int) -> float:
    """GPU ms per call of fn: `launches` calls captured in one CUDA graph (fn must queue its
    work on torch's current stream, which is the capture stream inside the capture), the replay
    timed with CUDA events over `reps` replays. Warm-up calls first, outside the capture (they
    compile kernels and allocate, which a capture must not)."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(launches):
            fn()
    return _events_ms(graph.replay, reps) / launches


def copy_bandwidth(nbytes: int = 256 << 20, reps: int = 20) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + written bytes over time)."""
    import torch

    a = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ms = _events_ms(lambda: b.copy_(a), reps)
    return 2 * nbytes / (ms / 1e3)


def _poses(size: tuple[int, int], n: int) -> np.ndarray:
    from rtmotion.synthetic import motion_angles, render_sequence

    _, seq = render_sequence("ada", angles=motion_angles("dance", n / 30, 30, seed=0), size=size)
    return seq.keypoints.astype(np.float32)


def measure_kernels(size: int, bandwidth: float, reps: int, launches: int = 100
                    ) -> dict[str, dict[str, Any]]:
    """Each kernel alone at size x size, batch 1: {"NAME_SIZE": {"ms", "floor_ms", "bytes",
    "method"}}; ms per launch from a CUDA graph of `launches` launches (module docstring)."""
    import cupy
    import torch

    from rtmotion.kernels import cupy_kernels as ck
    from rtmotion.kernels.frames_torch import float_to_frames_torch
    from rtmotion.kernels.maps_numpy import PoseMapConfig

    cfg = PoseMapConfig(size=(size, size))
    kp = _poses((size, size), 2)
    h = w = size
    c = cfg.num_channels
    maps_p = cupy.asarray(ck.pose_maps_params(kp[:1], cfg))
    channel = cupy.asarray(cfg.primitives.channel.astype(np.int32))
    flow_p, bg, consts = ck.pose_flow_params(kp[:1], kp[1:], (w, h))
    flow_p, bg = cupy.asarray(flow_p), cupy.asarray(bg)
    maps = cupy.empty((1, c, h, w), cupy.float32)
    flow = cupy.empty((1, h, w, 2), cupy.float32)
    img = cupy.asarray(np.random.default_rng(0).uniform(-1, 1, (1, 3, h, w)).astype(np.float32))
    warped = cupy.empty_like(img)
    u8 = cupy.empty((1, h, w, 3), cupy.uint8)
    back = cupy.empty_like(img)
    img_t = torch.from_dlpack(img)
    u8_t = torch.empty((1, h, w, 3), dtype=torch.uint8, device="cuda")
    px = h * w
    cases: dict[str, tuple[Callable[[], object], int]] = {
        "maps": (lambda: ck.launch_pose_maps(maps_p, channel, maps, cfg), 4 * c * px),
        "flow": (lambda: ck.launch_pose_flow(flow_p, bg, flow, consts), 4 * 2 * px),
        "warp": (lambda: ck.warp_cupy(img, flow, out=warped), 4 * (3 + 2 + 3) * px),
        "float_to_frames": (lambda: ck.float_to_frames_cupy(img, out=u8), (4 * 3 + 3) * px),
        "frames_to_float": (lambda: ck.frames_to_float_cupy(u8, out=back), (3 + 4 * 3) * px),
        "float_to_frames_torch": (lambda: float_to_frames_torch(img_t, out=u8_t), (4 * 3 + 3) * px),
    }
    out: dict[str, dict[str, Any]] = {}
    index = torch.cuda.current_device()

    def on_torch_stream(fn: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:  # CuPy launches on whatever stream torch is on now (capture too)
            with ck.torch_stream(index, torch.cuda.current_stream().cuda_stream):
                fn()
        return call

    for name, (fn, nbytes) in cases.items():
        call = on_torch_stream(fn)
        try:
            ms, method = _graph_ms(call, launches, max(3, reps // launches)), f"cuda_graph x{launches}"
        except Exception as e:  # noqa: BLE001 - said in the entry; eager numbers still useful
            torch.cuda.synchronize()
            ms = _events_ms(call, reps)
            method = f"eager launches (graph capture failed: {type(e).__name__}: {str(e)[:120]})"
        out[f"{name}_{size}"] = {"ms": ms, "floor_ms": nbytes / bandwidth * 1e3, "bytes": nbytes,
                                 "method": method}
    return out


def measure_generator(size: int, reps: int) -> dict[str, Any]:
    """The "small" generator (random weights), fp32, batch 1, in a CUDA graph: ms per replay,
    with torch's TF32 setting as it is ("ms", "eager_ms", the setting in "tf32") and with TF32
    off ("ms_strict_fp32")."""
    import torch

    from rtmotion.devices import strict_fp32, tf32_state
    from rtmotion.models.config import generator_preset
    from rtmotion.models.generator import build_generator
    from rtmotion.runtime.torch_backend import TorchRunner

    torch.manual_seed(0)
    gen = build_generator(generator_preset("small", resolution=(size, size)))
    runner = TorchRunner(gen, "cuda").open()
    maps = torch.rand(1, gen.config.pose_channels, size, size, device="cuda")
    warped = torch.rand(1, 3, size, size, device="cuda") * 2 - 1
    mask = torch.ones(1, 1, size, size, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        eager_ms = _events_ms(lambda: runner(maps, warped, mask), reps)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        runner(maps, warped, mask)
    graph_ms = _events_ms(graph.replay, reps)
    with strict_fp32():  # cuDNN picks its kernels again for fp32 proper
        strict_ms = _graph_ms(lambda: runner(maps, warped, mask), 1, reps)
    tf32 = tf32_state()
    runner.close()
    return {"ms": graph_ms, "eager_ms": eager_ms, "ms_strict_fp32": strict_ms, "tf32": tf32}


def _timing_subject(folder: Path, size: int) -> Any:
    """An untrained "small" subject at size x size (timing only), written and loaded as a bundle."""
    import torch

    from rtmotion.kernels.maps_numpy import PoseMapConfig
    from rtmotion.models.config import generator_preset
    from rtmotion.models.generator import build_generator
    from rtmotion.pose.skeleton import BODY25
    from rtmotion.pose.stats import SubjectPoseStats
    from rtmotion.subject import load_subject, write_bundle
    from rtmotion.subject.crop import CropBox

    torch.manual_seed(0)
    res = (size, size)
    poses = _poses(res, 60)
    write_bundle(folder, name=f"timing{size}", resolution=res, crop=CropBox(0, 0, size, size, res),
                 pose_map_config=PoseMapConfig(size=res),
                 generator=build_generator(generator_preset("small", resolution=res)).eval(),
                 stats=SubjectPoseStats.from_keypoints(poses, BODY25.joints, res, "body25"),
                 source_video={"path": "", "width": size, "height": size, "fps": "30",
                               "frame_count": 60, "pose_source": "timing"},
                 validation_range=(50, 60), training={}, weights_dtype="float32")
    return load_subject(folder)


def measure_synth(size: int, frames: int, folder: Path) -> dict[str, dict[str, float]]:
    """ms per frame (p50, p95) of the whole per-frame step, three ways (module docstring)."""
    from rtmotion.pipeline.cuda_synth import CudaOptions
    from rtmotion.pipeline.synthesize import SubjectSynthesizer
    from rtmotion.timing import percentiles

    subject = _timing_subject(folder / f"s{size}", size)
    poses = _poses((size, size), frames + 10)
    makers = {"reference": lambda: SubjectSynthesizer(subject, device="cuda"),
              "cuda_eager": lambda: SubjectSynthesizer(subject, device="cuda",
                                                       cuda=CudaOptions(graphs=False)),
              "cuda_graphs": lambda: SubjectSynthesizer(subject, device="cuda", cuda=CudaOptions())}
    out = {}
    for name, make in makers.items():
        with make() as synth:
            for kp in poses[:10]:  # warm-up (and graph capture)
                synth(kp)
            ms = []
            for kp in poses[10:]:
                t0 = time.perf_counter()
                synth(kp)
                ms.append((time.perf_counter() - t0) * 1e3)
        out[name] = {**percentiles(ms, (50, 95), suffix="_ms"), "fps": float(1e3 / np.mean(ms))}
    return out


def _guard(raw: dict[str, Any], key: str, fn: Callable[[], Any]) -> None:
    """raw[key] = fn(), or the error (one failed part must not hide the others)."""
    import traceback

    try:
        raw[key] = fn()
    except Exception as e:  # noqa: BLE001 - recorded in the raw file for the reader
        raw.setdefault("errors", {})[key] = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2000:]}"


def cmd_measure(args: argparse.Namespace) -> int:
    import torch

    if not torch.cuda.is_available():
        sys.stderr.write("gpu_report measure: torch sees no CUDA device\n")
        return 2
    from rtmotion.devices import tf32_state

    raw: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                           "date": time.strftime("%Y-%m-%d", time.gmtime()), "kernels": {},
                           "generator": {}, "synth": {}, "tf32": tf32_state(),
                           "note": "fp32 numbers on CUDA are TF32 convolutions unless a key says "
                                   "strict_fp32 (torch's cuDNN default)"}
    _guard(raw, "bandwidth_bytes_per_s", copy_bandwidth)
    bw = raw.get("bandwidth_bytes_per_s")
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="gpu-report-") as tmp:
        for size in args.sizes:
            if bw:
                _guard(raw["kernels"], f"_{size}",
                       lambda s=size: measure_kernels(s, bw, args.reps, args.launches))
                raw["kernels"].update(raw["kernels"].pop(f"_{size}", {}))
            _guard(raw["generator"], str(size), lambda s=size: measure_generator(s, args.reps))
            _guard(raw["synth"], str(size), lambda s=size: measure_synth(s, args.frames, Path(tmp)))
            out.write_text(json.dumps(raw, indent=2) + "\n")  # keep what is done if a later part dies
    out.write_text(json.dumps(raw, indent=2) + "\n")
    sys.stdout.write(json.dumps(raw, indent=2)[:6000] + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="run the GPU measurements (needs CUDA + CuPy)")
    m.add_argument("--out", required=True, help="raw JSON path")
    m.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    m.add_argument("--reps", type=int, default=200, help="launches timed per kernel (and replays "
                   "of the generator)")
    m.add_argument("--launches", type=int, default=100,
                   help="kernel launches captured in one CUDA graph (ms per launch = replay / this)")
    m.add_argument("--frames", type=int, default=200, help="frames timed per synthesizer")
    m.set_defaults(fn=cmd_measure)
    w = sub.add_parser("write", help="write the report from the raw files")
    w.add_argument("--measure", required=True, help="raw JSON of `measure`")
    w.add_argument("--bench", help="`rtmotion bench --json` output")
    w.add_argument("--train", help="training timing JSON of gpu_check.sh")
    w.add_argument("--date", help="report date (default: the measurement's)")
    w.add_argument("--out", required=True, help="report path, e.g. docs/gpu_report.json")
    w.set_defaults(fn=cmd_write)
    args = p.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
