"""Generator latency per backend x precision x resolution, beside pix2pixHD eager (EDN's
generator), in one run: what `rtmotion bench` reports as the generator stage's engines.

    rows = time_generators(subject, backends=("torch", "onnxruntime", "aoti"),
                           precisions=("fp32", "int8"), resolutions=(128, 256), iters=50)

Each row is one engine at one size: its build (through the engine cache, so a second run
reuses it), then `warmup` untimed calls and `iters` timed calls on the same recorded inputs the
engine was calibrated and checked with (or random inputs in the real ranges when there is no
calibration set), one frame at a time (batch 1), as the pipeline calls it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rtmotion.atomic import atomic_path
from rtmotion.devices import resolve_device
from rtmotion.engine_request import (
    BACKEND_PRECISIONS,
    BACKENDS,
    default_calibration_dir,
    default_engine_dir,
)
from rtmotion.errors import RtmotionError
from rtmotion.export.calibration import (
    CalibrationSet,
    load_calibration,
)
from rtmotion.export.engine import open_builder
from rtmotion.models.config import GeneratorConfig
from rtmotion.models.generator import (
    PoseGenerator,
    build_generator,
    example_inputs,
    input_names,
)
from rtmotion.models.pix2pixhd_reference import Pix2PixHDGlobalGenerator
from rtmotion.runtime import canonical_backend
from rtmotion.runtime.base import GeneratorRunner
from rtmotion.subject import load_subject
from rtmotion.timing import call_summary

log = logging.getLogger(__name__)

#: pix2pixHD eager takes ~0.5 s a frame at 256x256 on 2 CPU cores: a few calls are enough.
PIX2PIXHD_MAX_ITERS = 5


def generator_at(generator: PoseGenerator, resolution: tuple[int, int]) -> PoseGenerator:
    """The same network at another (W, H): the weights are size-independent (a conv net); the
    background plate buffer, when there is one, is resized (bilinear)."""
    if tuple(generator.config.resolution) == tuple(resolution):
        return generator
    gen = build_generator(generator.config.with_(resolution=tuple(resolution)))
    state = dict(generator.state_dict())
    if "background" in state:
        w, h = resolution
        state["background"] = F.interpolate(state["background"].float(), size=(h, w),
                                            mode="bilinear", align_corners=False)
    gen.load_state_dict(state)
    return gen.eval()


def _inputs(gen: PoseGenerator, cal: CalibrationSet | None, device: torch.device,
            count: int) -> list[dict[str, torch.Tensor]]:
    names = input_names(gen.config)
    if cal is None:
        return [example_inputs(gen.config, device=device, seed=s) for s in range(min(count, 4))]
    return [{k: torch.from_numpy(v).to(device) for k, v in cal.feeds(i % len(cal), names).items()}
            for i in range(min(count, len(cal)))]


def timed_calls(call: Any, feeds: list[Any], warmup: int, iters: int) -> list[float]:
    """Wall time (ms) of `iters` calls `call(feeds[i % len(feeds)])` after `warmup` untimed ones
    (the call itself synchronizes a GPU when it runs on one)."""
    for i in range(warmup):
        call(feeds[i % len(feeds)])
    ms = []
    for i in range(iters):
        t0 = time.perf_counter()
        call(feeds[i % len(feeds)])
        ms.append((time.perf_counter() - t0) * 1e3)
    return ms


def runner_call(runner: GeneratorRunner) -> Callable[[dict[str, torch.Tensor]], Any]:
    """One call of `runner` on a feed dict (inputs by name, in the runner's order)."""
    return lambda feeds: runner(*feeds.values())


def pix2pixhd_call(resolution: tuple[int, int], pose_channels: int, device: torch.device
                   ) -> Callable[[Any], None]:
    """One forward of pix2pixHD's global generator (EDN's; random weights, eager fp32) at (W, H)
    on a fixed input, synchronized on CUDA: the baseline every speed ratio is measured against."""
    w, h = resolution
    net = Pix2PixHDGlobalGenerator(input_nc=pose_channels + 3).eval().to(device)
    x = torch.rand(1, pose_channels + 3, h, w, device=device) * 2 - 1

    def call(_: Any) -> None:
        with torch.inference_mode():
            net(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return call


def time_pix2pixhd(resolution: tuple[int, int], pose_channels: int, device: torch.device,
                   iters: int, warmup: int = 1) -> dict[str, Any]:
    """pix2pixHD's global generator (EDN's; random weights, eager fp32) at (W, H)."""
    w, h = resolution
    ms = timed_calls(pix2pixhd_call(resolution, pose_channels, device), [None], warmup,
                     min(iters, PIX2PIXHD_MAX_ITERS))
    return {"model": "pix2pixHD global (EDN)", "backend": "torch", "precision": "fp32",
            "device": str(device), "resolution": f"{w}x{h}", **call_summary(ms)}


def time_generators(
    subject_or_config: Any,
    backends: tuple[str, ...] | list[str] = BACKENDS,
    precisions: tuple[str, ...] | list[str] = ("fp32", "int8"),
    resolutions: tuple[int, ...] | list[int] | None = None,
    iters: int = 50,
    *,
    warmup: int = 5,
    device: str | torch.device = "cpu",
    threads: int = 0,
    engine_dir: str | Path | None = None,
    calibration_dir: str | Path | None = None,
    pix2pixhd: bool = True,
) -> list[dict[str, Any]]:
    """Time the generator on every backend x precision x resolution asked for (one process).

    Args:
        subject_or_config: a loaded Subject (its generator and calibration set are used; other
            resolutions run the same weights, see `generator_at`), or a GeneratorConfig
            (random weights, seed 0; no calibration set, so no INT8).
        backends: names or aliases ("torch", "onnxruntime", "aoti", "tensorrt").
        precisions: "fp32", "fp16", "bf16", "int8"; each backend times those it builds.
        resolutions: square sizes (e.g. (128, 256)), or None: the subject's/config's own.
        iters: timed calls per engine (pix2pixHD: at most PIX2PIXHD_MAX_ITERS).
        warmup: untimed calls first.
        device: "cpu", "cuda", "cuda:N" (an unavailable device raises InputError).
        threads: CPU threads for torch / aoti / onnxruntime (0: leave the libraries' defaults).
        engine_dir: the engine cache (engines are built once and reused by later runs; None:
            `default_engine_dir()`).
        calibration_dir: root of calibration sets (a subject's: DIR/<name>/<W>x<H>.npz; a
            set recorded at another size is resampled to the timed size for INT8; None:
            `default_calibration_dir()`).
        pix2pixhd: also time pix2pixHD's global generator, eager fp32, at each size.
    Returns:
        One dict per timed engine: model, backend, precision, device, resolution "WxH",
        p50_ms / p95_ms / mean_ms / min_ms (wall ms per call, batch 1) and calls; engines also
        build_seconds, built (this run), artifact, parity / quality (INT8: SSIM vs fp32), and
        "calibration" (which inputs); a backend that cannot run here gives a row with "error"
        (one line) and no timings.
    """
    dev = resolve_device(device)
    if threads > 0:
        torch.set_num_threads(threads)
    if isinstance(subject_or_config, GeneratorConfig):
        torch.manual_seed(0)
        base = build_generator(subject_or_config).eval()
        name, cal_root = "config", None
    else:
        base = subject_or_config.generator
        name = subject_or_config.name
        cal_root = Path(calibration_dir or default_calibration_dir()) / name
    own = tuple(base.config.resolution)
    sizes = [own] if not resolutions else [(int(r), int(r)) for r in resolutions]
    rows: list[dict[str, Any]] = []
    recorded: CalibrationSet | None = None
    if cal_root is not None:
        try:
            recorded = load_calibration(cal_root, own, input_names(base.config))
        except RtmotionError as e:
            log.info("no calibration set (%s): random inputs, no INT8", e)
    for size in sizes:
        gen = generator_at(base, size)
        cal = recorded.resized(size) if recorded is not None else None
        cal_note = ("none (random inputs)" if cal is None else
                    f"recorded at {own[0]}x{own[1]}" + ("" if size == own else ", resampled"))
        tag = f"{size[0]}x{size[1]}"
        for b in backends:
            backend = canonical_backend(b)
            for p in precisions:
                if p not in BACKEND_PRECISIONS[backend]:
                    continue
                row: dict[str, Any] = {"model": f"rtmotion {name}", "backend": backend,
                                       "precision": p, "device": str(dev), "resolution": tag,
                                       "calibration": cal_note}
                try:
                    if p == "int8" and cal is None:
                        raise RtmotionError("INT8 needs a calibration set "
                                            f"(`rtmotion calibrate {name}`)")
                    runner, choice = open_builder(gen, f"{name}", backend, p, dev, engine_dir,
                                                  threads, None, cal)
                    row.update(artifact=str(choice.artifact) if choice.artifact else None,
                               built=choice.built, build_seconds=choice.info.get("build_seconds"),
                               parity=(choice.info.get("parity") or {}).get("max_abs_diff"),
                               quality=choice.info.get("quality"))
                    feeds = _inputs(gen, cal, dev, 8)
                    with runner:
                        runner.sync_timing = True
                        call = runner_call(runner)
                        timed_calls(call, feeds, warmup, 0)
                        runner.stats.clear()
                        timed_calls(call, feeds, 0, iters)
                    row.update(runner.stats.summary())
                except RtmotionError as e:
                    row["error"] = str(e).splitlines()[0]
                    log.warning("%s/%s at %s: %s", backend, p, tag, row["error"])
                rows.append(row)
                log.info("%s", {k: v for k, v in row.items() if k not in ("quality", "artifact")})
        if pix2pixhd:
            rows.append(time_pix2pixhd(size, base.config.pose_channels, dev, iters))
            log.info("%s", rows[-1])
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of `time_generators` rows."""
    out = ["| model | backend | precision | size | p50 ms | p95 ms | build s | notes |",
           "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        notes = []
        if r.get("error"):
            notes.append(r["error"])
        if r.get("parity") is not None:
            notes.append(f"max abs diff vs torch {r['parity']:.1e}")
        if r.get("quality"):
            notes.append(f"SSIM vs fp32 {r['quality']['ssim_vs_fp32']:.4f}")
        p50 = f"{r['p50_ms']:.1f}" if "p50_ms" in r else "-"
        p95 = f"{r['p95_ms']:.1f}" if "p95_ms" in r else "-"
        build = f"{r['build_seconds']:.0f}" if r.get("build_seconds") else "-"
        out.append(f"| {r['model']} | {r['backend']} | {r['precision']} | {r['resolution']} | "
                   f"{p50} | {p95} | {build} | {'; '.join(notes)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """`python -m rtmotion.export.bench_generator SUBJECT [...]`: the table, for developers
    until `rtmotion bench` calls `time_generators` (writes a JSON report with -o)."""
    ap = argparse.ArgumentParser(prog="python -m rtmotion.export.bench_generator")
    ap.add_argument("subject")
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS))
    ap.add_argument("--precisions", nargs="+", default=["fp32", "int8"])
    ap.add_argument("--resolutions", nargs="+", type=int, default=None)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--engine-dir", type=Path, default=default_engine_dir())
    ap.add_argument("--calibration-dir", type=Path, default=default_calibration_dir())
    ap.add_argument("-o", "--output", type=Path, help="write the rows as JSON")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = time_generators(load_subject(args.subject), args.backends, args.precisions,
                           args.resolutions, args.iters, device=args.device, threads=args.threads,
                           engine_dir=args.engine_dir, calibration_dir=args.calibration_dir)
    if args.output:
        with atomic_path(args.output, suffix=".json") as tmp:
            tmp.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(format_table(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
