"""Optional packages, imported on first use with an error that names the extra to install.

    cupy = require("cupy", extra=GPU_EXTRAS, purpose="the CuPy kernels")

Heavy or GPU-only packages (CuPy, TensorRT, pyvirtualcam) are never imported at module top.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rtmotion.errors import MissingDependencyError

#: the extras that install CuPy, one per CUDA major version (pyproject.toml)
GPU_EXTRAS = ("gpu-cuda12", "gpu-cuda13")
#: no extra: a dependency of rtmotion itself (onnx, onnxruntime), missing from a broken install
CORE: tuple[str, ...] = ()


def require(module: str, *, extra: str | tuple[str, ...], purpose: str,
            package: str | None = None) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming `package` and `rtmotion[extra]`
    (several extras: alternatives, e.g. one per CUDA major version)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package or module.split(".")[0], extra, purpose) from None


def available(module: str) -> bool:
    """True when `module` imports (any error on import counts as unavailable)."""
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a broken install is as good as absent
        return False
    return True
