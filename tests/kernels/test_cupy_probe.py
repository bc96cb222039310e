"""`cupy_available()` says yes only after a kernel compiled and ran, so `kernels="auto"` falls
back to torch when the installed CuPy cannot compile here (cupy-cuda12x without CUDA 12's NVRTC
beside a CUDA 13 torch: it imports and counts devices, then fails at its first compile).

No GPU exists on the test machines, so CuPy is replaced by a small stand-in module with the
same calls the probe makes (`cuda.runtime.getDeviceCount`, `arange`, `RawModule(code=)
.get_function`, a kernel call, `asnumpy`); its failure is the one real CuPy raises when NVRTC
cannot be loaded."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from rtmotion.kernels import cupy_kernels
from rtmotion.pipeline.cuda_synth import choose_kernels


def _fake_cupy(devices: int = 1, compiles: bool = True, result_offset: float = 0.0) -> types.ModuleType:
    mod = types.ModuleType("cupy")
    mod.__version__ = "13.6.0-standin"
    mod.float32 = np.float32

    def get_count() -> int:
        return devices

    mod.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_count))
    mod.arange = lambda n, dtype: np.arange(n, dtype=dtype)
    mod.asnumpy = np.asarray

    class RawModule:
        def __init__(self, code: str) -> None:
            self.code = code

        def get_function(self, name: str):
            if not compiles:  # what CuPy raises when libnvrtc of its CUDA is not there
                raise RuntimeError("CuPy failed to load libnvrtc.so.12: OSError: libnvrtc.so.12: "
                                   "cannot open shared object file: No such file or directory")
            assert name in self.code

            def kernel(grid, block, args):  # the probe's kernel: x = 2x + 1
                x, n = args
                x[: int(n)] = 2 * x[: int(n)] + 1 + result_offset

            return kernel

    mod.RawModule = RawModule
    return mod


@pytest.fixture
def with_cupy(monkeypatch):
    def install(mod: types.ModuleType) -> None:
        monkeypatch.setitem(sys.modules, "cupy", mod)
        cupy_kernels.cupy_status.cache_clear()

    yield install
    cupy_kernels.cupy_status.cache_clear()


def test_a_cupy_that_cannot_compile_is_not_available(with_cupy) -> None:
    with_cupy(_fake_cupy(compiles=False))
    ok, why = cupy_kernels.cupy_status()
    assert not ok and not cupy_kernels.cupy_available()
    assert "cannot compile or run a kernel" in why and "libnvrtc.so.12" in why
    assert "gpu-cuda12" in why and "gpu-cuda13" in why
    cuda = torch.device("cuda", 0)
    assert choose_kernels(cuda, "auto") == "torch"          # falls back instead of crashing
    with pytest.raises(ValueError, match="libnvrtc"):
        choose_kernels(cuda, "cupy")


def test_a_working_cupy_is_available(with_cupy) -> None:
    with_cupy(_fake_cupy())
    ok, why = cupy_kernels.cupy_status()
    assert ok and "1 device(s)" in why
    assert choose_kernels(torch.device("cuda", 0), "auto") == "cupy"
    assert choose_kernels(torch.device("cuda", 0), "torch") == "torch"


def test_no_device_or_a_wrong_result_is_not_available(with_cupy) -> None:
    with_cupy(_fake_cupy(devices=0))
    assert cupy_kernels.cupy_status() == (False, "CuPy sees no CUDA device")
    with_cupy(_fake_cupy(result_offset=1.0))
    ok, why = cupy_kernels.cupy_status()
    assert not ok and "not [1, 3, 5, 7]" in why
