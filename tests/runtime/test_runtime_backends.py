"""Generator runtimes: the torch and onnxruntime runners behind one interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.errors import InputError
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator
from rtmotion.runtime import get_backend
from rtmotion.runtime.onnx_backend import OnnxRunner
from rtmotion.runtime.torch_backend import TorchRunner

RES = (32, 32)


@pytest.fixture(scope="module")
def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    g = build_generator(generator_preset("tiny", resolution=RES))
    # Non-trivial gate: random head bias so the blend really mixes both inputs.
    with torch.no_grad():
        g.head.bias.uniform_(-1, 1)
    return g.eval()


def _inputs(seed: int = 0, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w, h = RES
    pm = torch.rand(batch, 25, h, w, generator=g)                  # [0, 1]
    wp = torch.rand(batch, 3, h, w, generator=g) * 2 - 1           # [-1, 1]
    mask = (torch.rand(batch, 1, h, w, generator=g) > 0.3).float()  # {0, 1}
    return pm, wp, mask


def test_torch_runner_matches_module_and_keeps_it_untouched(generator: torch.nn.Module) -> None:
    pm, wp, mask = _inputs()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    with get_backend("torch", generator) as run:
        assert isinstance(run, TorchRunner) and run.is_open
        frame, gate = run(pm, wp, mask)
    assert not run.is_open
    with torch.no_grad():
        ref_f, ref_g, _ = generator(pm, wp, mask)
    assert frame.shape == (1, 3, 32, 32) and gate.shape == (1, 1, 32, 32)
    assert frame.dtype == torch.float32
    torch.testing.assert_close(frame, ref_f)
    torch.testing.assert_close(gate, ref_g)
    assert float(frame.abs().max()) <= 1.0 and 0.0 <= float(gate.min()) <= float(gate.max()) <= 1.0
    for k, v in generator.state_dict().items():
        assert torch.equal(v, before[k])


def test_missing_prev_follows_generator_rule(generator: torch.nn.Module) -> None:
    pm, wp, _ = _inputs(1)
    with get_backend("torch", generator) as run:
        f_none, g_none = run(pm)
        f_zero, _ = run(pm, torch.zeros_like(wp), torch.zeros_like(pm[:, :1]))
        f_ones, _ = run(pm, wp)
        f_ones2, _ = run(pm, wp, torch.ones_like(pm[:, :1]))
    torch.testing.assert_close(f_none, f_zero)
    assert float(g_none.abs().max()) == 0.0  # mask 0: the gate cannot take the warped value
    torch.testing.assert_close(f_ones, f_ones2)


def test_numpy_in_numpy_out(generator: torch.nn.Module) -> None:
    pm, wp, mask = _inputs(2)
    with get_backend("torch", generator) as run:
        f_np, g_np = run(pm.numpy(), wp.numpy(), mask.numpy())
        f_t, _ = run(pm, wp, mask)
    assert isinstance(f_np, np.ndarray) and f_np.dtype == np.float32 and g_np.shape == (1, 1, 32, 32)
    np.testing.assert_allclose(f_np, f_t.numpy(), atol=1e-6)


def test_onnxruntime_matches_torch(generator: torch.nn.Module, tmp_path) -> None:
    from rtmotion.export.onnx_export import export_generator_onnx

    pm, wp, mask = _inputs(3)
    with get_backend("torch", generator) as t_run:
        tf, tg = t_run(pm, wp, mask)
        tf0, _ = t_run(pm)
    path = export_generator_onnx(generator, tmp_path / "g.onnx")
    with get_backend("onnxruntime", path) as o_run:
        assert isinstance(o_run, OnnxRunner)
        assert o_run.input_names == ["pose_maps", "warped_prev", "prev_mask"]
        of, og = o_run(pm, wp, mask)
        of0, _ = o_run(pm)
        of_np, _ = o_run(pm.numpy(), wp.numpy(), mask.numpy())
        assert o_run.describe()["providers"] == ["CPUExecutionProvider"]
    assert isinstance(of, torch.Tensor)
    torch.testing.assert_close(of, tf, atol=1e-4, rtol=0)
    torch.testing.assert_close(og, tg, atol=1e-4, rtol=0)
    torch.testing.assert_close(of0, tf0, atol=1e-4, rtol=0)
    np.testing.assert_allclose(of_np, tf.numpy(), atol=1e-4)
    with get_backend("ort", path) as again:  # alias
        ff, _ = again(pm, wp, mask)
    torch.testing.assert_close(ff, of)


def test_runtime_only_runs_built_artifacts(generator: torch.nn.Module) -> None:
    """Building is rtmotion.export's job: the runtime refuses a module for an engine backend and
    says how to build one."""
    for name in ("onnxruntime", "aoti"):
        with pytest.raises(InputError, match="runs a built .*rtmotion build"):
            get_backend(name, generator)


def test_every_call_is_timed(generator: torch.nn.Module) -> None:
    pm, wp, mask = _inputs(5)
    with get_backend("torch", generator) as run:
        assert run.stats.count == 0 and run.stats.summary()["p50_ms"] is None
        for _ in range(3):
            run(pm, wp, mask)
        run(pm.numpy())
    s = run.stats.summary()
    assert run.stats.count == 4 and s["calls"] == 4
    assert 0 < s["min_ms"] <= s["p50_ms"] <= s["p95_ms"]
    assert run.stats.summary(skip=1)["calls"] == 3
    assert run.describe()["precision"] == "fp32"


def test_untimed_calls_are_not_recorded_and_only_torch_is_capturable(
        generator: torch.nn.Module) -> None:
    """What a CUDA graph capture needs from a runner, offered by the runner itself."""
    pm, wp, mask = _inputs(5)
    with get_backend("torch", generator) as run:
        run.sync_timing = True
        run(pm, wp, mask)
        with run.untimed():
            assert run.sync_timing is False
            run(pm, wp, mask)
        assert run.sync_timing is True and run.stats.count == 1
        run(pm, wp, mask)
        assert run.stats.count == 2
    assert run.capturable


def test_runner_must_be_open_and_bad_inputs(generator: torch.nn.Module) -> None:
    run = get_backend("torch", generator)
    pm, wp, _ = _inputs()
    with pytest.raises(RuntimeError, match="not open"):
        run(pm, wp)
    with run:
        with pytest.raises(ValueError, match="warped_prev"):
            run(pm, wp[:, :, :16])
        with pytest.raises(ValueError, match="B x C x H x W"):
            run(pm[0], wp)


def test_backend_errors(generator: torch.nn.Module, tmp_path) -> None:
    with pytest.raises(InputError, match="unknown backend"):
        get_backend("tensorflow", generator)
    with pytest.raises(InputError, match="ONNX file not found"):
        get_backend("onnxruntime", tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(InputError, match="not a loadable ONNX graph"):
        get_backend("onnxruntime", bad).open()
    with pytest.raises(InputError, match="needs a CUDA device"):
        get_backend("torch", generator, precision="fp16")
    with pytest.raises(InputError, match="torch backend needs"):
        get_backend("torch", tmp_path / "x.onnx")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            get_backend("torch", generator, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_torch_cuda_precisions_close_to_cpu(generator: torch.nn.Module, precision: str) -> None:
    pm, wp, mask = _inputs(4)
    with get_backend("torch", generator) as cpu_run:
        ref, _ = cpu_run(pm, wp, mask)
    with get_backend("torch", generator, device="cuda", precision=precision) as run:
        out, gate = run(pm.cuda(), wp.cuda(), mask.cuda())
    assert out.device.type == "cuda" and out.dtype == torch.float32
    tol = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 8e-2}[precision]
    assert float((out.cpu() - ref).abs().max()) < tol
