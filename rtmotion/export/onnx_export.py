"""Export the generator to ONNX (static shapes, opset 17) and check it against torch.

The exported graph is `GeneratorForExport`: inputs "pose_maps" (B x Cp x H x W, [0, 1]),
"warped_prev" (B x 3 x H x W, [-1, 1]) and "prev_mask" (B x 1 x H x W, {0, 1}) -- the last two
only when the config uses them (`rtmotion.models.generator.input_names`) -- and outputs "frame"
(B x 3 x H x W, [-1, 1]) and "gate" (B x 1 x H x W, [0, 1]). All float32. Flow and warp are not
in the graph (they run before it), so TensorRT needs no plugin: the ops are Conv, Relu,
InstanceNormalization (or folded BatchNorm), Resize(nearest), Add, Concat, Slice, Mul, Sub,
Tanh, Sigmoid.

The graph carries its own description in the model's metadata: "rtmotion.generator_config"
(the GeneratorConfig as JSON), "rtmotion.input_names", "rtmotion.output_names",
"rtmotion.batch".

The TorchScript-based exporter (`dynamo=False`) is used: it needs no onnxscript, and gives a
plain static graph. Both choices are explicit, as recent torch changes the defaults.
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from rtmotion.atomic import atomic_path
from rtmotion.errors import InputError, MissingDependencyError, RtmotionError
from rtmotion.models.generator import (
    OUTPUT_NAMES,
    GeneratorForExport,
    PoseGenerator,
    example_inputs,
    input_names,
)

log = logging.getLogger(__name__)

OPSET = 17


class ParityError(RtmotionError):
    """The exported graph's outputs differ from torch's by more than the tolerance."""


def export_generator_onnx(
    generator: PoseGenerator,
    path: str | Path,
    batch: int = 1,
    opset_version: int = OPSET,
) -> Path:
    """Write `generator` as an ONNX graph with static shapes at its config's resolution.

    The generator is copied to CPU float32 in eval mode (the caller's module is untouched; batch
    norm uses its running statistics and is folded into the convs by the exporter's constant
    folding). The file appears under `path` only when complete and valid (`onnx.checker`).

    Args:
        generator: a PoseGenerator (its `config` fixes channels and resolution).
        path: output .onnx file.
        batch: the static batch size.
        opset_version: ONNX opset (17 by default: InstanceNormalization, Resize, all native in
            TensorRT 8.6+).

    Returns:
        The path written.
    """
    import onnx

    path = Path(path)
    cfg = generator.config
    model = GeneratorForExport(copy.deepcopy(generator).float().cpu().eval())
    inputs = tuple(example_inputs(cfg, batch=batch).values())
    with atomic_path(path) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            # Instance norm always normalises with the input's own statistics; the exporter's
            # "train=True" warning about it is expected.
            warnings.filterwarnings("ignore", message=".*instance_norm.*", category=UserWarning)
            # Shape checks inside torch modules become constants in the trace: that is what a
            # static-shape export wants. The TorchScript exporter also warns it is deprecated.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                inputs,
                str(tmp),
                input_names=model.input_names,
                output_names=model.output_names,
                opset_version=opset_version,
                dynamo=False,
                do_constant_folding=True,
                dynamic_axes=None,  # static shapes for TensorRT
            )
        proto = onnx.load(str(tmp))
        meta = {
            "rtmotion.generator_config": json.dumps(cfg.to_dict()),
            "rtmotion.input_names": json.dumps(model.input_names),
            "rtmotion.output_names": json.dumps(model.output_names),
            "rtmotion.batch": str(batch),
        }
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    log.info("exported generator (%s, batch %d) to %s", cfg.resolution, batch, path)
    return path


def _session(path: Path):
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError("onnxruntime", "dev", "checking an ONNX export") from None
    if not path.is_file():
        raise InputError(path, "ONNX file not found", "export it first")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_onnx_parity(
    generator: PoseGenerator, path: str | Path, atol: float = 1e-4, seed: int = 0
) -> float:
    """Run the ONNX graph (onnxruntime, CPU) and the torch module on the same random inputs.

    The inputs have the graph's static shapes and the ranges of real inputs (pose maps in [0, 1],
    warped frame in [-1, 1], a 0/1 mask). Compares "frame" and "gate".

    Returns:
        The largest absolute difference over both outputs.

    Raises:
        ParityError: the difference exceeds `atol` (or the graph's inputs/outputs are not the
            ones this generator's config expects).
    """
    path = Path(path)
    sess = _session(path)
    cfg = generator.config
    names = [i.name for i in sess.get_inputs()]
    if names != input_names(cfg):
        raise ParityError(f"{path}: graph inputs {names}, the generator expects {input_names(cfg)}")
    batch = int(sess.get_inputs()[0].shape[0])
    feeds = example_inputs(cfg, batch=batch, seed=seed)
    onnx_out = sess.run(list(OUTPUT_NAMES), {k: v.numpy() for k, v in feeds.items()})
    model = GeneratorForExport(copy.deepcopy(generator).float().cpu().eval())
    with torch.no_grad():
        torch_out = [t.numpy() for t in model(*feeds.values())]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(onnx_out, torch_out, strict=True))
    log.info("ONNX parity %s: max abs diff %.3g (atol %.3g)", path, diff, atol)
    if not diff <= atol:
        raise ParityError(f"{path}: ONNX Runtime and torch differ by {diff:.3g} > {atol:.3g}")
    return diff
