"""Generator backends behind one interface (`GeneratorRunner`: open / __call__ / close).

    from rtmotion.runtime import get_backend
    with get_backend("torch", subject, device="cuda", precision="fp16") as run:
        frame, gate = run(pose_maps, warped_prev, prev_mask)

Backends: "torch" (eager nn.Module) and "onnxruntime" (alias "ort"); TensorRT comes later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from rtmotion.errors import InputError
from rtmotion.devices import resolve_device
from rtmotion.models.generator import INPUT_NAMES, OUTPUT_NAMES
from rtmotion.runtime.base import GeneratorRunner

BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")
_ALIASES = {"ort": "onnxruntime", "onnx": "onnxruntime", "pytorch": "torch"}


def _generator_of(source: Any) -> nn.Module | None:
    """The generator module of a Subject (anything with `.generator`) or a module itself."""
    if isinstance(source, nn.Module):
        return source
    gen = getattr(source, "generator", None)
    return gen if isinstance(gen, nn.Module) else None


def get_backend(name: str, source: Any, device: str | torch.device = "cpu", *,
                precision: str = "fp32", cache_dir: str | Path | None = None,
                threads: int = 0) -> GeneratorRunner:
    """A (not yet opened) runner of the generator in `source`.

    Args:
        name: "torch" or "onnxruntime" (aliases: "ort", "onnx", "pytorch").
        source: a Subject (from `rtmotion.subject.load_subject`), a generator nn.Module, or
            (onnxruntime only) a path to an exported .onnx graph.
        device: "cpu", "cuda", "cuda:N".
        precision: torch only: "fp32", "fp16", "bf16" (half precisions on CUDA).
        cache_dir: onnxruntime only: where the exported graph is cached (None: temporary).
        threads: onnxruntime only: CPU intra-op threads (0 = default).
    Raises:
        InputError: unknown backend, or a source the backend cannot run.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "torch":
        from rtmotion.runtime.torch_backend import TorchRunner

        module = _generator_of(source)
        if module is None:
            raise InputError(str(source) if isinstance(source, (str, Path)) else None,
                             "the torch backend needs a subject or a generator module",
                             "pass the subject, or use --backend onnxruntime for an .onnx file")
        return TorchRunner(module, device=device, precision=precision)
    if key == "onnxruntime":
        from rtmotion.runtime.onnx_backend import OnnxRunner

        if precision != "fp32":
            raise InputError(None, f"the onnxruntime backend runs the graph's own precision, not "
                             f"'{precision}'", "use --precision fp32 with onnxruntime")
        if isinstance(source, (str, Path)):
            return OnnxRunner(source, device=device, threads=threads)
        module = _generator_of(source)
        if module is None:
            raise InputError(None, f"cannot run {type(source).__name__} with onnxruntime",
                             "pass a subject, a generator or an .onnx path")
        return OnnxRunner(module, device=device, cache_dir=cache_dir, threads=threads)
    raise InputError(None, f"unknown backend '{name}'", f"use one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "GeneratorRunner", "INPUT_NAMES", "OUTPUT_NAMES", "get_backend",
           "resolve_device"]
