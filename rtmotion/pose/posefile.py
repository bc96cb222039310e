"""Pose files: one `.npz` per video, the cached driving motion.

Schema (version 1), all arrays:
    schema_version  int64 ()           1
    keypoints       float32 (T, K, 3)  x, y in pixels of the source frame, confidence in [0, 1]
    joint_names     str (K,)
    skeleton        str ()             e.g. "body25"
    fps             int64 (2,)         numerator, denominator (exact, e.g. 30000/1001)
    size            int64 (2,)         source frame width, height in pixels
    timestamps      float64 (T,)       seconds from stream start
    source          str ()             where the poses came from (file path or generator), info only
    extractor       str ()             extractor name, info only
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from rtmotion.atomic import atomic_path
from rtmotion.errors import InputError
from rtmotion.pose.skeleton import Skeleton, get_skeleton

SCHEMA_VERSION = 1


@dataclass
class PoseSequence:
    """Poses of one person over a video.

    Attributes:
        keypoints: float32 (T, K, 3), see module docstring; missing joints are (0, 0, 0).
        skeleton: skeleton name; `joint_names` must match it.
        fps: exact frame rate.
        size: (width, height) of the frames the pixels refer to.
        timestamps: float64 (T,) seconds.
    """

    keypoints: np.ndarray
    skeleton: str
    fps: Fraction
    size: tuple[int, int]
    timestamps: np.ndarray
    source: str = ""
    extractor: str = ""
    joint_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        self.keypoints = np.ascontiguousarray(self.keypoints, dtype=np.float32)
        if self.keypoints.ndim != 3 or self.keypoints.shape[2] != 3:
            raise ValueError(f"keypoints must be (T, K, 3), got {self.keypoints.shape}")
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        if self.timestamps.shape != (len(self.keypoints),):
            raise ValueError("timestamps must have one entry per frame")
        self.fps = Fraction(self.fps)
        self.size = (int(self.size[0]), int(self.size[1]))
        if not self.joint_names:
            self.joint_names = get_skeleton(self.skeleton).joints
        self.joint_names = tuple(self.joint_names)
        # Never NaN in memory or on disk: missing joints are zeros with confidence 0.
        bad = ~np.isfinite(self.keypoints).all(axis=-1) | ~(self.keypoints[..., 2] > 0)
        self.keypoints[bad] = 0.0

    # ---- views ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def skeleton_def(self) -> Skeleton:
        return get_skeleton(self.skeleton)

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[1])

    @property
    def detected(self) -> np.ndarray:
        """bool (T,): frames where at least one joint was found."""
        return (self.keypoints[..., 2] > 0).any(axis=1)

    def joint(self, name: str) -> np.ndarray:
        """float32 (T, 3) track of one joint."""
        return self.keypoints[:, self.joint_names.index(name)]

    def slice(self, start: int = 0, end: int | None = None, stride: int = 1) -> PoseSequence:
        """A sub-sequence (a copy)."""
        sl = slice(start, end, stride)
        return replace(
            self,
            keypoints=self.keypoints[sl].copy(),
            timestamps=self.timestamps[sl].copy(),
            fps=self.fps / stride,
        )

    def with_keypoints(self, keypoints: np.ndarray, **changes: object) -> PoseSequence:
        """Same metadata, new keypoints (and optionally other fields)."""
        return replace(self, keypoints=keypoints, **changes)

    # ---- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write atomically to `path` (.npz). Returns the path."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f,
                    schema_version=np.int64(SCHEMA_VERSION),
                    keypoints=self.keypoints,
                    joint_names=np.array(self.joint_names),
                    skeleton=np.array(self.skeleton),
                    fps=np.array([self.fps.numerator, self.fps.denominator], dtype=np.int64),
                    size=np.array(self.size, dtype=np.int64),
                    timestamps=self.timestamps,
                    source=np.array(self.source),
                    extractor=np.array(self.extractor),
                )
        return path

    @classmethod
    def load(cls, path: str | Path) -> PoseSequence:
        """Read and validate a pose file; InputError with the file name if it is not one."""
        path = Path(path)
        if not path.exists():
            raise InputError(path, "pose file not found")
        if path.is_dir():
            raise InputError(path, "is a directory, expected a .npz pose file")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise InputError(path, f"not a readable .npz pose file ({e})",
                             "make one with `rtmotion extract`") from None
        missing = {"schema_version", "keypoints", "skeleton", "fps", "size", "timestamps"} - set(data)
        if missing:
            raise InputError(path, f"not an rtmotion pose file (missing {', '.join(sorted(missing))})",
                             "make one with `rtmotion extract`")
        version = int(data["schema_version"])
        if version != SCHEMA_VERSION:
            raise InputError(path, f"pose file schema version {version}, this rtmotion reads "
                             f"version {SCHEMA_VERSION}", "re-extract the poses")
        try:
            seq = cls(
                keypoints=data["keypoints"],
                skeleton=str(data["skeleton"]),
                fps=Fraction(int(data["fps"][0]), int(data["fps"][1])),
                size=(int(data["size"][0]), int(data["size"][1])),
                timestamps=data["timestamps"],
                source=str(data.get("source", "")),
                extractor=str(data.get("extractor", "")),
                joint_names=tuple(str(n) for n in data.get("joint_names", ())),
            )
        except (ValueError, KeyError, ZeroDivisionError) as e:
            raise InputError(path, f"damaged pose file ({e})", "re-extract the poses") from None
        try:
            skel = get_skeleton(seq.skeleton)
        except KeyError as e:
            raise InputError(path, str(e).strip("'\""), "re-extract the poses") from None
        if seq.num_joints != skel.num_joints or seq.joint_names != skel.joints:
            raise InputError(path, f"keypoints do not match skeleton '{seq.skeleton}'")
        return seq
