"""TensorRT: real engine tests where `tensorrt` imports and a CUDA GPU is here (they skip with a
reason elsewhere: no TensorRT can be installed on the machines this project is tested on), and
the pieces that need no TensorRT: the fp16 graph it builds from (checked in ONNX Runtime), the
device checks, and the builder's feature detection (TensorRT 10 vs 11) against a small fake
module, since no real TensorRT of either version can exist on these machines."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import torch

from rtmotion.errors import InputError
from rtmotion.lazy import available
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import build_generator, example_inputs
from rtmotion.runtime import get_backend

HAVE_TRT = available("tensorrt") and torch.cuda.is_available()
needs_trt = pytest.mark.skipif(not HAVE_TRT, reason="needs the tensorrt package and a CUDA GPU "
                               "(neither can be installed on the project's test machines)")


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    from rtmotion.export.onnx_export import export_generator_onnx

    torch.manual_seed(0)
    gen = build_generator(generator_preset("tiny", resolution=(32, 32), background_plate=True))
    gen.set_background(torch.rand(1, 3, 32, 32) * 2 - 1)
    path = export_generator_onnx(gen.eval(), tmp_path_factory.mktemp("trt") / "g.onnx")
    return gen, path


def test_fp16_graph_for_strongly_typed_builds(graph, tmp_path) -> None:
    """The fp16 graph TensorRT 11 builds fp16 engines from: float32 in and out, fp16 inside,
    within 1e-2 of the fp32 graph (ONNX Runtime runs both)."""
    import onnx
    import onnxruntime as ort

    from rtmotion.export.tensorrt_build import to_fp16_graph

    gen, path = graph
    half = to_fp16_graph(path, tmp_path / "g16.onnx")
    model = onnx.load(str(half))
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.FLOAT] * 3
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    feeds = {k: v.numpy() for k, v in example_inputs(gen.config, seed=3).items()}
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = ort.InferenceSession(str(half), providers=["CPUExecutionProvider"]).run(None, feeds)
    assert got[0].dtype == np.float32
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True)) < 1e-2


def test_tensorrt_runner_refuses_the_cpu(graph) -> None:
    _, path = graph
    with pytest.raises(InputError, match="needs a CUDA device"):
        get_backend("tensorrt", path, "cpu")
    with pytest.raises(InputError, match="runs a built TensorRT engine"):
        get_backend("trt", graph[0], "cpu")


def test_engine_io_check_names_what_is_missing() -> None:
    """The runner's check of an engine's tensor names (no TensorRT needed): every output it
    returns must exist; a misnamed engine is refused at open, not with KeyError 'frame' later."""
    from rtmotion.runtime.tensorrt_backend import check_engine_io

    ins = ["pose_maps", "warped_prev", "prev_mask"]
    assert check_engine_io(ins, ["frame", "gate"]) is None
    assert check_engine_io(["pose_maps"], ["frame", "gate", "extra"]) is None
    # outputs that are not a proper subset of the expected ones, yet lack them (the old `<` let
    # these through)
    assert "lack frame, gate" in check_engine_io(ins, ["output0", "output1"])
    assert "lack gate" in check_engine_io(ins, ["frame", "mask"])
    assert "lack frame" in check_engine_io(ins, ["gate"])
    assert "unknown image" in check_engine_io(["pose_maps", "image"], ["frame", "gate"])
    assert "lack pose_maps" in check_engine_io(["warped_prev"], ["frame", "gate"])


class _FakeTRT(types.SimpleNamespace):
    """Just enough of the tensorrt module for `build_tensorrt` to choose its flags (a fake:
    no TensorRT can be installed here). `strongly_typed` selects 10/11-style (the flag exists)
    or older-style (FP16/INT8 builder flags)."""

    def __init__(self, strongly_typed: bool) -> None:
        calls: list[tuple] = []
        flags = {"EXPLICIT_BATCH": 0}
        if strongly_typed:
            flags["STRONGLY_TYPED"] = 5
        builder_flags = {"TF32": "TF32"} if strongly_typed else {"FP16": "FP16", "INT8": "INT8",
                                                                   "TF32": "TF32"}

        class Config:
            def set_flag(self, f):
                calls.append(("flag", f))

            def clear_flag(self, f):
                calls.append(("clear", f))

        class Network:
            pass

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                calls.append(("network", flags))
                return Network()

            def create_builder_config(self):
                return Config()

            def build_serialized_network(self, network, config):
                return b"plan"

        class Parser:
            num_errors = 0

            def __init__(self, network, logger):
                pass

            def parse(self, data):
                calls.append(("parse", len(data)))
                return True

        super().__init__(
            __version__="fake", calls=calls, Builder=Builder, OnnxParser=Parser,
            Logger=type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None}),
            NetworkDefinitionCreationFlag=types.SimpleNamespace(**flags),
            BuilderFlag=types.SimpleNamespace(**builder_flags))


@pytest.mark.parametrize("strongly_typed", [True, False])
def test_builder_detects_features_not_versions(graph, tmp_path, monkeypatch,
                                               strongly_typed: bool) -> None:
    from rtmotion.export import tensorrt_build

    fake = _FakeTRT(strongly_typed)
    monkeypatch.setattr(tensorrt_build, "import_tensorrt", lambda: fake)
    monkeypatch.setattr(torch.cuda, "device", lambda d: torch.device("cpu"))  # no GPU here
    out = tmp_path / "e.plan"
    info = tensorrt_build.build_tensorrt(graph[1], out, "fp16", torch.device("cpu"))
    assert out.read_bytes() == b"plan" and info["strongly_typed"] is strongly_typed
    network_flags = next(c[1] for c in fake.calls if c[0] == "network")
    if strongly_typed:  # precision from the graph: no builder flag
        assert network_flags == 1 << 5 and not [c for c in fake.calls if c[0] == "flag"]
    else:
        assert ("flag", "FP16") in fake.calls
    assert ("clear", "TF32") not in fake.calls and info["tf32"] is True
    # fp32 means fp32: TensorRT's default TF32 is cleared
    fp32 = tensorrt_build.build_tensorrt(graph[1], out, "fp32", torch.device("cpu"))
    assert ("clear", "TF32") in fake.calls and fp32["tf32"] is False


@needs_trt
@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.parametrize("precision,atol", [("fp32", 1e-3), ("fp16", 2e-2)])
def test_tensorrt_engine_matches_torch(graph, tmp_path, precision: str, atol: float) -> None:
    from rtmotion.export.engine import open_builder

    gen, _ = graph
    runner, choice = open_builder(gen, "tiny", "tensorrt", precision, "cuda", tmp_path,
                                  calibration_dir=None)
    assert choice.backend == "tensorrt" and choice.artifact.suffix == ".plan"
    feeds = example_inputs(gen.config, device="cuda", seed=1)
    with runner, torch.no_grad():
        frame, gate = runner(*feeds.values())
        ref_f, ref_g, _ = gen.cuda()(*feeds.values())
    assert frame.device.type == "cuda"
    assert float((frame - ref_f).abs().max()) < atol and float((gate - ref_g).abs().max()) < atol
