"""What an engine was built for: this machine's fingerprint, and digests of what went in.

A compiled engine is native code for one CPU ISA or one GPU architecture and one version of
the library that built it. The engine cache records `machine_fingerprint(device)` in every
sidecar and loads an engine only when the fingerprint of the machine now running matches it
exactly (same host, CPU model and ISA flags or GPU name and compute capability, same torch and
CUDA versions). Anything else is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: ISA extensions that change the code compilers generate for the CPU (x86 names from
#: /proc/cpuinfo; others from platform.machine()).
_ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
              "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
              "asimd", "sve", "sve2")


@lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """{"model": CPU model name, "arch": machine, "isa": [flags that matter], "torch_isa": the
    ISA torch's kernels use (e.g. "AVX2")}."""
    model, flags = "", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "model name" and not model:
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = set(value.split())
    model = model or platform.processor()
    return {"model": model or "unknown", "arch": platform.machine(),
            "isa": sorted(f for f in _ISA_FLAGS if f in flags),
            "torch_isa": torch.backends.cpu.get_cpu_capability()}


def machine_fingerprint(device: torch.device) -> dict[str, Any]:
    """The machine an engine for `device` is built on (recorded in sidecars, compared on load).

    CPU: host name, CPU model, ISA flags. CUDA: host name, GPU name, compute capability. Both:
    torch version and the CUDA version torch was built with.
    """
    fp: dict[str, Any] = {"host": platform.node(), "torch": torch.__version__,
                          "cuda": torch.version.cuda}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        fp.update(kind="cuda", gpu=torch.cuda.get_device_name(index),
                  compute_capability=f"{major}.{minor}")
    else:
        cpu = cpu_info()
        fp.update(kind="cpu", cpu_model=cpu["model"], arch=cpu["arch"], isa=cpu["isa"],
                  torch_isa=cpu["torch_isa"])
    return fp


def device_tag(device: torch.device) -> str:
    """Short name for file names: "cpu" or "cuda-sm90"."""
    if device.type != "cuda":
        return "cpu"
    index = device.index if device.index is not None else torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    return f"cuda-sm{major}{minor}"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def generator_digest(generator: nn.Module) -> str:
    """Hex sha256 (first 16 digits) of a generator's config and weights (incl. buffers such as
    the background plate): two subjects with the same digest build the same engines."""
    h = hashlib.sha256()
    config = getattr(generator, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        h.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, t in sorted(generator.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
