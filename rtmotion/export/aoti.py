"""AOTInductor: compile the generator ahead of time into a `.pt2` package (CPU or CUDA).

    torch.export.export(GeneratorForExport(generator), example inputs)   # a static graph
    torch._inductor.aoti_compile_and_package(program, package_path=...)  # C++/Triton -> .so

The package holds native code for this machine's CPU ISA (or this GPU's architecture), the
weights (and the background plate buffer) as constants, and fixed input shapes (batch and
resolution). `rtmotion.runtime.aoti_backend.AotiRunner` loads it. Building needs a C++ compiler
(Inductor compiles generated C++); `find_cxx()` finds one or says clearly that none is there.
On the 2-core development CPU a build takes 13-70 s, so the engine cache keeps the result.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import warnings
from pathlib import Path

import torch

from rtmotion.errors import InputError, MissingDependencyError
from rtmotion.models.generator import GeneratorForExport, PoseGenerator, example_inputs

log = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class MissingCompilerError(MissingDependencyError):
    """No C++ compiler: AOTInductor cannot build (the message says what to install)."""

    def __init__(self) -> None:  # noqa: D107 - the message is the documentation
        super(MissingDependencyError, self).__init__(
            "no C++ compiler found (looked at $CXX, g++, c++, clang++), but building an "
            "AOTInductor engine needs one (install g++, e.g. `apt-get install g++`, or set CXX; "
            "or use --backend onnxruntime)")


def find_cxx() -> str | None:
    """Path of the C++ compiler Inductor will use ($CXX, else g++, c++, clang++), or None."""
    candidates = [os.environ.get("CXX", "")] + ["g++", "c++", "clang++"]
    for name in candidates:
        if name and (found := shutil.which(name)):
            return found
    return None


def build_aoti(generator: PoseGenerator, out: str | Path, device: torch.device,
               precision: str = "fp32", batch: int = 1) -> Path:
    """Compile `generator` into an AOTInductor package at `out` (a `.pt2` path).

    Args:
        generator: the subject's generator (not modified: a copy is compiled).
        out: the package path (the engine cache passes a temporary name it renames later).
        device: torch.device("cpu") or a CUDA device.
        precision: "fp32" (CPU and CUDA), "fp16" / "bf16" (CUDA only).
        batch: static batch size.
    Raises:
        MissingCompilerError: no C++ compiler.
        InputError: a precision the device cannot build.
    """
    if precision not in _DTYPES:
        raise InputError(None, f"AOTInductor builds fp32, fp16 or bf16, not '{precision}'",
                         "use --precision fp32 (int8 is the onnxruntime/tensorrt backends')")
    if precision != "fp32" and device.type != "cuda":
        raise InputError(None, f"AOTInductor {precision} needs a CUDA device", "use fp32 on the CPU")
    if find_cxx() is None:
        raise MissingCompilerError()
    dtype = _DTYPES[precision]
    model = GeneratorForExport(copy.deepcopy(generator).eval().to(device=device, dtype=dtype))
    model.requires_grad_(False)
    args = tuple(example_inputs(generator.config, batch=batch, device=device, dtype=dtype).values())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Inductor's notes about fallback kernels
        program = torch.export.export(model, args, strict=False)
        path = torch._inductor.aoti_compile_and_package(program, package_path=str(out))
    log.info("compiled the generator with AOTInductor (%s, %s) into %s", device, precision, out)
    return Path(path)
