"""Pose extractor interface and registry.

Two kinds of pose sources:

- a per-image `PoseExtractor` (Polygraphy-style runner: `open()` / `__call__(image)` / `close()`,
  usable as a context manager). `__call__` takes one uint8 RGB (H, W, 3) image and returns
  float32 (K, 3) keypoints of the canonical skeleton, x, y in pixels of that image and confidence
  in [0, 1]; a missing joint is (0, 0, 0) and a frame without a person is all zeros. Extractors
  may keep state between calls (MediaPipe's tracker): feed frames in order, and `reset()` (or
  reopen) before an unrelated frame sequence.
- a whole-sequence loader (`load_sequence(kind, path, ...)`): OpenPose JSON folders, existing
  pose files, synthetic ground truth. They return a `PoseSequence` directly.

`get_extractor(name, **opts)` builds an extractor by name; `register_extractor` adds one.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable
from types import TracebackType
from typing import Any

import numpy as np

from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25, Skeleton


class PoseExtractor(abc.ABC):
    """Estimates one person's pose per image. Subclasses set `name` and implement `_open`,
    `_estimate` and (optionally) `_close` / `reset`."""

    name: str = "base"
    skeleton: Skeleton = BODY25

    def __init__(self) -> None:
        self._is_open = False

    # ---- lifecycle -----------------------------------------------------------------------
    def open(self) -> PoseExtractor:
        """Load the model (lazily imports optional packages). Idempotent; returns self."""
        if not self._is_open:
            self._open()
            self._is_open = True
        return self

    def close(self) -> None:
        """Release the model. Idempotent."""
        if self._is_open:
            self._is_open = False
            self._close()

    def reset(self) -> None:
        """Forget temporal state (default: close and reopen)."""
        if self._is_open:
            self.close()
            self.open()

    @property
    def is_open(self) -> bool:
        return self._is_open

    def __enter__(self) -> PoseExtractor:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- inference -----------------------------------------------------------------------
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Estimate the pose in `image`.

        Args:
            image: uint8 RGB (H, W, 3).
        Returns:
            float32 (K, 3) with K = `self.skeleton.num_joints`: x, y in pixels, confidence;
            missing joints (0, 0, 0).
        """
        if not self._is_open:
            self.open()
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{self.name}: image must be uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
        kp = np.asarray(self._estimate(image), dtype=np.float32)
        kp = np.nan_to_num(kp, nan=0.0, posinf=0.0, neginf=0.0)
        kp[~(kp[:, 2] > 0)] = 0.0
        return kp

    def skip(self) -> None:  # noqa: B027 - optional hook
        """A frame went by that this extractor is not shown (`extract_video(every=...)`). A
        tracker needs nothing (it sees a larger move on the next frame it is shown); a replay
        of known poses steps past the frame."""

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _estimate(self, image: np.ndarray) -> np.ndarray: ...

    def _close(self) -> None:  # noqa: B027 - optional hook
        pass

    def describe(self) -> str:
        """One-line description stored in pose files' `extractor` field."""
        return self.name


class SequenceReplay(PoseExtractor):
    """Replays a known `PoseSequence` frame by frame as if it were estimated.

    Useful to drive the pipeline with cached poses or ground truth: call i returns frame i's
    keypoints (the sequence loops when `loop`, else returns empty poses past the end). If the
    image size differs from the sequence's `size`, keypoints are rescaled to the image.
    """

    name = "replay"

    def __init__(self, seq: PoseSequence, loop: bool = False) -> None:
        super().__init__()
        self.seq = seq
        self.loop = loop
        self._i = 0

    def _open(self) -> None:
        self._i = 0

    def reset(self) -> None:
        self._i = 0

    def seek(self, index: int) -> None:
        """Make the next call return frame `index`."""
        self._i = int(index)

    def skip(self) -> None:
        self._i += 1  # call i stays frame i

    def _estimate(self, image: np.ndarray) -> np.ndarray:
        n = len(self.seq)
        i = self._i
        self._i += 1
        if self.loop and n:
            i %= n
        if not 0 <= i < n:
            return np.zeros((self.seq.num_joints, 3), np.float32)
        kp = self.seq.keypoints[i].copy()
        w, h = self.seq.size
        ih, iw = image.shape[:2]
        if (iw, ih) != (w, h) and w > 0 and h > 0:
            kp[:, 0] *= iw / w
            kp[:, 1] *= ih / h
        return kp

    def describe(self) -> str:
        return f"replay:{self.seq.extractor or self.seq.source}"


#: A pose source spec naming a synthetic dancer clip ("synthetic:ada,dance"), served by the
#: synthetic dancer's own extractor (`rtmotion.synthetic.extractor`, registered below by name).
SYNTHETIC_PREFIX = "synthetic:"


def is_synthetic_spec(text: object) -> bool:
    """True for a `synthetic:...` pose source spec."""
    return isinstance(text, str) and text.startswith(SYNTHETIC_PREFIX)


# ---- registries --------------------------------------------------------------------------

# name -> "module:attribute" (imported on demand: so that `rtmotion --help` stays light, worker
# processes can import the same name, and a source from a higher layer - the synthetic dancer -
# is a plug-in found by name, not an import of pose/) or a factory callable.
_EXTRACTORS: dict[str, str | Callable[..., PoseExtractor]] = {
    "mediapipe": "rtmotion.pose.extractors.mediapipe:MediaPipeExtractor",
    "npz": "rtmotion.pose.extractors.npzfile:NpzReplayExtractor",
    "synthetic": "rtmotion.synthetic.extractor:SyntheticReplayExtractor",
}

# kind -> "module:function" loading a whole PoseSequence from a path / spec.
_LOADERS: dict[str, str | Callable[..., PoseSequence]] = {
    "openpose": "rtmotion.pose.extractors.openpose_json:load_openpose_folder",
    "npz": "rtmotion.pose.extractors.npzfile:load_npz",
    "synthetic": "rtmotion.synthetic.extractor:load_synthetic",
}


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(target):
        return target
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def register_extractor(name: str, factory: str | Callable[..., PoseExtractor]) -> None:
    """Add (or replace) an extractor: `factory(**opts) -> PoseExtractor` or "module:attr"."""
    _EXTRACTORS[name] = factory


def register_loader(kind: str, loader: str | Callable[..., PoseSequence]) -> None:
    """Add (or replace) a whole-sequence loader: `loader(path, **opts) -> PoseSequence`."""
    _LOADERS[kind] = loader


def available_extractors() -> tuple[str, ...]:
    return tuple(_EXTRACTORS)


def available_loaders() -> tuple[str, ...]:
    return tuple(_LOADERS)


def get_extractor(name: str, **opts: Any) -> PoseExtractor:
    """Build the extractor `name` with `opts` (not opened yet).

    `name` is a registered name, or "package.module:Class" for a plug-in extractor (importable
    by that name also in worker processes, which a runtime `register_extractor` is not).
    ValueError lists the known names for an unknown one.
    """
    target = _EXTRACTORS.get(name)
    if target is None and ":" in name:
        target = name
    if target is None:
        raise ValueError(f"unknown pose extractor '{name}' (known: {', '.join(_EXTRACTORS)})")
    try:
        factory = _resolve(target)
    except (ImportError, AttributeError) as e:
        if name in _EXTRACTORS:
            raise
        raise ValueError(f"cannot load pose extractor '{name}' ({e})") from None
    return factory(**opts)


def load_sequence(kind: str, path: Any, **opts: Any) -> PoseSequence:
    """Load a whole PoseSequence with the loader `kind` ("openpose", "npz", "synthetic")."""
    try:
        target = _LOADERS[kind]
    except KeyError:
        raise ValueError(f"unknown pose source '{kind}' (known: {', '.join(_LOADERS)})") from None
    return _resolve(target)(path, **opts)
