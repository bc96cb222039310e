"""`EngineBuilder`: builds (through the engine cache) and checks the runnable artifacts of one
generator on one device: the fp32 ONNX graph, the INT8 Q/DQ graph, the AOTInductor package, the
TensorRT engine, each checked against torch eager fp32 (finite outputs, parity or INT8 SSIM) and
timed on this machine before the cache keeps it (`rtmotion.export.engine` says which to build;
this module only builds what it is asked for).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from rtmotion.devices import strict_fp32
from rtmotion.errors import InputError
from rtmotion.export.aoti import (
    MissingCompilerError,
    build_aoti,
    find_cxx,
    probe_in_subprocess,
)
from rtmotion.export.cache import (
    CachedEngine,
    EngineBuildError,
    EngineCache,
    EngineSpec,
    read_sidecar,
)
from rtmotion.export.calibration import (
    CalibrationSet,
    calibration_paths,
    load_calibration,
    split,
)
from rtmotion.export.int8 import (
    INT8_MIN_SSIM,
    TENSORRT_DQ_INPUT_TYPES,
    dequantize_input_types,
    int8_quality,
    quantize_int8,
    ssim_uint8,
    to_uint8,
)
from rtmotion.export.machine import device_tag, generator_digest, machine_fingerprint
from rtmotion.export.onnx_export import (
    OPSET,
    ParityError,
    check_onnx_parity,
    export_generator_onnx,
)
from rtmotion.export.tensorrt_build import (
    build_tensorrt,
    tensorrt_version,
    to_fp16_graph,
)
from rtmotion.lazy import CORE, require
from rtmotion.models.generator import (
    GRAPH_REVISION,
    PoseGenerator,
    example_inputs,
    input_names,
    input_shapes,
)
from rtmotion.runtime import get_backend
from rtmotion.runtime.base import GeneratorRunner
from rtmotion.runtime.tensorrt_backend import import_tensorrt

log = logging.getLogger(__name__)

_CPU = torch.device("cpu")

#: largest |AOTInductor - torch| accepted at build time (measured ~2e-6 on fp32 CPU builds)
AOTI_ATOL = 1e-3
#: largest |ONNX Runtime fp32 - torch| accepted at export time: measured 5.5e-5 on demo-ada at
#: 128x128 and 6e-4 at 256x256 (ONNX Runtime's instance norm and conv kernels accumulate
#: differently); 2e-3 is a quarter of one 8-bit grey level (1 / 127.5 in [-1, 1] units).
ONNX_ATOL = 2e-3
#: largest |compiled engine - torch eager fp32| accepted before an AOTInductor or TensorRT engine
#: is cached, by the precision it computes in (INT8 is held to INT8_MIN_SSIM instead)
ENGINE_ATOL = {"fp32": AOTI_ATOL, "fp16": 5e-2, "bf16": 5e-2}



class EngineBuilder:
    """Builds (through the cache) the artifacts of one generator on one device.

    Args:
        generator: the generator (a subject's, or any PoseGenerator).
        name: the subject name (folder name in the cache).
        device: where the engines will run.
        cache: the engine cache.
        calibration_dir: the folder holding this generator's calibration sets
            (calibration/<subject>/), or None.
        calibration: a calibration set to use instead of reading `calibration_dir`.
        threads: intra-op threads for onnxruntime / aoti on CPU (0 = the library default).
        batch: static batch size.
    """

    def __init__(self, generator: PoseGenerator, name: str, device: torch.device,
                 cache: EngineCache, calibration_dir: Path | None = None,
                 calibration: CalibrationSet | None = None, threads: int = 0,
                 batch: int = 1) -> None:
        self.generator = generator
        self.config = generator.config
        self.name = name
        self.device = device
        self.cache = cache
        self.calibration_dir = calibration_dir
        self._calibration = calibration
        self.threads = int(threads)
        self.batch = int(batch)
        self.digest = generator_digest(generator)
        self.folder = cache.subject_dir(name, self.digest)
        self.input_names = input_names(self.config)
        self.shapes = {k: list(v) for k, v in input_shapes(self.config, self.batch).items()}
        #: raise KnownBuildFailure for builds that failed on this machine before instead of
        #: trying again (`--backend auto` sets it; an explicit backend tries again)
        self.skip_failed = False

    def _ensure(self, spec: EngineSpec, build: Any) -> CachedEngine:
        return self.cache.ensure(spec, build, skip_failed=self.skip_failed)

    # ---- shared pieces -----------------------------------------------------------------------
    @property
    def _size(self) -> str:
        w, h = self.config.resolution
        return f"b{self.batch}-{w}x{h}"

    def _key(self, backend: str, precision: str, device: torch.device, **more: Any) -> dict[str, Any]:
        return {"subject": self.name, "subject_digest": self.digest, "backend": backend,
                "precision": precision, "batch": self.batch, "inputs": self.shapes,
                "graph_revision": GRAPH_REVISION, "machine": machine_fingerprint(device), **more}

    def has_calibration(self) -> bool:
        if self._calibration is not None:
            return True
        if self.calibration_dir is None:
            return False
        return calibration_paths(self.calibration_dir, self.config.resolution)[0].is_file()

    def calibration(self) -> CalibrationSet:
        """The calibration set (InputError naming the command to run when there is none)."""
        cal = self._recorded()
        if cal is None:
            raise InputError(None, f"no calibration set for {self.name} (needed for INT8)",
                             f"record it with `rtmotion calibrate {self.name}`")
        return cal

    def _recorded(self) -> CalibrationSet | None:
        """The calibration set, read once, or None when there is none (checks feed random
        inputs then)."""
        if self._calibration is None and self.has_calibration():
            assert self.calibration_dir is not None
            self._calibration = load_calibration(self.calibration_dir, self.config.resolution,
                                                 self.input_names)
            recorded = self._calibration.info.get("subject_digest")
            if recorded and recorded != self.digest:
                log.warning("the calibration set in %s was recorded with other weights of %s "
                            "(digest %s, now %s): re-record it with `rtmotion calibrate %s`",
                            self.calibration_dir, self.name, recorded, self.digest, self.name)
        return self._calibration

    def _feeds(self, frames: int, batch: int) -> tuple[list[dict[str, torch.Tensor]], str]:
        """Feeds (CPU tensors by input name) and where they came from: the first `frames`
        recorded frames in slices of `batch` when there is a calibration set ("recorded"), else
        two random feeds of the builder's batch in the real ranges ("random")."""
        cal = self._recorded()
        if cal is None:
            return [example_inputs(self.config, batch=self.batch, seed=s) for s in range(2)], "random"
        n = min(frames, len(cal))
        return [{k: torch.from_numpy(cal.arrays[k][i : i + batch]) for k in self.input_names}
                for i in range(0, n, batch)], "recorded"

    def _load(self, backend: str, source: Any, precision: str = "fp32",
              device: torch.device | None = None) -> GeneratorRunner:
        """A runner (not opened) of a built artifact (or, for torch, the generator): the one
        place this builder makes runners. `device`: default the builder's."""
        return get_backend(backend, source, device if device is not None else self.device,
                           precision=precision, threads=self.threads,
                           input_names=self.input_names if backend == "aoti" else None)

    # ---- artifacts ---------------------------------------------------------------------------
    def onnx_fp32(self) -> CachedEngine:
        """The exported fp32 ONNX graph, checked against torch (max abs difference recorded)."""
        spec = EngineSpec(self.folder, f"onnx-fp32-{self._size}", ".onnx",
                          self._key("onnx", "fp32", torch.device("cpu"), opset=OPSET,
                                    exporter="torchscript (dynamo=False)"))

        def build(tmp: Path) -> dict[str, Any]:
            export_generator_onnx(self.generator, tmp, batch=self.batch, opset_version=OPSET)
            cal = self._recorded()
            inputs = None if cal is None else {k: cal.arrays[k] for k in self.input_names}
            diff = check_onnx_parity(self.generator, tmp, atol=ONNX_ATOL, inputs=inputs,
                                     threads=self.threads)
            return {"parity": {"reference": "torch eager fp32",
                               "inputs": "random" if cal is None else "recorded",
                               "max_abs_diff": diff, "atol": ONNX_ATOL},
                    "latency": self._latency(self._load("onnxruntime", tmp, device=_CPU))}

        return self._ensure(spec, build)

    def onnxruntime_int8(self, flavour: str = "onnxruntime") -> CachedEngine:
        """The INT8 Q/DQ graph, with its quality against fp32 on held-out recorded frames."""
        graph = self.onnx_fp32()
        cal = self.calibration()
        ort = require("onnxruntime", extra=CORE, purpose="INT8 quantization")
        prefix = "onnxruntime" if flavour == "onnxruntime" else "qdq-tensorrt"
        spec = EngineSpec(self.folder, f"{prefix}-int8-{self._size}", ".onnx",
                          self._key(prefix, "int8", torch.device("cpu"),
                                    backend_version=ort.__version__,
                                    onnx_sha256=graph.sidecar["artifact_sha256"],
                                    calibration_digest=cal.digest(), flavour=flavour))

        def build(tmp: Path) -> dict[str, Any]:
            calib, held = split(cal)
            quantize_int8(graph.path, tmp, calib, flavour=flavour)
            quality = int8_quality(graph.path, tmp, held, threads=self.threads)
            log.info("INT8 vs fp32 on %d held-out frames: SSIM %.4f (bound %.2f), max abs diff %.3f",
                     quality["frames"], quality["ssim_vs_fp32"], INT8_MIN_SSIM,
                     quality["max_abs_diff"])
            return {"quality": quality, "calibration_frames": len(calib),
                    "latency": self._latency(self._load("onnxruntime", tmp, "int8", _CPU)),
                    "calibration_source": cal.info.get("poses")}

        return self._ensure(spec, build)

    def aoti(self, precision: str) -> CachedEngine:
        """The AOTInductor package for this device, checked against torch eager."""
        if find_cxx() is None:
            raise MissingCompilerError()
        spec = EngineSpec(self.folder, f"aoti-{precision}-{device_tag(self.device)}-{self._size}",
                          ".pt2", self._key("aoti", precision, self.device,
                                            backend_version=torch.__version__))

        def build(tmp: Path) -> dict[str, Any]:
            with strict_fp32():  # Inductor reads the TF32 switches when it generates code
                build_aoti(self.generator, tmp, self.device, precision, self.batch)
            if self.device.type == "cuda":  # see probe_in_subprocess: a crash must not be ours
                probe_in_subprocess(tmp, self.device, list(self.shapes.values()), precision)
            return {"parity": self.check_runner(self._load("aoti", tmp, precision), precision),
                    "latency": self._latency(self._load("aoti", tmp, precision))}

        return self._ensure(spec, build)

    def tensorrt(self, precision: str) -> CachedEngine:
        """The TensorRT engine for this GPU (built from the fp32, fp16 or Q/DQ graph)."""
        trt = import_tensorrt()
        if self.device.type != "cuda":
            raise InputError(None, "the tensorrt backend needs a CUDA GPU", "use --device cuda")
        source = self.onnxruntime_int8("tensorrt") if precision == "int8" else self.onnx_fp32()
        spec = EngineSpec(self.folder, f"tensorrt-{precision}-{device_tag(self.device)}-{self._size}",
                          ".plan", self._key("tensorrt", precision, self.device,
                                             backend_version=tensorrt_version(),
                                             onnx_sha256=source.sidecar["artifact_sha256"]))

        def build(tmp: Path) -> dict[str, Any]:
            graph = source.path
            if precision == "int8":  # fail here, on the CPU, not in TensorRT's parser
                refused = {n: t for n, t in dequantize_input_types(graph).items()
                           if t not in TENSORRT_DQ_INPUT_TYPES}
                if refused:
                    raise EngineBuildError(f"{graph.name}: TensorRT accepts no {sorted(set(refused.values()))} "
                                           f"DequantizeLinear input ({len(refused)} nodes)")
            strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
            if precision == "fp16" and strongly_typed:
                graph = to_fp16_graph(source.path, tmp.with_suffix(".fp16.onnx"))
            try:
                extra = build_tensorrt(graph, tmp, precision, self.device)
            finally:
                if graph != source.path:
                    graph.unlink(missing_ok=True)

            return {**extra,
                    "parity": self.check_runner(self._load("tensorrt", tmp, precision), precision),
                    "latency": self._latency(self._load("tensorrt", tmp, precision))}

        return self._ensure(spec, build)

    def verified_before(self, backend: str, precision: str) -> bool:
        """True when this subject has a `backend` engine of `precision` in the cache that was
        built and checked (parity and latency) on this machine with the library installed now:
        what `auto` needs before it tries TensorRT. Reads the sidecar only (no build)."""
        if backend != "tensorrt" or self.device.type != "cuda":
            return False
        side = read_sidecar(self.folder / f"tensorrt-{precision}-{device_tag(self.device)}-{self._size}.json")
        if not side or not side.get("parity") or not side.get("latency"):
            return False
        key = side.get("key") or {}
        return (key.get("machine") == machine_fingerprint(self.device)
                and key.get("backend_version") == tensorrt_version()
                and key.get("subject_digest") == self.digest)

    def _latency(self, runner: GeneratorRunner, warmup: int = 5, calls: int = 40) -> dict[str, Any]:
        """Median ms per call of a freshly built engine on this machine (recorded or random
        inputs; ONNX graphs on the CPU, where their key says they were built): what `auto`
        compares on the CPU. Recorded in the sidecar."""
        feeds, kind = self._feeds(8, self.batch)
        with runner:
            runner.sync_timing = True
            for i in range(warmup + calls):
                f = feeds[i % len(feeds)]
                runner(*(f[k].to(runner.device) for k in self.input_names))
        ms = runner.stats.summary(skip=warmup)
        return {"p50_ms": round(ms["p50_ms"], 3), "calls": calls, "threads": self.threads,
                "inputs": kind}

    def check_runner(self, runner: GeneratorRunner, precision: str) -> dict[str, Any]:
        """Check a freshly built engine against torch eager fp32 on the CPU, over a few recorded
        (or random) inputs, before the cache keeps it: every output finite (an fp16 engine can
        overflow to NaN: black frames), |engine - torch| <= ENGINE_ATOL[precision] (fp32, fp16,
        bf16), or for INT8 the mean SSIM of its frames >= INT8_MIN_SSIM. On CUDA the engine runs
        with TF32 off (`strict_fp32`): "fp32" checked as fp32.

        Returns the sidecar's "parity" fields. Raises ParityError when a check fails."""
        feeds_list, kind = self._feeds(4, 1)
        ref = self._load("torch", self.generator, device=_CPU)
        diff, ssims = 0.0, []
        with strict_fp32(), ref, runner:
            for feeds in feeds_list:
                args = [feeds[k] for k in self.input_names]
                want = ref(*args)
                got = [g.float().cpu() for g in runner(*(a.to(runner.device) for a in args))]
                for name, g in zip(("frame", "gate"), got, strict=True):
                    if not bool(torch.isfinite(g).all()):
                        raise ParityError(f"{runner.name} {precision} engine gives non-finite "
                                          f"values (NaN/inf) in its {name}: not kept")
                diff = max(diff, *(float((g - w).abs().max()) for g, w in zip(got, want, strict=True)))
                if precision == "int8":
                    ssims.append(ssim_uint8(to_uint8(want[0].numpy())[0], to_uint8(got[0].numpy())[0]))
        out: dict[str, Any] = {"reference": "torch eager fp32", "inputs": kind,
                               "max_abs_diff": diff, "tf32": False}
        if precision == "int8":
            out.update(ssim_vs_fp32=round(float(sum(ssims) / len(ssims)), 5), bound=INT8_MIN_SSIM)
            if not out["ssim_vs_fp32"] >= INT8_MIN_SSIM:
                raise ParityError(f"{runner.name} int8 engine: SSIM vs torch fp32 "
                                  f"{out['ssim_vs_fp32']:.4f} < {INT8_MIN_SSIM}")
        else:
            atol = ENGINE_ATOL[precision]
            out["atol"] = atol
            if not diff <= atol:
                raise ParityError(f"{runner.name} {precision} engine differs from torch by "
                                  f"{diff:.3g} > {atol:.3g}")
        log.info("%s %s parity with torch: max abs diff %.3g", runner.name, precision, diff)
        return out

    # ---- runners -----------------------------------------------------------------------------
    def runner(self, backend: str, precision: str) -> tuple[GeneratorRunner, CachedEngine | None]:
        """A runner (not opened) of `backend` / `precision`, building what it needs."""
        if backend == "torch":
            return self._load("torch", self.generator, precision), None
        if backend == "onnxruntime":
            entry = self.onnxruntime_int8() if precision == "int8" else self.onnx_fp32()
        elif backend == "aoti":
            entry = self.aoti(precision)
        else:
            entry = self.tensorrt(precision)
        return self._load(backend, entry.path, precision), entry
