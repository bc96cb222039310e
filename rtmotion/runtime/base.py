"""The one interface every generator backend implements (Polygraphy-style runner).

A runner wraps one pose-to-image generator and runs it on one device:

    with get_backend("torch", subject, device="cpu") as runner:
        frame, gate = runner(pose_maps, warped_prev)

- `open()` loads what is needed (copies weights to the device, builds an inference session);
  `close()` frees it. Both are idempotent; the runner is a context manager doing both.
- `__call__(pose_maps, warped_prev=None, prev_mask=None) -> (frame, gate)`:
    pose_maps:   B x Cp x H x W, float in [0, 1] (the rendered conditioning maps)
    warped_prev: B x 3 x H x W, float in [-1, 1] (previous output warped to the new pose), or
                 None: no previous frame (the first frame, or after a frame without a person)
    prev_mask:   B x 1 x H x W, float in {0, 1} (1 = warped pixel valid), or None: all ones when
                 warped_prev is given, all zeros when it is not
    frame:       B x 3 x H x W, float32 in [-1, 1] (already the gated blend)
    gate:        B x 1 x H x W, float32 in [0, 1]
    ref_warped, ref_mask, ref_image: the subject's appearance reference (the nearest keyframe
                 warped to the new pose, its warp validity, the keyframe unwarped; shapes as
                 warped_prev / prev_mask; for a few frames after the nearest keyframe changes,
                 a blend of two, the mask then in [0, 1]: `rtmotion.pipeline.reference`), or None: no reference (zeros, mask 0); only a
                 generator with `use_reference` takes them
    plate:       B x 3 x H x W in [-1, 1], the background plate of the frame's follow box (a
                 generator with `plate_input` only; None: zeros)
  The inputs a generator does not take (its config has no `use_prev` / `use_prev_mask`) are
  dropped, so callers pass the same three whatever the model. Missing ones follow
  `PoseGenerator.forward`'s rule (zeros frame + zero mask without a previous frame), so every
  backend computes the same thing. numpy inputs give numpy outputs; torch inputs give torch
  tensors on `runner.device`. Outputs are float32 whatever precision the backend computes in.

Every call is timed (`runner.stats`, a `CallStats`: milliseconds per call, wall clock from
entry to return, input conversion included). On CUDA the call returns once the work is queued,
so set `runner.sync_timing = True` to wait for the GPU before the clock stops (what a benchmark
wants; the streaming pipeline leaves it off so as not to stall the stream).
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import torch

from rtmotion.devices import resolve_device
from rtmotion.engine_request import BACKEND_PRECISIONS
from rtmotion.timing import call_summary

ArrayLike = np.ndarray | torch.Tensor


#: what the torch runner computes in (the backend x precision table's row)
PRECISIONS: tuple[str, ...] = BACKEND_PRECISIONS["torch"]


@dataclass
class CallStats:
    """Per-call wall time of a runner, in milliseconds (one entry per `__call__`)."""

    ms: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        self.ms.append(float(ms))

    def clear(self) -> None:
        self.ms.clear()

    @property
    def count(self) -> int:
        return len(self.ms)

    def summary(self, skip: int = 0) -> dict[str, float | int | None]:
        """{"calls", "mean_ms", "p50_ms", "p95_ms", "min_ms"} over the calls after `skip`."""
        return call_summary(self.ms[skip:])


class GeneratorRunner(ABC):
    """Base class of backends; subclasses implement `input_names`, `_open`, `_close` and one of
    `_run_torch` / `_run_numpy` (feeds by input name; the other converts)."""

    #: registry name, e.g. "torch"
    name: str = "base"

    #: the precision the runner computes in ("fp32", "fp16", "bf16", "int8")
    precision: str = "fp32"

    #: True when a call only queues torch work on the current CUDA stream (no host sync, no
    #: host-side allocation), so it can be captured in a CUDA graph (the torch runner)
    capturable: bool = False

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self._device = resolve_device(device)
        self._open_flag = False
        #: milliseconds per call (see the module docstring)
        self.stats = CallStats()
        #: synchronize CUDA before stopping each call's clock (benchmarks)
        self.sync_timing = False
        self._timed = True  # False inside `untimed()`

    # ---- lifecycle ----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where torch outputs are returned (and, for torch, where the model runs)."""
        return self._device

    @property
    def is_open(self) -> bool:
        return self._open_flag

    def open(self) -> GeneratorRunner:
        """Load the model for inference (idempotent). Returns self."""
        if not self._open_flag:
            self._open()
            self._open_flag = True
        return self

    def close(self) -> None:
        """Free what `open` loaded (idempotent)."""
        if self._open_flag:
            self._open_flag = False
            self._close()

    def __enter__(self) -> GeneratorRunner:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leak a session / GPU memory
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown, nothing to report to
            pass

    @contextlib.contextmanager
    def untimed(self) -> Iterator[GeneratorRunner]:
        """Calls inside the block are neither synchronized nor recorded in `stats` (a CUDA graph
        capture records work without running it: not a generator run, and no sync allowed)."""
        sync, self.sync_timing = self.sync_timing, False
        self._timed = False
        try:
            yield self
        finally:
            self.sync_timing = sync
            self._timed = True

    # ---- inference ----------------------------------------------------------------------
    @property
    @abstractmethod
    def input_names(self) -> list[str]:
        """The model's inputs in order, a prefix-subset of INPUT_NAMES."""

    def __call__(self, pose_maps: ArrayLike, warped_prev: ArrayLike | None = None,
                 prev_mask: ArrayLike | None = None, ref_warped: ArrayLike | None = None,
                 ref_mask: ArrayLike | None = None, ref_image: ArrayLike | None = None,
                 plate: ArrayLike | None = None) -> tuple[Any, Any]:
        """Run the generator once; see the module docstring for shapes and ranges. Positional
        arguments follow INPUT_NAMES' order."""
        if not self._open_flag:
            raise RuntimeError(f"{self.name} runner is not open: use `with runner:` or runner.open()")
        t0 = time.perf_counter()
        out = self._call(pose_maps, warped_prev, prev_mask, ref_warped, ref_mask, ref_image, plate)
        if self.sync_timing and self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        if self._timed:
            self.stats.add((time.perf_counter() - t0) * 1e3)
        return out

    def _call(self, pose_maps: ArrayLike, warped_prev: ArrayLike | None,
              prev_mask: ArrayLike | None, ref_warped: ArrayLike | None = None,
              ref_mask: ArrayLike | None = None, ref_image: ArrayLike | None = None,
              plate: ArrayLike | None = None) -> tuple[Any, Any]:
        if pose_maps.ndim != 4:
            raise ValueError(f"pose_maps must be B x C x H x W, got {tuple(pose_maps.shape)}")
        b, _, h, w = pose_maps.shape
        use_numpy = isinstance(pose_maps, np.ndarray)
        if use_numpy:
            to = lambda x: np.ascontiguousarray(x, dtype=np.float32)  # noqa: E731
            zeros = lambda c: np.zeros((b, c, h, w), np.float32)  # noqa: E731
            ones = lambda c: np.ones((b, c, h, w), np.float32)  # noqa: E731
        else:
            dev = pose_maps.device
            to = lambda x: torch.as_tensor(x, device=dev)  # noqa: E731
            zeros = lambda c: torch.zeros((b, c, h, w), device=dev, dtype=pose_maps.dtype)  # noqa: E731
            ones = lambda c: torch.ones((b, c, h, w), device=dev, dtype=pose_maps.dtype)  # noqa: E731
        # The generator's rule (PoseGenerator.forward): no previous frame = zeros, mask 0.
        if warped_prev is None:
            warped_prev, prev_mask = zeros(3), zeros(1)
        elif prev_mask is None:
            prev_mask = ones(1)
        # The same rule for the reference: none = zeros with a zero mask.
        if ref_warped is None or ref_image is None:
            ref_warped, ref_mask, ref_image = zeros(3), zeros(1), zeros(3)
        elif ref_mask is None:
            ref_mask = ones(1)
        if plate is None:  # a plate input left out: zeros (the generator masks it out)
            plate = zeros(3)
        given = {"pose_maps": pose_maps, "warped_prev": warped_prev, "prev_mask": prev_mask,
                 "ref_warped": ref_warped, "ref_mask": ref_mask, "ref_image": ref_image,
                 "plate": plate}
        feeds = {}
        for name in self.input_names:
            x = to(given[name])
            if tuple(x.shape[0:1]) + tuple(x.shape[2:]) != (b, h, w):
                raise ValueError(f"{name} has shape {tuple(x.shape)}, expected batch {b} and size "
                                 f"{h} x {w} like pose_maps")
            feeds[name] = x
        if use_numpy:
            return self._run_numpy(feeds)
        return self._run_torch(feeds)

    def _run_torch(self, feeds: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        frame, gate = self._run_numpy(
            {k: v.detach().float().cpu().contiguous().numpy() for k, v in feeds.items()})
        return (torch.from_numpy(frame).to(self._device, non_blocking=True),
                torch.from_numpy(gate).to(self._device, non_blocking=True))

    def _run_numpy(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        frame, gate = self._run_torch({k: torch.from_numpy(v).to(self._device) for k, v in feeds.items()})
        return (frame.detach().float().cpu().numpy(), gate.detach().float().cpu().numpy())

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """What runs where, for logs and reports."""
        return {"backend": self.name, "device": str(self._device), "precision": self.precision}
