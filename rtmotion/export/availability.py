"""Which generator backends can run on this machine, and why not (for `rtmotion info` and
`open_engine`'s automatic choice)."""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass, field
from typing import Any

import onnxruntime as ort
import torch

from rtmotion.export.aoti import find_cxx
from rtmotion.lazy import available

BACKEND_ORDER = ("torch", "onnxruntime", "aoti", "tensorrt")


@dataclass
class BackendStatus:
    """One backend here: can it run on the CPU / a CUDA GPU, its version, and why not."""

    name: str
    version: str | None
    cpu: bool
    cuda: bool
    why_not: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.cpu or self.cuda

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "cpu": self.cpu, "cuda": self.cuda,
                "usable": self.usable, "why_not": self.why_not, "notes": self.notes}


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def backend_status() -> list[BackendStatus]:
    """The status of every backend in BACKEND_ORDER."""
    gpu = torch.cuda.is_available()
    no_gpu = "no CUDA GPU visible to torch"
    out = [BackendStatus("torch", torch.__version__, True, gpu, [] if gpu else [f"cuda: {no_gpu}"])]

    if available("onnxruntime"):
        providers = ort.get_available_providers()
        cuda_ep = "CUDAExecutionProvider" in providers and gpu
        why = [] if cuda_ep else ["cuda: " + ("no CUDAExecutionProvider (install onnxruntime-gpu)"
                                              if gpu else no_gpu)]
        out.append(BackendStatus("onnxruntime", ort.__version__, True, cuda_ep, why,
                                 [f"providers: {', '.join(providers)}"]))
    else:
        out.append(BackendStatus("onnxruntime", None, False, False,
                                 ["onnxruntime is not installed (pip install onnxruntime)"]))

    cxx = find_cxx()
    has_aoti = hasattr(torch._inductor, "aoti_compile_and_package")
    why = []
    if not has_aoti:
        why.append(f"torch {torch.__version__} has no AOTInductor packaging (needs torch >= 2.6)")
    if cxx is None:
        why.append("no C++ compiler to build with (install g++ or set CXX)")
    if not gpu:
        why.append(f"cuda: {no_gpu}")
    ok = has_aoti and cxx is not None
    out.append(BackendStatus("aoti", torch.__version__ if has_aoti else None, ok, ok and gpu, why,
                             [f"compiler: {cxx}"] if cxx else []))

    if available("tensorrt"):
        import tensorrt as trt

        why = [] if gpu else [no_gpu]
        out.append(BackendStatus("tensorrt", str(trt.__version__), False, gpu,
                                 why + ["cpu: TensorRT runs on NVIDIA GPUs only"]))
    else:
        out.append(BackendStatus("tensorrt", _version("tensorrt"), False, False,
                                 ["tensorrt does not import (pip install 'rtmotion[tensorrt]'; "
                                  "not installable from the registries these machines reach)"]
                                 + ([] if gpu else [no_gpu])))
    return out
