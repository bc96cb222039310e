"""Generator backends behind one interface (`GeneratorRunner`: open / __call__ / close).

The runtime only loads and runs; artifacts (ONNX graphs, INT8 Q/DQ graphs, AOTInductor
packages, TensorRT engines) are built by `rtmotion.export`, whose `open_engine(subject, ...)`
builds on first use, caches, and returns one of these runners.

    from rtmotion.runtime import get_backend
    with get_backend("torch", subject, device="cuda", precision="fp16") as run:
        frame, gate = run(pose_maps, warped_prev, prev_mask)
    with get_backend("onnxruntime", "engines/x/generator.onnx") as run: ...

Backends: "torch" (eager nn.Module), "onnxruntime" (alias "ort"/"onnx": an .onnx path),
"aoti" (an AOTInductor .pt2 path), "tensorrt" (alias "trt": a serialized engine path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from rtmotion.devices import resolve_device
from rtmotion.engine_request import BACKEND_PRECISIONS, BACKENDS, canonical_backend_name
from rtmotion.errors import InputError
from rtmotion.models.generator import INPUT_NAMES, OUTPUT_NAMES
from rtmotion.runtime.aoti_backend import AotiRunner
from rtmotion.runtime.base import CallStats, GeneratorRunner
from rtmotion.runtime.onnx_backend import OnnxRunner
from rtmotion.runtime.tensorrt_backend import TensorRTRunner
from rtmotion.runtime.torch_backend import TorchRunner


def canonical_backend(name: str) -> str:
    """The registry name of a backend name or alias ("ort" -> "onnxruntime"); InputError if
    unknown."""
    key = canonical_backend_name(name)
    if key is None:
        raise InputError(None, f"unknown backend '{name}'", f"use one of {', '.join(BACKENDS)}")
    return key


def _generator_of(source: Any) -> nn.Module | None:
    """The generator module of a Subject (anything with `.generator`) or a module itself."""
    if isinstance(source, nn.Module):
        return source
    gen = getattr(source, "generator", None)
    return gen if isinstance(gen, nn.Module) else None


def _artifact(source: Any, backend: str, what: str) -> Path:
    if isinstance(source, (str, Path)):
        return Path(source)
    raise InputError(None, f"the {backend} backend runs a built {what}, not a "
                     f"{type(source).__name__}",
                     f"build it first: `rtmotion build SUBJECT --backend {backend}` or "
                     f"rtmotion.export.open_engine(subject, backend='{backend}')")


def get_backend(name: str, source: Any, device: str | torch.device = "cpu", *,
                precision: str = "fp32", threads: int = 0,
                input_names: list[str] | None = None) -> GeneratorRunner:
    """A (not yet opened) runner.

    Args:
        name: "torch", "onnxruntime", "aoti" or "tensorrt" (aliases: "pytorch", "ort", "onnx",
            "aotinductor", "trt").
        source: torch: a Subject (from `rtmotion.subject.load_subject`) or a generator module;
            the others: the path of a built artifact (.onnx, .pt2, .plan).
        device: "auto", "cpu", "cuda", "cuda:N".
        precision: torch: "fp32", "fp16", "bf16" (half precisions on CUDA); onnxruntime: the
            graph's ("fp32", or "int8" for a Q/DQ graph); aoti/tensorrt: what it was built in.
        threads: onnxruntime / aoti on CPU: intra-op threads (0 = the library's default).
        input_names: aoti only: the package's inputs in order (default: the first three of
            INPUT_NAMES, a generator without a reference).
    Raises:
        InputError: unknown backend, or a source the backend cannot run.
        MissingDependencyError: the backend's package is not installed.
    """
    key = canonical_backend(name)
    if key == "torch":
        module = _generator_of(source)
        if module is None:
            raise InputError(str(source) if isinstance(source, (str, Path)) else None,
                             "the torch backend needs a subject or a generator module",
                             "pass the subject, or use --backend onnxruntime for an .onnx file")
        return TorchRunner(module, device=device, precision=precision)
    if key == "onnxruntime":
        if precision not in BACKEND_PRECISIONS[key]:
            raise InputError(None, f"the onnxruntime backend runs fp32 or INT8 Q/DQ graphs, not "
                             f"'{precision}'", "use --precision fp32 or int8 with onnxruntime")
        return OnnxRunner(_artifact(source, key, "ONNX graph (.onnx)"), device=device,
                          threads=threads, precision=precision)
    if key == "aoti":
        return AotiRunner(_artifact(source, key, "AOTInductor package (.pt2)"),
                          input_names or list(INPUT_NAMES[:3]), device=device, precision=precision,
                          threads=threads)

    return TensorRTRunner(_artifact(source, key, "TensorRT engine (.plan)"), device=device,
                          precision=precision)


__all__ = ["BACKENDS", "CallStats", "GeneratorRunner", "INPUT_NAMES", "OUTPUT_NAMES",
           "canonical_backend", "get_backend", "resolve_device"]
