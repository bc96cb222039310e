"""ONNX export of the generator (static shapes, opset 17) and parity with onnxruntime (CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from rtmotion.errors import InputError, OutputError
from rtmotion.export.onnx_export import ParityError, check_onnx_parity, export_generator_onnx
from rtmotion.models.config import generator_preset
from rtmotion.models.generator import PoseGenerator

# Ops TensorRT (8.6+) parses natively; anything else would need a plugin.
TRT_NATIVE = {"Add", "Concat", "Constant", "Conv", "ConvTranspose", "Identity",
              "InstanceNormalization", "Mul", "Relu", "Resize", "Sigmoid", "Slice", "Sub", "Tanh"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[PoseGenerator, Path]:
    torch.manual_seed(0)
    gen = PoseGenerator(generator_preset("tiny", (64, 48)))
    path = tmp_path_factory.mktemp("onnx") / "gen.onnx"
    assert export_generator_onnx(gen, path, batch=2) == path
    return gen, path


def test_static_shapes_names_and_metadata(exported: tuple[PoseGenerator, Path]) -> None:
    gen, path = exported
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17

    def shape(v: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_value if d.HasField("dim_value") else d.dim_param
                for d in v.type.tensor_type.shape.dim]

    ins = {i.name: shape(i) for i in model.graph.input}
    outs = {o.name: shape(o) for o in model.graph.output}
    assert ins == {"pose_maps": [2, 25, 48, 64], "warped_prev": [2, 3, 48, 64],
                   "prev_mask": [2, 1, 48, 64]}
    assert outs == {"frame": [2, 3, 48, 64], "gate": [2, 1, 48, 64]}
    ops = {n.op_type for n in model.graph.node}
    assert ops <= TRT_NATIVE, ops - TRT_NATIVE
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["rtmotion.generator_config"]) == json.loads(
        json.dumps(gen.config.to_dict()))
    assert json.loads(meta["rtmotion.input_names"]) == ["pose_maps", "warped_prev", "prev_mask"]
    assert meta["rtmotion.batch"] == "2"


def test_parity_with_torch(exported: tuple[PoseGenerator, Path]) -> None:
    gen, path = exported
    diff = check_onnx_parity(gen, path, atol=1e-4)
    assert 0 <= diff < 1e-4
    # The gate really is applied in the graph: a zero mask gives frame == synthesized.
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"pose_maps": np.random.rand(2, 25, 48, 64).astype(np.float32),
             "warped_prev": np.ones((2, 3, 48, 64), np.float32),
             "prev_mask": np.zeros((2, 1, 48, 64), np.float32)}
    frame, gate = sess.run(["frame", "gate"], feeds)
    assert np.all(gate == 0)
    with torch.no_grad():
        _, _, synth = gen.eval()(*(torch.from_numpy(v) for v in feeds.values()))
    assert np.abs(frame - synth.numpy()).max() < 1e-4


def test_parity_detects_a_different_model(exported: tuple[PoseGenerator, Path]) -> None:
    gen, path = exported
    torch.manual_seed(1)
    other = PoseGenerator(gen.config)
    with pytest.raises(ParityError, match="differ"):
        check_onnx_parity(other, path, atol=1e-4)
    with pytest.raises(ParityError, match="inputs"):
        check_onnx_parity(PoseGenerator(gen.config.with_(use_prev_mask=False)), path)


def test_export_variants(tmp_path: Path) -> None:
    for changes in ({"norm": "batch"}, {"full_res": "separable"}, {"use_prev": False}):
        gen = PoseGenerator(generator_preset("tiny", (32, 32), **changes))
        if changes.get("norm") == "batch":  # non-trivial running stats, folded at export
            gen.train()
            with torch.no_grad():
                for _ in range(2):
                    gen(torch.rand(4, 25, 32, 32), torch.rand(4, 3, 32, 32) * 2 - 1)
        path = export_generator_onnx(gen, tmp_path / f"{len(changes)}{next(iter(changes))}.onnx")
        assert check_onnx_parity(gen, path, atol=1e-4) < 1e-4
    names = [i.name for i in onnx.load(str(path)).graph.input]
    assert names == ["pose_maps"]


def test_background_plate_is_a_graph_constant(tmp_path: Path) -> None:
    """The plate travels inside the ONNX graph: same inputs as without it, and parity holds."""
    gen = PoseGenerator(generator_preset("tiny", (32, 32), background_plate=True))
    gen.set_background(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    path = export_generator_onnx(gen, tmp_path / "plate.onnx")
    assert [i.name for i in onnx.load(str(path)).graph.input] == [
        "pose_maps", "warped_prev", "prev_mask"]
    assert check_onnx_parity(gen, path, atol=1e-4) < 1e-4


def test_reference_choice_is_plain_element_wise_ops(tmp_path: Path) -> None:
    """The masked softmax over the candidates (`choose`) is exported as Exp / ReduceMax /
    ReduceSum / Div, not ONNX Softmax (over the channel axis ONNX Runtime transposes the tensor
    each way for it: about 6 % of the CPU generator), still within parity, and every op stays
    one TensorRT parses natively."""
    gen = PoseGenerator(generator_preset("tiny", (32, 32), use_reference=True, plate_input=True))
    with torch.no_grad():  # logits that matter: candidates are really mixed
        gen.head.bias[3:7] = torch.tensor([1.5, -0.5, 0.5, 2.0])
    path = export_generator_onnx(gen, tmp_path / "ref.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Softmax" not in ops and {"Exp", "ReduceMax", "ReduceSum"} <= ops
    native = TRT_NATIVE | {"Exp", "ReduceMax", "ReduceSum", "Div", "Shape", "Expand"}
    assert ops <= native, ops - native
    assert check_onnx_parity(gen, path, atol=1e-4) < 1e-4


def test_errors_leave_nothing_behind(tmp_path: Path) -> None:
    gen = PoseGenerator(generator_preset("tiny", (32, 32)))
    with pytest.raises(OutputError):
        export_generator_onnx(gen, tmp_path)  # a directory
    with pytest.raises(InputError, match="not found"):
        check_onnx_parity(gen, tmp_path / "missing.onnx")
    assert list(tmp_path.iterdir()) == []
