"""Weight files of a subject bundle (generator.pt, face.pt): write, read, check.

A weights file is a torch pickle of plain tensors (loaded with `weights_only=True`):

    {"kind": "rtmotion.PoseGenerator" | "rtmotion.FaceEnhancer", "version": 1,
     "config": <the model config as a dict>, "dtype": "float16" | "float32",
     "state_dict": {name: tensor}, ...extra (face.pt: "side")}

Every failure is a CheckpointError with one line naming the file, what is wrong and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rtmotion import __version__
from rtmotion.atomic import atomic_path
from rtmotion.errors import CheckpointError
from rtmotion.models.config import FaceConfig, GeneratorConfig
from rtmotion.models.face import FaceEnhancer
from rtmotion.models.generator import PoseGenerator

GENERATOR_KIND = "rtmotion.PoseGenerator"
FACE_KIND = "rtmotion.FaceEnhancer"
WEIGHTS_VERSION = 1

RETRAIN_HINT = "train it again with `rtmotion train`"


def weights_payload(kind: str, config: dict[str, Any], module: nn.Module, dtype: str = "float16",
                    **extra: Any) -> dict[str, Any]:
    """{"kind", "version", "config", "dtype", "state_dict", ...}: what generator.pt / face.pt hold."""
    tdtype = {"float16": torch.float16, "float32": torch.float32}[dtype]
    state = {k: (v.detach().to("cpu", tdtype) if v.is_floating_point() else v.detach().cpu())
             for k, v in module.state_dict().items()}
    return {"kind": kind, "version": WEIGHTS_VERSION, "config": config, "dtype": dtype,
            "state_dict": state, **extra}


def torch_save_atomic(obj: Any, path: Path) -> None:
    with atomic_path(path, suffix=path.suffix) as tmp:
        torch.save(obj, tmp)


def load_torch_file(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(path, f"{what} not found", RETRAIN_HINT)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(path, f"{what} is damaged or not a torch file ({msg[:160]})",
                              RETRAIN_HINT) from None
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"{what} is not an rtmotion weights file", RETRAIN_HINT)
    return obj


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Load a state dict whose keys and shapes must fit `module` exactly (CheckpointError if not)."""
    expected = module.state_dict()
    if not isinstance(state, dict):
        raise CheckpointError(path, f"{what} has no state dict", RETRAIN_HINT)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad = sorted(k for k in set(expected) & set(state)
                 if not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape)
    if missing or unexpected or bad:
        parts = [f"{w} {ks[:3]}{'...' if len(ks) > 3 else ''}"
                 for w, ks in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad))
                 if ks]
        raise CheckpointError(path, f"{what} does not fit its config ({'; '.join(parts)})", RETRAIN_HINT)
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def check_payload(obj: dict[str, Any], path: Path, kind: str, what: str) -> None:
    got = obj.get("kind")
    if got != kind:
        raise CheckpointError(path, f"holds {got!r} weights, expected {kind!r} ({what})",
                              "give the generator.pt of an rtmotion subject")
    ver = obj.get("version")
    if not isinstance(ver, int) or ver > WEIGHTS_VERSION or ver < 1:
        raise CheckpointError(path, f"{what} has weights version {ver}, this rtmotion "
                              f"{__version__} reads version {WEIGHTS_VERSION}",
                              "use the rtmotion version that trained it, or retrain")


def load_generator_file(path: str | Path, expected_config: dict[str, Any] | None = None,
                        device: str | torch.device = "cpu") -> PoseGenerator:
    """A PoseGenerator from a generator.pt, in eval mode, float32 on `device`.

    CheckpointError for a missing/damaged file, another model kind or version, a config that
    differs from `expected_config` (the bundle's), or weights that do not fit the config.
    """
    path = Path(path)
    obj = load_torch_file(path, "generator weights")
    check_payload(obj, path, GENERATOR_KIND, "generator")
    cfg_d = obj.get("config")
    if expected_config is not None and json_normalized(cfg_d) != json_normalized(expected_config):
        raise CheckpointError(path, "generator config differs from the one in subject.json "
                              "(files of two different subjects mixed?)", RETRAIN_HINT)
    try:
        cfg = GeneratorConfig.from_dict(cfg_d)
    except (ValueError, TypeError) as e:
        raise CheckpointError(path, f"invalid generator config ({e})", RETRAIN_HINT) from None
    gen = PoseGenerator(cfg)
    load_weights(gen, obj.get("state_dict"), path, "generator weights")
    return gen.to(device).eval()


def json_normalized(d: Any) -> Any:
    """JSON round trip: tuples vs lists compare equal."""
    return json.loads(json.dumps(d))


def load_face_file(path: Path, expected_config: dict[str, Any] | None, device: str | torch.device
                   ) -> tuple[FaceEnhancer, FaceConfig, int | None]:
    """(FaceEnhancer in eval mode on `device`, its config, its fixed crop side) from a face.pt."""
    obj = load_torch_file(path, "face enhancer weights")
    check_payload(obj, path, FACE_KIND, "face enhancer")
    if expected_config is not None and \
            json_normalized(obj.get("config")) != json_normalized(expected_config):
        raise CheckpointError(path, "face config differs from the one in subject.json", RETRAIN_HINT)
    try:
        cfg = FaceConfig.from_dict(obj["config"])
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(path, f"invalid face config ({e})", RETRAIN_HINT) from None
    face = FaceEnhancer(cfg)
    load_weights(face, obj.get("state_dict"), path, "face enhancer weights")
    side = obj.get("side")
    return face.to(device).eval(), cfg, (int(side) if side is not None else None)
