"""Calibration sets: real generator inputs recorded while generating, for INT8 and parity.

A set is two files under `<calibration root>/<subject>/` (root: `default_calibration_dir()`,
~/.cache/rtmotion/calibration, or `--calibration-dir`):

    <W>x<H>.npz    one array per ONNX input name ("pose_maps" N x Cp x H x W in [0, 1],
                   "warped_prev" N x 3 x H x W in [-1, 1], "prev_mask" N x 1 x H x W in {0, 1}),
                   float32, frame i of every array from the same generator call
    <W>x<H>.json   where they came from: subject name and digest, pose source, frames used,
                   the command, the date

They are recorded the torch2trt way: a `RecordingRunner` wraps the runner the synthesizer
calls, so the inputs are exactly what inference feeds the generator (maps rendered from the
pose, the previous output warped by the pose flow, the warp's validity mask), frame after frame
from a sequence (`rtmotion calibrate` drives it with the subject's held-out poses).

`split(set)` divides a set into the frames INT8 calibration sees and the frames its quality is
measured on (interleaved, so both span the whole motion and never share a frame).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtmotion.atomic import atomic_path
from rtmotion.errors import InputError
from rtmotion.models.generator import INPUT_NAMES
from rtmotion.runtime.base import GeneratorRunner

log = logging.getLogger(__name__)



class RecordingRunner(GeneratorRunner):
    """Wraps a runner; every call's inputs (as the wrapped generator receives them, by input
    name) are kept, one (C, H, W) float32 array per input per batch item, when `recording`."""

    def __init__(self, inner: GeneratorRunner) -> None:
        super().__init__(inner.device)
        self.inner = inner
        self.name = f"recording({inner.name})"
        self.precision = inner.precision
        self.recording = True
        self.records: dict[str, list[np.ndarray]] = {}

    @property
    def input_names(self) -> list[str]:
        return self.inner.input_names

    def _open(self) -> None:
        self.inner.open()

    def _close(self) -> None:
        self.inner.close()

    def _run_torch(self, feeds: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.recording:
            for name, x in feeds.items():
                for item in x.detach().float().cpu().numpy():  # each C x H x W
                    self.records.setdefault(name, []).append(item)
        return self.inner(*(feeds[n] for n in self.input_names))

    def arrays(self) -> dict[str, np.ndarray]:
        """The recorded inputs, N x C x H x W float32 each."""
        return {k: np.stack(v).astype(np.float32) for k, v in self.records.items()}


@dataclass
class CalibrationSet:
    """Recorded generator inputs (see the module docstring) and where they came from."""

    arrays: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """Hex sha256 (16 digits) of the arrays: the INT8 engine's cache key for its data."""
        h = hashlib.sha256()
        if "derived_from" in self.info:  # resampled: float rounding may depend on threads
            h.update(str(self.info["derived_from"]).encode())
            return h.hexdigest()[:16]
        for name in sorted(self.arrays):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.arrays[name]).tobytes())
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0]) if self.arrays else 0

    @property
    def resolution(self) -> tuple[int, int]:
        """(W, H) of the inputs."""
        shape = self.arrays["pose_maps"].shape
        return int(shape[3]), int(shape[2])

    def feeds(self, index: int, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Frame `index` as a batch of one (1 x C x H x W per input), by input name."""
        names = names or [n for n in INPUT_NAMES if n in self.arrays]
        return {n: self.arrays[n][index : index + 1] for n in names}

    def subset(self, indices: list[int] | np.ndarray) -> CalibrationSet:
        return CalibrationSet({k: v[np.asarray(indices)] for k, v in self.arrays.items()},
                              dict(self.info))

    def resized(self, resolution: tuple[int, int]) -> CalibrationSet:
        """The same inputs resampled to another (W, H) (bilinear; the mask re-binarised), for
        calibrating a generator at a resolution no real set was recorded at (benchmarks)."""
        if tuple(resolution) == self.resolution:
            return self
        w, h = resolution
        out = {}
        for name, arr in self.arrays.items():
            t = torch.nn.functional.interpolate(torch.from_numpy(arr), size=(h, w),
                                                mode="bilinear", align_corners=False)
            if name == "prev_mask":
                t = (t > 0.5).float()
            out[name] = t.numpy().astype(np.float32)
        return CalibrationSet(out, {**self.info, "resized_from": list(self.resolution),
                                    "derived_from": f"{self.digest()}@{w}x{h}"})


def split(cal: CalibrationSet, eval_every: int = 3) -> tuple[CalibrationSet, CalibrationSet]:
    """(calibration frames, evaluation frames): every `eval_every`-th frame is held out for
    measuring quality, the rest calibrate."""
    idx = np.arange(len(cal))
    held = idx % eval_every == eval_every - 1
    if not held.any() or held.all():
        raise InputError(None, f"a calibration set of {len(cal)} frames is too small to split",
                         "record more frames with `rtmotion calibrate --frames`")
    return cal.subset(idx[~held]), cal.subset(idx[held])


def calibration_paths(folder: str | Path, resolution: tuple[int, int]) -> tuple[Path, Path]:
    """(npz, json) of a subject's set at (W, H) in `folder` (calibration/<subject>/)."""
    folder = Path(folder)
    stem = f"{int(resolution[0])}x{int(resolution[1])}"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def save_calibration(cal: CalibrationSet, folder: str | Path) -> Path:
    """Write the set (npz, then its JSON) atomically; returns the npz path."""
    npz, meta = calibration_paths(folder, cal.resolution)
    with atomic_path(npz, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **cal.arrays)
    info = {**cal.info, "frames": len(cal), "inputs": {k: list(v.shape) for k, v in cal.arrays.items()},
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    with atomic_path(meta, suffix=".json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log.info("wrote calibration set %s (%d frames)", npz, len(cal))
    return npz


def load_calibration(folder: str | Path, resolution: tuple[int, int],
                     input_names: list[str] | None = None) -> CalibrationSet:
    """The set recorded for (W, H) in `folder`; InputError (naming the file and the command to
    run) when missing, damaged, or lacking an input the graph takes."""
    npz, meta = calibration_paths(folder, resolution)
    hint = "record it with `rtmotion calibrate SUBJECT`"
    if not npz.is_file():
        raise InputError(npz, "no calibration set (needed for INT8)", hint)
    try:
        with np.load(npz) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    except (OSError, ValueError, EOFError) as e:
        raise InputError(npz, f"damaged calibration set ({e})", hint) from None
    try:
        info = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
    except (OSError, ValueError):
        info = {}
    names = input_names or list(INPUT_NAMES)
    missing = [n for n in names if n not in arrays]
    counts = {v.shape[0] for v in arrays.values()}
    if missing or len(counts) != 1 or not counts or 0 in counts:
        raise InputError(npz, f"calibration set lacks inputs {missing} or has unequal frame "
                         f"counts {sorted(counts)}", hint)
    w, h = resolution
    if arrays["pose_maps"].shape[2:] != (h, w):
        raise InputError(npz, f"inputs are {arrays['pose_maps'].shape[3]}x"
                         f"{arrays['pose_maps'].shape[2]}, expected {w}x{h}", hint)
    return CalibrationSet({n: arrays[n] for n in names}, info)
