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
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import torch

from rtmotion.errors import InputError, MissingDependencyError, RtmotionError
from rtmotion.models.generator import GeneratorForExport, PoseGenerator, example_inputs

log = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class AotiLoadError(RtmotionError):
    """A freshly built AOTInductor package could not be loaded and run in a separate process."""


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


# Loads the package and runs it once on zeros of the recorded shapes; exit code 0 = it works.
_PROBE = """
import json, sys, torch
path, index, shapes, dtype = json.loads(sys.argv[1])
dev = torch.device("cuda", index) if index >= 0 else torch.device("cpu")
model = torch._inductor.aoti_load_package(path, device_index=index)
args = [torch.zeros(s, device=dev, dtype=getattr(torch, dtype)) for s in shapes]
out = model(*args)
if dev.type == "cuda":
    torch.cuda.synchronize(dev)
assert torch.isfinite(out[0].float()).all()
"""


def probe_in_subprocess(path: str | Path, device: torch.device, shapes: list[list[int]],
                        precision: str = "fp32", timeout: float = 300.0) -> None:
    """Load and run the package once in a child process before the cache accepts it.

    On a GPU machine (H200, torch 2.11) loading an AOTInductor CUDA package ended the process
    without a message in two tries: a crash like that must end a throwaway child, not the
    user's `rtmotion convert`. Raises AotiLoadError (with the child's exit code and last
    stderr line) when the child fails.
    """
    index = (device.index if device.index is not None else torch.cuda.current_device()) \
        if device.type == "cuda" else -1
    dtype = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}[precision]
    arg = json.dumps([str(path), index, shapes, dtype])
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, arg], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AotiLoadError(f"{path}: loading the AOTInductor package did not finish in "
                            f"{timeout:.0f} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
        raise AotiLoadError(f"{path}: the AOTInductor {device.type} package failed or crashed in the process "
                            f"that loaded it (exit code {proc.returncode}: {last}); use "
                            f"--backend torch or onnxruntime on this machine")
