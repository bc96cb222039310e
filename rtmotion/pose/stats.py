"""Pose statistics of one subject: what normalization needs to know about a person's poses.

`SubjectPoseStats.from_sequence(seq)` summarises a pose sequence (the target's training poses,
or the source dancer's poses) in a few robust numbers. The target's are computed once and stored
with the subject (`save`/`load`, JSON), so converting a new source never needs the target video.

Definitions (all in pixels of the sequence's frames, y grows downward):

- *ankle y* of a frame: the largest y among the visible ankles (`l_ankle`, `r_ankle`), i.e. the
  lower foot, the one most likely on the ground when the other is lifted. Frames without a
  visible ankle have none.
- *far* / *close* ankle position: the 5th / 95th percentiles of the per-frame ankle y (the
  person's farthest / closest place to the camera, EDN's "min / max ankle y"). Percentiles, not
  min/max, so a few wild detections do not move them.
- *body height* of a frame: ankle y minus the top of the body, the smallest y among the visible
  joints of the *height reference* group: the head joints (nose, eyes, ears) when the skeleton
  has them, else the neck / shoulders, else every joint. Raised arms do not count.
- *height near far* / *near close*: the median body height over the frames whose ankle y lies
  within `band` (default 5 % of close - far: at the 5th / 95th percentile such a window stays
  inside the data, so the median is not pulled toward the middle) of far / close, and at least
  the `min_frames` frames nearest to it. When the person never changes depth (close == far) every frame counts.
  These definitions are equivariant under scaling and shifting the whole sequence, so a source
  that is a scaled, shifted copy of the target normalizes exactly onto the target.
- *x centre*: median over frames of the mean x of the visible trunk joints (neck, mid_hip, hips,
  shoulders; every visible joint when none of those exists).
- upper body: *shoulder width* (median distance between the shoulders), *head-shoulder
  distance* (median distance from the shoulder midpoint to the head point, the mean of the
  visible nose/eyes/ears), *shoulder centre* (median of the shoulder midpoint, x and y).
- *bone lengths*: median 2D length of each bone over frames where both ends are visible, keyed
  "parent>child" by joint name (for bone retargeting).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.atomic import atomic_path
from rtmotion.errors import InputError
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import BODY25_BONES, SKELETONS

STATS_SCHEMA = "rtmotion.pose_stats"
STATS_VERSION = 1

ANKLES: tuple[str, ...] = ("l_ankle", "r_ankle")
SHOULDERS: tuple[str, str] = ("l_shoulder", "r_shoulder")
HEAD: tuple[str, ...] = ("nose", "l_eye", "r_eye", "l_ear", "r_ear")
TRUNK: tuple[str, ...] = ("neck", "mid_hip", "l_hip", "r_hip", "l_shoulder", "r_shoulder")
# Height reference groups, first one the skeleton has wins (see module docstring).
HEIGHT_REFERENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("head", HEAD),
    ("neck", ("neck", "l_shoulder", "r_shoulder")),
)

FAR_PERCENTILE = 5.0
CLOSE_PERCENTILE = 95.0


def bone_key(parent: str, child: str) -> str:
    """Key of a bone in `SubjectPoseStats.bone_lengths`."""
    return f"{parent}>{child}"


def skeleton_bones(joint_names: tuple[str, ...], skeleton: str = "") -> tuple[tuple[str, str], ...]:
    """The bones of a sequence as (parent, child) joint-name pairs.

    A registered skeleton whose joints match `joint_names` gives its own bones; otherwise (a
    custom or partial skeleton) the canonical BODY25 bones whose two joints both exist, so any
    joint order and any subset of the canonical joints works.
    """
    skel = SKELETONS.get(skeleton)
    if skel is not None and skel.joints == tuple(joint_names):
        return tuple((skel.joints[a], skel.joints[b]) for a, b in skel.bones)
    names = set(joint_names)
    return tuple((a, b) for a, b in BODY25_BONES if a in names and b in names)


def drop_outside(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Copy of float (..., K, 3) keypoints with joints outside the frame [0, W] x [0, H] marked
    missing (0, 0, 0). Such joints are guesses (MediaPipe extrapolates landmarks it cannot see,
    e.g. the legs below a webcam's frame): counting them would make a bust look full-body.
    A size of (0, 0) (unknown) leaves the keypoints as they are."""
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        return kp
    out = (kp[..., 0] < 0) | (kp[..., 0] > w) | (kp[..., 1] < 0) | (kp[..., 1] > h)
    kp[out] = 0.0
    return kp


def _present(joint_names: tuple[str, ...], wanted: tuple[str, ...]) -> list[int]:
    return [joint_names.index(n) for n in wanted if n in joint_names]


def _masked(kp: np.ndarray, idx: list[int], min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """xy float64 (T, n, 2) of the `idx` joints, NaN where missing; vis bool (T, n)."""
    sub = kp[:, idx, :].astype(np.float64)
    vis = sub[..., 2] > min_conf
    x = np.where(vis, sub[..., 0], np.nan)
    y = np.where(vis, sub[..., 1], np.nan)
    return np.stack([x, y], axis=-1), vis


def _rowwise(fn: Any, a: np.ndarray) -> np.ndarray:
    """fn (np.nanmax, np.nanmin, np.nanmean) over each row of float (T, n) `a`; NaN for rows
    with no finite value (without numpy's all-NaN RuntimeWarning)."""
    ok = ~np.isnan(a).all(axis=1)
    out = np.full(a.shape[0], np.nan)
    if ok.any():
        out[ok] = fn(a[ok], axis=1)
    return out


def ankle_y(kp: np.ndarray, joint_names: tuple[str, ...], min_conf: float = 0.0) -> np.ndarray:
    """float64 (T,) per-frame ankle y (lower visible ankle), NaN where none is visible.

    Args:
        kp: float (T, K, 3) keypoints. joint_names: the K names.
    Raises:
        KeyError if the skeleton has no ankle joint.
    """
    idx = _present(joint_names, ANKLES)
    if not idx:
        raise KeyError("ankle")
    xy, _ = _masked(kp, idx, min_conf)
    return _rowwise(np.nanmax, xy[..., 1])


def top_y(kp: np.ndarray, joint_names: tuple[str, ...], min_conf: float = 0.0) -> tuple[np.ndarray, str]:
    """float64 (T,) per-frame top of the body (see module docstring) and the reference's name."""
    for name, group in HEIGHT_REFERENCES:
        idx = _present(joint_names, group)
        if idx:
            xy, _ = _masked(kp, idx, min_conf)
            return _rowwise(np.nanmin, xy[..., 1]), name
    xy, _ = _masked(kp, list(range(len(joint_names))), min_conf)
    return _rowwise(np.nanmin, xy[..., 1]), "all"


def centre_x(kp: np.ndarray, joint_names: tuple[str, ...], min_conf: float = 0.0) -> np.ndarray:
    """float64 (T,) per-frame mean x of the visible trunk joints (all joints if no trunk joint)."""
    idx = _present(joint_names, TRUNK) or list(range(len(joint_names)))
    xy, _ = _masked(kp, idx, min_conf)
    cx = _rowwise(np.nanmean, xy[..., 0])
    if len(idx) < len(joint_names):
        # Frames whose trunk is hidden fall back to every visible joint.
        miss = np.isnan(cx)
        if miss.any():
            allxy, _ = _masked(kp[miss], list(range(len(joint_names))), min_conf)
            cx[miss] = _rowwise(np.nanmean, allxy[..., 0])
    return cx


def upper_body(kp: np.ndarray, joint_names: tuple[str, ...], min_conf: float = 0.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame upper-body measures, NaN where not visible.

    Returns:
        shoulder_centre float64 (T, 2), shoulder_width float64 (T,), head_shoulder float64 (T,)
        (distance from the shoulder midpoint to the mean of the visible head joints).
    Raises:
        KeyError if the skeleton lacks one of the shoulders.
    """
    if not all(s in joint_names for s in SHOULDERS):
        raise KeyError("shoulder")
    sh, _ = _masked(kp, _present(joint_names, SHOULDERS), min_conf)  # T x 2 x 2
    centre = sh.mean(axis=1)  # NaN unless both shoulders are visible
    width = np.linalg.norm(sh[:, 0] - sh[:, 1], axis=-1)
    head_idx = _present(joint_names, HEAD)
    if head_idx:
        hd, _ = _masked(kp, head_idx, min_conf)
        head = np.stack([_rowwise(np.nanmean, hd[..., 0]), _rowwise(np.nanmean, hd[..., 1])], axis=-1)
        head_sh = np.linalg.norm(head - centre, axis=-1)
    else:
        head_sh = np.full(len(kp), np.nan)
    return centre, width, head_sh


def _median(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else None


def _near_median(values: np.ndarray, key: np.ndarray, at: float, band: float,
                 min_frames: int) -> float | None:
    """Median of `values` over frames whose `key` lies within `band` of `at`, and at least the
    `min_frames` frames nearest to `at` (frames where either is NaN are ignored)."""
    ok = np.isfinite(values) & np.isfinite(key)
    if not ok.any():
        return None
    v, d = values[ok], np.abs(key[ok] - at)
    sel = d <= band
    if sel.sum() < min(min_frames, v.size):
        sel = np.zeros_like(sel)
        sel[np.argsort(d, kind="stable")[:min_frames]] = True
    return float(np.median(v[sel]))


@dataclass
class SubjectPoseStats:
    """Robust pose statistics of one subject in its own frame's pixels (see module docstring).

    Optional values are None when the joints they need are missing from the skeleton or never
    visible. Lengths and positions are in pixels of a `size` = (width, height) frame.
    """

    size: tuple[int, int]
    skeleton: str
    joint_names: tuple[str, ...]
    num_frames: int                        # frames in the sequence
    frames_detected: int                   # frames with at least one joint
    frames_with_ankles: int                # frames used for the ankle statistics
    ankle_visible_fraction: float          # frames_with_ankles / frames_detected
    upper_visible_fraction: float          # frames with both shoulders / frames_detected
    ankle_far: float | None = None         # y, 5th percentile of per-frame ankle y
    ankle_close: float | None = None       # y, 95th percentile
    height_far: float | None = None        # body height near the far position
    height_close: float | None = None      # body height near the close position
    height_reference: str = ""             # "head", "neck" or "all" (see top_y)
    x_centre: float | None = None
    shoulder_width: float | None = None
    head_shoulder: float | None = None
    shoulder_centre: tuple[float, float] | None = None
    bone_lengths: dict[str, float] = field(default_factory=dict)
    min_confidence: float = 0.0

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_sequence(
        cls,
        seq: PoseSequence,
        *,
        min_confidence: float = 0.0,
        band: float = 0.05,
        min_frames: int = 5,
        far_percentile: float = FAR_PERCENTILE,
        close_percentile: float = CLOSE_PERCENTILE,
    ) -> SubjectPoseStats:
        """Statistics of `seq`.

        Args:
            min_confidence: joints with confidence <= this count as missing, and so do joints
                outside the frame (`drop_outside`).
            band: half-width of the height window around far/close, as a fraction of the
                close - far span.
            min_frames: the height window holds at least this many frames (the nearest).
        """
        return cls.from_keypoints(seq.keypoints, seq.joint_names, seq.size, seq.skeleton,
                                  min_confidence=min_confidence, band=band, min_frames=min_frames,
                                  far_percentile=far_percentile, close_percentile=close_percentile)

    @classmethod
    def from_keypoints(
        cls,
        keypoints: np.ndarray,
        joint_names: tuple[str, ...],
        size: tuple[int, int],
        skeleton: str = "",
        *,
        min_confidence: float = 0.0,
        band: float = 0.05,
        min_frames: int = 5,
        far_percentile: float = FAR_PERCENTILE,
        close_percentile: float = CLOSE_PERCENTILE,
        inside_only: bool = True,
    ) -> SubjectPoseStats:
        """Statistics of raw keypoints float (T, K, 3) with the K `joint_names` (see
        `from_sequence`); `inside_only`: joints outside the `size` frame count as missing
        (`drop_outside`)."""
        kp = np.asarray(keypoints, dtype=np.float32)
        if kp.ndim == 2:
            kp = kp[None]
        if inside_only:
            kp = drop_outside(kp, size)
        names = tuple(joint_names)
        t_frames = int(kp.shape[0])
        detected = int((kp[..., 2] > min_confidence).any(axis=1).sum()) if t_frames else 0
        denom = max(detected, 1)
        st = cls(size=(int(size[0]), int(size[1])), skeleton=skeleton, joint_names=names,
                 num_frames=t_frames, frames_detected=detected, frames_with_ankles=0,
                 ankle_visible_fraction=0.0, upper_visible_fraction=0.0,
                 min_confidence=float(min_confidence))
        if t_frames == 0:
            return st

        # Ankles, heights (EDN global normalization).
        if any(a in names for a in ANKLES):
            ay = ankle_y(kp, names, min_confidence)
            good = np.isfinite(ay)
            st.frames_with_ankles = int(good.sum())
            st.ankle_visible_fraction = st.frames_with_ankles / denom
            if good.any():
                far = float(np.percentile(ay[good], far_percentile))
                close = float(np.percentile(ay[good], close_percentile))
                top, ref = top_y(kp, names, min_confidence)
                height = ay - top
                height[~(height > 0)] = np.nan  # top below the ankle: a broken detection
                w = band * (close - far)
                st.ankle_far, st.ankle_close, st.height_reference = far, close, ref
                st.height_far = _near_median(height, ay, far, w, min_frames)
                st.height_close = _near_median(height, ay, close, w, min_frames)

        st.x_centre = _median(centre_x(kp, names, min_confidence))

        if all(s in names for s in SHOULDERS):
            centre, width, head_sh = upper_body(kp, names, min_confidence)
            ok = np.isfinite(centre).all(axis=1)
            st.upper_visible_fraction = float(ok.sum()) / denom
            if ok.any():
                st.shoulder_centre = (float(np.median(centre[ok, 0])), float(np.median(centre[ok, 1])))
                st.shoulder_width = _median(width)
                st.head_shoulder = _median(head_sh)

        for a, b in skeleton_bones(names, skeleton):
            ia, ib = names.index(a), names.index(b)
            vis = (kp[:, ia, 2] > min_confidence) & (kp[:, ib, 2] > min_confidence)
            if vis.any():
                d = np.linalg.norm(kp[vis, ia, :2].astype(np.float64) - kp[vis, ib, :2], axis=-1)
                st.bone_lengths[bone_key(a, b)] = float(np.median(d))
        return st

    # ---- queries -------------------------------------------------------------------------
    @property
    def has_ankles(self) -> bool:
        """True when the EDN statistics (ankle far/close and the heights near them) exist."""
        return None not in (self.ankle_far, self.ankle_close, self.height_far, self.height_close)

    @property
    def has_upper(self) -> bool:
        """True when the upper-body statistics exist (shoulders seen at least once)."""
        return self.shoulder_centre is not None and self.shoulder_width is not None

    # ---- files ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = list(self.size)
        d["joint_names"] = list(self.joint_names)
        d["shoulder_centre"] = None if self.shoulder_centre is None else list(self.shoulder_centre)
        return {"schema": STATS_SCHEMA, "version": STATS_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubjectPoseStats:
        """Inverse of `to_dict`; ValueError on a dict of another kind or version."""
        if d.get("schema") != STATS_SCHEMA:
            raise ValueError("not an rtmotion pose statistics file")
        if int(d.get("version", -1)) != STATS_VERSION:
            raise ValueError(f"pose statistics version {d.get('version')}, this rtmotion reads "
                             f"version {STATS_VERSION}")
        known = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in known}
        try:
            kw["size"] = (int(kw["size"][0]), int(kw["size"][1]))
            kw["joint_names"] = tuple(str(n) for n in kw["joint_names"])
            sc = kw.get("shoulder_centre")
            kw["shoulder_centre"] = None if sc is None else (float(sc[0]), float(sc[1]))
            kw["bone_lengths"] = {str(k): float(v) for k, v in (kw.get("bone_lengths") or {}).items()}
            st = cls(**kw)
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError(f"damaged pose statistics ({e})") from None
        for name in ("ankle_far", "ankle_close", "height_far", "height_close", "x_centre",
                     "shoulder_width", "head_shoulder"):
            v = getattr(st, name)
            if v is not None and not math.isfinite(float(v)):
                raise ValueError(f"damaged pose statistics ({name} is not finite)")
        return st

    def save(self, path: str | Path) -> Path:
        """Write as JSON, atomically. Returns the path."""
        path = Path(path)
        with atomic_path(path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SubjectPoseStats:
        """Read a statistics JSON file; InputError naming the file if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "pose statistics file not found" if not path.exists()
                             else "is not a file, expected a pose statistics .json")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(path, f"not a readable JSON file ({e})",
                             "make one with `rtmotion normalize --target poses.npz --save-stats`") from None
        if not isinstance(d, dict):
            raise InputError(path, "not an rtmotion pose statistics file")
        try:
            return cls.from_dict(d)
        except ValueError as e:
            raise InputError(path, str(e),
                             "make one with `rtmotion normalize --target poses.npz --save-stats`") from None
