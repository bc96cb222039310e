"""`open_engine`: the one call that gives the pipeline a runner for a subject's generator (which
engine: the request checked against the backend x precision table, and the `auto` policy; the
building and checking itself is `rtmotion.export.builder.EngineBuilder`).

    runner, choice = open_engine(subject, backend="auto", precision="auto", device="auto")
    log.info("%s", choice.reason)      # "auto picked aoti/fp32 on cpu: ..."
    with runner:                       # the runner is returned NOT opened
        frame, gate = runner(pose_maps, warped_prev, prev_mask)

It builds the engine on first use into the engine cache (the user's cache folder,
`~/.cache/rtmotion/engines`, by default: `rtmotion.engine_request.default_engine_dir`; see
`rtmotion.export.cache`), reuses it afterwards, and rebuilds it (with one "rebuilding" log
line) when the cached one was built for another machine, torch, subject, or is damaged.

Backends and what is built (W x H = the subject's resolution, batch 1 by default):

    backend       precision          artifact                    built from
    torch         fp32 | fp16 | bf16 (nothing: eager module)     -
    onnxruntime   fp32               onnx-fp32-...onnx           torch.onnx.export (+ parity)
    onnxruntime   int8               onnxruntime-int8-...onnx    Q/DQ from the fp32 graph + a
                                                                 calibration set (+ quality)
    aoti          fp32 (fp16, bf16   aoti-<p>-<device>-...pt2    torch.export + AOTInductor
                  on CUDA)                                       (+ parity)
    tensorrt      fp16 | fp32 | int8 tensorrt-<p>-<gpu>-...plan  the fp32 / fp16 / Q/DQ graph

Every compiled engine is checked before the cache keeps it: its outputs are finite and within
tolerance of torch eager fp32 on recorded (or random) inputs (fp32: ENGINE_ATOL["fp32"], with
TF32 off during the check; fp16/bf16: ENGINE_ATOL["fp16"]; INT8: SSIM of its frames >=
INT8_MIN_SSIM), and its median latency on this machine is measured into the sidecar. A build or
check that fails is remembered by the cache (`rtmotion.export.cache`: reason and machine), so
`auto` does not pay for it again on every start.

`auto` backend:
    CUDA: the first that builds of TensorRT, AOTInductor CUDA (loaded once in a child process
          first, see `aoti.probe_in_subprocess`), torch CUDA (fp16). TensorRT only once an
          engine of it passed its checks on this machine for this subject (built with
          `rtmotion build SUBJECT --backend tensorrt`): the TensorRT path has never run on a GPU
          yet, and a failing first build costs minutes. Not measured here (no GPU machine was
          lent to this work): the order is the usual one.
    CPU:  every compiled candidate is built (once, cached): AOTInductor (when a C++ compiler is
          here), ONNX Runtime INT8 (when a calibration set exists; used only when its SSIM
          against fp32 is >= INT8_MIN_SSIM), ONNX Runtime fp32; each build measures its median
          latency on this machine into its sidecar, and the fastest is picked, AOTInductor's
          time weighted by `ALONE_VS_PIPELINE` (measured alone, it does not show that its
          threads compete with the pipeline's other stages, where ONNX Runtime's do not spin).
          On the 2-core dev CPU that is ONNX Runtime (INT8 when calibrated), not AOTInductor
          (docs/BENCHMARKS.md, "Generator engines", "The person gets the pixels"). torch when
          none can be built.
A backend or device that was asked for and cannot run is an error (InputError /
MissingDependencyError, one line), never a silent fall back to another backend or the CPU.
Only when the backend is "auto" does a failed build fall through to the next candidate (said
in the log and in `EngineChoice.reason`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rtmotion.devices import resolve_device
from rtmotion.engine_request import (
    BACKEND_PRECISIONS,
    CUDA_PRECISIONS,
    PRECISIONS,
    EngineRequest,
    default_calibration_dir,
)
from rtmotion.errors import InputError, RtmotionError
from rtmotion.export.aoti import find_cxx
from rtmotion.export.builder import EngineBuilder
from rtmotion.export.cache import CachedEngine, EngineCache
from rtmotion.export.calibration import CalibrationSet
from rtmotion.export.int8 import INT8_MIN_SSIM
from rtmotion.lazy import available
from rtmotion.models.generator import PoseGenerator
from rtmotion.runtime import canonical_backend, get_backend
from rtmotion.runtime.base import GeneratorRunner
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

@dataclass
class EngineChoice:
    """What `open_engine` picked.

    Attributes:
        backend: "torch", "onnxruntime", "aoti" or "tensorrt".
        precision: "fp32", "fp16", "bf16" or "int8".
        device: "cpu", "cuda:0"...
        artifact: the engine file the runner loads (None for torch).
        reason: one sentence saying why, e.g. "auto picked aoti/fp32 on cpu: ...".
        built: True when this call built the artifact (False: reused from the cache).
        info: the artifact's sidecar (build time, parity, INT8 quality...), {} for torch.
        builds: every artifact this call built (the chosen one and, for `auto` on a CPU, the
            candidates it measured), as (path, seconds); empty when all came from the cache.
        engine_dir: the engine cache folder used.
    """

    backend: str
    precision: str
    device: str
    artifact: Path | None
    reason: str
    built: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    builds: list[tuple[Path, float]] = field(default_factory=list)
    engine_dir: Path | None = None

    @property
    def build_seconds(self) -> float:
        """Seconds this call spent building engines (0 when everything was cached)."""
        return float(sum(s for _, s in self.builds))

    def build_line(self) -> str | None:
        """"built aoti-fp32-...pt2 in 58.6 s, ...; cached in DIR (not counted in the speed)",
        or None when nothing was built."""
        if not self.builds:
            return None
        parts = ", ".join(f"{p.name} in {s:.1f} s" for p, s in self.builds)
        where = self.engine_dir if self.engine_dir is not None else self.builds[0][0].parent.parent
        return (f"built {parts} (first use on this machine; cached in {where}, reused from any "
                f"folder; not counted in the speed)")


def _check_request(backend: str, precision: str, device: torch.device) -> None:
    if precision != "auto" and precision not in PRECISIONS:
        raise InputError(None, f"unknown precision '{precision}'",
                         f"use auto or one of {', '.join(PRECISIONS)}")
    if backend == "auto":
        if precision in CUDA_PRECISIONS and device.type != "cuda":
            raise InputError(None, f"precision {precision} needs a CUDA device", "use fp32 or int8 on the CPU")
        return
    allowed = BACKEND_PRECISIONS[backend]
    if precision != "auto" and precision not in allowed:
        raise InputError(None, f"the {backend} backend builds {', '.join(allowed)}, not {precision}",
                         f"use --precision {allowed[0]}")
    if backend == "tensorrt" and device.type != "cuda":
        raise InputError(None, "the tensorrt backend needs a CUDA GPU, and the device is the CPU",
                         "use --device cuda on a machine with an NVIDIA GPU, or --backend aoti")
    if precision in CUDA_PRECISIONS and device.type != "cuda":
        raise InputError(None, f"{backend} {precision} needs a CUDA device", "use fp32 on the CPU")


def _explicit_precision(backend: str, precision: str, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if backend in ("torch", "aoti"):
        return "fp16" if device.type == "cuda" else "fp32"
    if backend == "tensorrt":
        return "fp16"
    return "fp32"  # onnxruntime: INT8 only when asked for, or chosen by backend=auto


def _auto_candidates(precision: str, device: torch.device, builder: EngineBuilder
                     ) -> list[tuple[str, str, str]]:
    """(backend, precision, why this one) in the order `auto` tries them."""
    out: list[tuple[str, str, str]] = []
    if device.type == "cuda":
        p = "fp16" if precision == "auto" else precision
        if (available("tensorrt") and p in BACKEND_PRECISIONS["tensorrt"]
                and builder.verified_before("tensorrt", p)):
            out.append(("tensorrt", p, "TensorRT is the fastest on NVIDIA GPUs (its engine "
                        "passed its checks here before)"))
        if p in BACKEND_PRECISIONS["aoti"] and find_cxx() is not None:
            out.append(("aoti", p, "AOTInductor CUDA (no TensorRT here)"))
        if p in BACKEND_PRECISIONS["torch"]:
            out.append(("torch", p, "torch CUDA (no TensorRT or AOTInductor build here)"))
        return out
    if precision in ("auto", "fp32") and find_cxx() is not None:
        out.append(("aoti", "fp32", "AOTInductor"))
    if available("onnxruntime"):
        # int8 asked for without a set: kept, so the error names `rtmotion calibrate`
        if precision == "int8" or (precision == "auto" and builder.has_calibration()):
            out.append(("onnxruntime", "int8", "ONNX Runtime INT8"))
        if precision in ("auto", "fp32"):
            out.append(("onnxruntime", "fp32", "ONNX Runtime fp32"))
    if precision in ("auto", "fp32"):
        out.append(("torch", "fp32", "torch eager"))
    return out


def open_builder(generator: PoseGenerator, name: str, backend: str = "auto",
                 precision: str = "auto", device: str | torch.device = "auto",
                 engine_dir: str | Path | None = None, threads: int = 0,
                 calibration_dir: str | Path | None = None,
                 calibration: CalibrationSet | None = None, batch: int = 1,
                 ) -> tuple[GeneratorRunner, EngineChoice]:
    """`open_engine` for any generator (`name`: its folder in the cache; `calibration_dir`:
    the folder holding its sets, e.g. <calibration root>/<name>, None: none; `calibration`: a
    set to use instead; `engine_dir` None: `default_engine_dir()`). See `open_engine`."""
    dev = resolve_device(device)
    auto_backend = backend == "auto"
    key = backend if auto_backend else canonical_backend(backend)
    _check_request(key, precision, dev)
    builder = EngineBuilder(generator, name, dev, EngineCache(engine_dir),
                            Path(calibration_dir) if calibration_dir is not None else None,
                            calibration, threads, batch)
    builder.skip_failed = auto_backend
    runner, choice = _open(builder, key, precision, dev)
    choice.builds = list(builder.cache.builds)
    choice.engine_dir = builder.cache.root
    return runner, choice


def _open(builder: EngineBuilder, key: str, precision: str, dev: torch.device
          ) -> tuple[GeneratorRunner, EngineChoice]:
    """`open_builder`'s choice: the backend asked for, or `auto`'s pick."""
    name = builder.name
    if key != "auto":
        p = _explicit_precision(key, precision, dev)
        runner, entry = builder.runner(key, p)
        return runner, _choice(key, p, dev, entry, f"{key}/{p} on {dev} as asked")
    candidates = _auto_candidates(precision, dev, builder)
    if not candidates:
        raise InputError(None, f"no backend here runs precision {precision} on {dev}",
                         "see `rtmotion info` for the backends this machine has")
    if dev.type == "cpu":
        return _fastest_on_cpu(builder, candidates, precision)
    skipped: list[str] = []
    if available("tensorrt") and not any(c[0] == "tensorrt" for c in candidates):
        skipped.append("tensorrt: not tried by auto until one of its engines passed its checks "
                       f"on this machine (`rtmotion build {name} --backend tensorrt`)")
    for name_, p, why in candidates:
        try:
            runner, entry = builder.runner(name_, p)
        except RtmotionError as e:
            if name_ == "torch":
                raise
            log.warning("auto: %s/%s is not usable here (%s); trying the next backend", name_, p, e)
            skipped.append(f"{name_}/{p}: {e}")
            continue
        reason = f"auto picked {name_}/{p} on {dev}: {why}"
        if skipped:
            reason += " (skipped " + "; ".join(skipped) + ")"
        return runner, _choice(name_, p, dev, entry, reason)
    raise InputError(None, f"no backend could be built for {dev}: " + "; ".join(skipped),
                     "see `rtmotion info`")


#: Weights of a CPU engine's latency measured alone at build, before auto compares them: inside
#: convert / live on the 2-core dev CPU, AOTInductor (13.8 ms alone) lost to ONNX Runtime (14.1 ms
#: alone, its threads not spinning): offline 12.9 vs 15.0 fps, live p95 189 vs 108 ms
#: (docs/BENCHMARKS.md, 2026-12-03). AOTInductor is picked when it is a quarter faster alone.
ALONE_VS_PIPELINE: dict[str, float] = {"aoti": 1.25}


def _fastest_on_cpu(builder: EngineBuilder, candidates: list[tuple[str, str, str]],
                    precision: str) -> tuple[GeneratorRunner, EngineChoice]:
    """Build every compiled candidate (each once; cached), drop INT8 when its SSIM vs fp32 is
    under the bound, and pick the lowest latency measured at build time on this machine
    (weighted by `ALONE_VS_PIPELINE`)."""
    built: list[tuple[float, str, str, GeneratorRunner, CachedEngine]] = []
    skipped: list[str] = []
    for name_, p, _ in candidates:
        if name_ == "torch":
            continue
        try:
            runner, entry = builder.runner(name_, p)
        except RtmotionError as e:
            log.warning("auto: %s/%s is not usable here (%s)", name_, p, e)
            skipped.append(f"{name_}/{p}: {e}")
            continue
        assert entry is not None
        if p == "int8" and precision == "auto":
            q = entry.sidecar.get("quality") or {}
            if not q.get("within_bound"):
                skipped.append(f"{name_}/int8: SSIM vs fp32 {q.get('ssim_vs_fp32')} < {INT8_MIN_SSIM}")
                log.info("auto: INT8 SSIM vs fp32 %s is under the bound %.2f", q.get("ssim_vs_fp32"),
                         INT8_MIN_SSIM)
                continue
        ms = float((entry.sidecar.get("latency") or {}).get("p50_ms") or float("inf"))
        built.append((ms, name_, p, runner, entry))
    built.sort(key=lambda b: b[0] * ALONE_VS_PIPELINE.get(b[1], 1.0))
    if not built:
        if any(c[0] == "torch" for c in candidates):
            why = "no compiled backend could be built here" + (
                " (" + "; ".join(skipped) + ")" if skipped else "")
            runner = get_backend("torch", builder.generator, builder.device)
            return runner, _choice("torch", "fp32", builder.device, None,
                                   f"auto picked torch/fp32 on cpu: {why}")
        raise InputError(None, "no backend could be built for the CPU: " + "; ".join(skipped),
                         "see `rtmotion info`")
    ms, name_, p, runner, entry = built[0]
    measured = ", ".join(f"{b[1]}/{b[2]} {b[0]:.1f} ms" for b in built)
    reason = (f"auto picked {name_}/{p} on cpu: the fastest built for this CPU "
              f"(median ms per frame measured at build: {measured}; AOTInductor's weighted x"
              f"{ALONE_VS_PIPELINE['aoti']:g} for the cores it takes from the pipeline)")
    if p == "int8":
        reason += (f"; INT8 SSIM vs fp32 {entry.sidecar['quality']['ssim_vs_fp32']:.4f} >= "
                   f"{INT8_MIN_SSIM}")
    if skipped:
        reason += "; skipped " + "; ".join(skipped)
    if not builder.has_calibration():
        reason += f"; INT8 not tried: no calibration set (`rtmotion calibrate {builder.name}`)"
    return runner, _choice(name_, p, builder.device, entry, reason)


def _choice(backend: str, precision: str, dev: torch.device, entry: CachedEngine | None,
            reason: str) -> EngineChoice:
    return EngineChoice(backend, precision, str(dev), entry.path if entry else None, reason,
                        built=bool(entry and entry.built), info=dict(entry.sidecar) if entry else {})


def open_engine(subject: Subject, backend: str = "auto", precision: str = "auto",
                device: str | torch.device = "auto", engine_dir: str | Path | None = None,
                threads: int = 0, calibration_dir: str | Path | None = None,
                ) -> tuple[GeneratorRunner, EngineChoice]:
    """A runner of the subject's generator on the chosen backend, building it on first use.

    Args:
        subject: a loaded `rtmotion.subject.Subject`.
        backend: "auto", "torch", "onnxruntime", "aoti" or "tensorrt" (aliases accepted).
        precision: "auto", "fp32", "fp16", "bf16" or "int8".
        device: "auto", "cpu", "cuda", "cuda:N" (`rtmotion.devices.resolve_device`).
        engine_dir: the engine cache folder (None: `default_engine_dir()`, the user's cache).
        threads: CPU intra-op threads for onnxruntime / aoti (0 = the library default).
        calibration_dir: the root of calibration sets; the subject's are in
            `<calibration_dir>/<subject name>/<W>x<H>.npz` (`rtmotion calibrate`; None:
            `default_calibration_dir()`).
    Returns:
        (runner, choice): the runner is NOT opened (open it, or use it as a context manager,
        or give it to `SubjectSynthesizer`, which opens it); `choice` says what was picked and
        why (`choice.reason`, one sentence for the log).
    Raises:
        InputError: a backend/precision/device combination that cannot run here (e.g.
            tensorrt or fp16 without a CUDA GPU), INT8 without a calibration set.
        MissingDependencyError: the backend's package or a C++ compiler (aoti) is missing.
    """
    return open_builder(subject.generator, subject.name, backend, precision, device, engine_dir,
                        threads, Path(calibration_dir or default_calibration_dir()) / subject.name)


def open_requested(subject: Subject, request: EngineRequest,
                   calibration_dir: str | Path | None = None,
                   ) -> tuple[GeneratorRunner, EngineChoice]:
    """`open_engine` for an `EngineRequest` (backend, precision, device, engine dir, threads)."""
    return open_engine(subject, request.backend, request.precision, request.device,
                       request.engine_dir, request.threads, calibration_dir)
