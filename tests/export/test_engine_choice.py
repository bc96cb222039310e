"""How open_engine picks a backend, and the errors when what was asked for cannot run here."""

from __future__ import annotations

import json

import pytest
import torch

from rtmotion.errors import InputError, MissingDependencyError
from rtmotion.export import open_engine
from rtmotion.export.aoti import MissingCompilerError, find_cxx
from rtmotion.lazy import available

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")


def test_auto_on_cpu_picks_the_fastest_built_here(aoti_engine, tiny_subject, tmp_path) -> None:
    """auto builds each compiled candidate once (AOTInductor from the session fixture's cache,
    ONNX Runtime fp32 now; no calibration set, so no INT8), and picks the lowest latency each
    build measured on this machine."""
    _, built = aoti_engine
    engines = built.artifact.parent.parent
    runner, choice = open_engine(tiny_subject, "auto", "auto", "cpu", engines,
                                 calibration_dir=tmp_path / "none")
    sidecars = {p.stem.split("-")[0]: json.loads(p.read_text())
                for p in next(engines.iterdir()).glob("*.json")}
    latency = {"aoti": sidecars["aoti"]["latency"]["p50_ms"],
               "onnxruntime": sidecars["onnx"]["latency"]["p50_ms"]}
    assert choice.backend == min(latency, key=latency.get) and choice.precision == "fp32"
    assert choice.reason.startswith(f"auto picked {choice.backend}/fp32 on cpu: the fastest")
    assert "aoti/fp32" in choice.reason and "onnxruntime/fp32" in choice.reason
    assert "no calibration set" in choice.reason and not runner.is_open


def test_auto_without_compiler_picks_onnxruntime(tiny_subject, calibration_root, tmp_path,
                                                 monkeypatch) -> None:
    """A machine without a C++ compiler (PATH emptied, CXX unset: a real lookup, no fake)."""
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_cxx() is None
    with pytest.raises(MissingCompilerError, match="no C.. compiler found"):
        open_engine(tiny_subject, "aoti", "fp32", "cpu", tmp_path)
    # no calibration set: ONNX Runtime fp32, and the reason says why not INT8
    _, choice = open_engine(tiny_subject, "auto", "auto", "cpu", tmp_path,
                            calibration_dir=tmp_path / "none")
    assert (choice.backend, choice.precision) == ("onnxruntime", "fp32")
    assert "no calibration set" in choice.reason and "aoti" not in choice.reason
    # with one: INT8 competes only when its measured SSIM vs fp32 is within the bound
    _, choice = open_engine(tiny_subject, "auto", "auto", "cpu", tmp_path,
                            calibration_dir=calibration_root)
    int8 = open_engine(tiny_subject, "onnxruntime", "int8", "cpu", tmp_path,
                       calibration_dir=calibration_root)[1].info
    fp32 = open_engine(tiny_subject, "onnxruntime", "fp32", "cpu", tmp_path,
                       calibration_dir=calibration_root)[1].info
    if int8["quality"]["within_bound"]:
        faster = int8["latency"]["p50_ms"] < fp32["latency"]["p50_ms"]
        assert choice.precision == ("int8" if faster else "fp32")
        assert "onnxruntime/int8" in choice.reason
    else:
        assert choice.precision == "fp32" and "SSIM vs fp32" in choice.reason


@no_gpu
def test_gpu_asked_for_is_an_error_never_a_cpu_fallback(tiny_subject, tmp_path) -> None:
    with pytest.raises(InputError, match="no CUDA GPU"):
        open_engine(tiny_subject, "aoti", "fp32", "cuda", tmp_path)
    with pytest.raises(InputError, match="needs a CUDA GPU"):
        open_engine(tiny_subject, "tensorrt", "auto", "cpu", tmp_path)
    with pytest.raises(InputError, match="needs a CUDA"):
        open_engine(tiny_subject, "auto", "fp16", "cpu", tmp_path)
    with pytest.raises(InputError, match="builds fp32, int8"):
        open_engine(tiny_subject, "onnxruntime", "fp16", "cpu", tmp_path)
    with pytest.raises(InputError, match="unknown backend"):
        open_engine(tiny_subject, "openvino", "auto", "cpu", tmp_path)
    assert not any(tmp_path.iterdir())  # nothing built for a refused request


@pytest.mark.skipif(available("tensorrt"), reason="checks the error without TensorRT")
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU to get past the "
                    "device check")
def test_tensorrt_missing_on_a_gpu_machine_is_one_clear_error(tiny_subject, tmp_path) -> None:
    with pytest.raises(MissingDependencyError, match=r"rtmotion\[tensorrt\]"):
        open_engine(tiny_subject, "tensorrt", "fp16", "cuda", tmp_path)


def test_int8_without_calibration_names_the_command(tiny_subject, tmp_path) -> None:
    with pytest.raises(InputError, match="rtmotion calibrate"):
        open_engine(tiny_subject, "onnxruntime", "int8", "cpu", tmp_path,
                    calibration_dir=tmp_path / "none")


def test_a_package_that_cannot_load_is_caught_in_a_child_process(tmp_path) -> None:
    """CUDA AOTInductor packages are loaded once in a throwaway process before the cache
    accepts them (one ended its process silently on an H200): a bad one is one clear error."""
    from rtmotion.export.aoti import AotiLoadError, probe_in_subprocess

    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a package")
    with pytest.raises(AotiLoadError, match="bad.pt2: the AOTInductor cpu package failed"):
        probe_in_subprocess(bad, torch.device("cpu"), [[1, 25, 32, 32]])
