"""How open_engine picks a backend, and the errors when what was asked for cannot run here."""

from __future__ import annotations

import json

import pytest
import torch

from rtmotion.errors import InputError, MissingDependencyError
from rtmotion.export import open_engine
from rtmotion.export.aoti import MissingCompilerError, find_cxx
from rtmotion.export.engine import ALONE_VS_PIPELINE
from rtmotion.lazy import available

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")


# slow: the AOTInductor build (`aoti_engine`, a C++ compile) takes 20 s on 2 cores; the
# default suite checks auto without a compiler and the ONNX Runtime engines.
@pytest.mark.slow
def test_auto_on_cpu_picks_the_fastest_built_here(aoti_engine, tiny_subject, tmp_path) -> None:
    """auto builds each compiled candidate once (AOTInductor from the session fixture's cache,
    ONNX Runtime fp32 now; no calibration set, so no INT8), and picks the lowest latency each
    build measured on this machine, AOTInductor's weighted for the cores it takes."""
    _, built = aoti_engine
    engines = built.artifact.parent.parent
    runner, choice = open_engine(tiny_subject, "auto", "auto", "cpu", engines,
                                 calibration_dir=tmp_path / "none")
    sidecars = {p.stem.split("-")[0]: json.loads(p.read_text())
                for p in next(engines.iterdir()).glob("*.json")}
    latency = {"aoti": sidecars["aoti"]["latency"]["p50_ms"],
               "onnxruntime": sidecars["onnx"]["latency"]["p50_ms"]}
    weighted = {k: v * ALONE_VS_PIPELINE.get(k, 1.0) for k, v in latency.items()}
    assert choice.backend == min(weighted, key=weighted.get) and choice.precision == "fp32"
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
    assert not any(tmp_path.iterdir())  # nothing built for a refused request


def test_requests_the_cpu_cannot_run_are_refused_on_any_machine(tiny_subject, tmp_path) -> None:
    """Whether or not this machine has a GPU: TensorRT or fp16 on the CPU, a precision a backend
    does not build, an unknown backend are one-line errors, and nothing is built."""
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


def test_auto_remembers_a_failed_build_and_skips_it(tiny_subject, tmp_path, monkeypatch) -> None:
    """A compiled engine whose build fails is tried once by auto: the next start skips it at
    once (no compile) and says why. The failure is made by replacing the AOTInductor compile
    with one that raises as a crashing compiler does (a real crash cannot be made on demand)."""
    from rtmotion.export import builder
    from rtmotion.export.cache import EngineBuildError

    monkeypatch.setenv("CXX", "/bin/true")  # find_cxx() finds "a compiler"
    calls = []

    def crashing_compile(*args, **kwargs) -> None:
        calls.append(1)
        raise RuntimeError("C++ compile error: internal compiler error: Segmentation fault")

    monkeypatch.setattr(builder, "build_aoti", crashing_compile)
    none = tmp_path / "none"
    _, first = open_engine(tiny_subject, "auto", "auto", "cpu", tmp_path, calibration_dir=none)
    assert (first.backend, len(calls)) == ("onnxruntime", 1)
    assert "aoti/fp32" in first.reason and "Segmentation fault" in first.reason
    record = json.loads(next(tmp_path.glob("*/aoti-fp32-cpu-*.failed.json")).read_text())
    assert "Segmentation fault" in record["reason"] and record["key"]["machine"]["kind"] == "cpu"
    _, second = open_engine(tiny_subject, "auto", "auto", "cpu", tmp_path, calibration_dir=none)
    assert second.backend == "onnxruntime" and len(calls) == 1     # not compiled again
    assert "failed to build on this machine before" in second.reason
    # asked for explicitly, it is tried again (and fails again, one clear error)
    with pytest.raises(EngineBuildError, match="Segmentation fault"):
        open_engine(tiny_subject, "aoti", "fp32", "cpu", tmp_path, calibration_dir=none)
    assert len(calls) == 2


def test_an_engine_that_makes_nan_is_not_kept(tiny_subject, tmp_path) -> None:
    """The check every compiled engine passes before it is cached: a runner whose frames hold
    NaN (what fp16 InstanceNorm overflow gives: black frames) is refused, even though NaN
    compares as "no difference" in a plain max(). Real runners: torch on the subject's
    generator with one weight set to NaN, and on the generator itself (which passes)."""
    import copy

    from rtmotion.export.builder import EngineBuilder
    from rtmotion.export.cache import EngineCache
    from rtmotion.export.onnx_export import ParityError
    from rtmotion.runtime import get_backend

    builder = EngineBuilder(tiny_subject.generator, "tiny", torch.device("cpu"), EngineCache(tmp_path))
    ok = builder.check_runner(get_backend("torch", tiny_subject.generator, "cpu"), "fp32")
    assert ok["max_abs_diff"] == 0.0 and ok["atol"] == 1e-3 and ok["tf32"] is False
    broken = copy.deepcopy(tiny_subject.generator)
    with torch.no_grad():
        next(p for p in broken.parameters() if p.dim() == 4).view(-1)[0] = float("nan")
    with pytest.raises(ParityError, match="non-finite"):
        builder.check_runner(get_backend("torch", broken, "cpu"), "fp16")
    noisy = copy.deepcopy(tiny_subject.generator)
    with torch.no_grad():
        next(p for p in noisy.parameters() if p.dim() == 4).add_(0.05)
    with pytest.raises(ParityError, match="differs from torch"):
        builder.check_runner(get_backend("torch", noisy, "cpu"), "fp32")


def test_tensorrt_is_kept_out_of_auto_until_an_engine_passed_here(tiny_subject, tmp_path,
                                                                   monkeypatch) -> None:
    """On a CUDA machine with TensorRT, auto tries TensorRT only for a subject whose TensorRT
    engine was built and checked on this machine (`rtmotion build --backend tensorrt`). The
    GPU, its fingerprint and TensorRT are stand-ins here (none can exist on this machine)."""
    from rtmotion.export import builder as built
    from rtmotion.export import engine
    from rtmotion.export.cache import EngineCache

    gpu = {"host": "gpu-host", "kind": "cuda", "gpu": "NVIDIA H200", "compute_capability": "9.0"}
    monkeypatch.setattr(engine, "available", lambda m: m == "tensorrt" or available(m))
    monkeypatch.setattr(built, "machine_fingerprint", lambda d: gpu)
    monkeypatch.setattr(built, "device_tag", lambda d: "cuda-sm90")
    monkeypatch.setattr(built, "tensorrt_version", lambda: "10.9")
    builder = built.EngineBuilder(tiny_subject.generator, "tiny", torch.device("cuda", 0),
                                   EngineCache(tmp_path))
    names = [c[0] for c in engine._auto_candidates("auto", torch.device("cuda", 0), builder)]
    assert "tensorrt" not in names and names[-1] == "torch"
    side = builder.folder / "tensorrt-fp16-cuda-sm90-b1-32x32.json"
    side.parent.mkdir(parents=True)
    record = {"key": {"machine": gpu, "backend_version": "10.9", "subject_digest": builder.digest},
              "parity": {"max_abs_diff": 0.01}, "latency": {"p50_ms": 0.4}}
    side.write_text(json.dumps(record))
    cands = engine._auto_candidates("auto", torch.device("cuda", 0), builder)
    assert cands[0][:2] == ("tensorrt", "fp16")
    # built by another TensorRT, or never checked: out again
    side.write_text(json.dumps({**record, "key": {**record["key"], "backend_version": "10.8"}}))
    assert "tensorrt" not in [c[0] for c in engine._auto_candidates("auto", torch.device("cuda", 0), builder)]
    side.write_text(json.dumps({k: v for k, v in record.items() if k != "parity"}))
    assert not builder.verified_before("tensorrt", "fp16")


def test_time_generators_times_what_runs_and_says_why_the_rest_does_not(tiny_subject,
                                                                        tmp_path) -> None:
    """`python -m rtmotion.export.bench_generator` (the BENCHMARKS table): each backend x
    precision the table lists is timed, or gets a one-line reason (INT8 without a set, fp16 on
    the CPU); combinations a backend does not build are left out."""
    from rtmotion.export.bench_generator import format_table, time_generators

    rows = time_generators(tiny_subject, ("torch", "ort"), ("fp32", "fp16", "int8"), iters=3,
                           warmup=1, engine_dir=tmp_path, calibration_dir=tmp_path / "none",
                           pix2pixhd=False)
    by = {(r["backend"], r["precision"]): r for r in rows}
    assert set(by) == {("torch", "fp32"), ("torch", "fp16"), ("onnxruntime", "fp32"),
                       ("onnxruntime", "int8")}
    for key in (("torch", "fp32"), ("onnxruntime", "fp32")):
        assert by[key]["calls"] == 3 and 0 < by[key]["p50_ms"] and "error" not in by[key]
    assert "CUDA" in by[("torch", "fp16")]["error"]
    assert "calibration" in by[("onnxruntime", "int8")]["error"]
    assert format_table(rows).count("\n") == len(rows) + 1
