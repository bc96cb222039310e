"""Map source poses into the target's frame: EDN global normalization, bone retargeting, upper body.

The source dancer differs from the target in height, build, distance to the camera and place in
the frame, while the generator only knows the target's frames. Every source pose is therefore
mapped by a per-frame similarity without rotation, `x' = s x + tx`, `y' = s y + ty`, into the
pixels of the target's frame (the fixed training crop):

- ``edn`` (Everybody Dance Now's global pose normalization, Chan et al. 2019, section 3.2): from
  each person's statistics (`rtmotion.pose.stats`) take the far and close ankle positions
  (robust percentiles of the per-frame ankle y) and the body heights near each. Per frame, with
  the source's ankle y `a`::

      t  = clip((a - far_s) / (close_s - far_s), 0, 1)          # 0.5 if the source never moves
      s  = lerp(h_far_t, h_close_t, t) / lerp(h_far_s, h_close_s, t)
      y' = s (y - lerp(far_s, close_s, t)) + lerp(far_t, close_t, t)
      x' = s (x - xc_s) + xc_t                                  # xc: median trunk x

  so the ankle lands where the target's ankle would be at the same relative depth, at the height
  the target would have there. Horizontally the source keeps its (scaled) offset from its own
  centre, around the target's centre. Where this differs from EDN, and why:
  * the scale interpolates the *heights* and divides, where EDN interpolates the ratio: under
    a pinhole camera over a flat floor a person's image height is linear in the ankle's y, so
    this is exact at every depth, not only at far and close (EDN's ratio interpolation was 2 %
    off mid-way in a test walk);
  * within far..close the translation is EDN's; beyond it (a jump above `far`) the ankle keeps
    its scaled offset, so a jump stays a jump instead of being flattened onto the floor;
  * *depth range matching* (on by default): when the source moves less in depth than the
    target did (relative to body height), the target's far..close range is narrowed to the
    source's relative range around its middle, so a dancer who stays in place is not stretched
    over every depth the target ever stood at (EDN turns ankle jitter into size jitter there).
    A scaled, shifted copy of the target still maps exactly onto the target.
  Frames without a visible ankle hold the last good transform (the first frames take the next
  good one).
- ``retarget``: the source's joint angles on the target's bone lengths
  (`rtmotion.pose.retarget`), then placed by ``edn`` with statistics of the retargeted poses,
  except their heights: the source's own times the median per-frame height change the new
  proportions make (`_retargeted_heights`).
- Either way, heights near far/close that shrink towards the camera are pose noise and become
  one height for every depth (`plausible_heights`).
- ``upper`` (webcam framing: ankles and hips out of view): one transform for the sequence,
  `s` = geometric mean of the target/source ratios of shoulder width and head-shoulder distance
  (whichever both have), translating the source's median shoulder centre onto the target's.
  A person's sway around their median is kept, scaled.
- ``auto``: ``retarget`` when ankles are visible in at least 60 % of the source's detected frames
  and the target has ankle statistics, else ``upper``. Retargeting is EDN's placement plus the
  target's proportions: on the synthetic transfer test (bruno's motion driving demo-ada through
  convert's own pose path) the driving pose's mean error fell from 0.74 px (EDN) to 0.65 px at
  128 px and the generated body's SSIM rose from 0.845 to 0.90; on real dance clips driving a
  real subject the driven figure's bone lengths were nearer the target's (3.7 vs 5.1 %, 1.3 vs
  1.7 %) at the same jitter (docs/BENCHMARKS.md "Bone retargeting by default").

Joints are found by name, never by index: any skeleton with the needed joints works (ankles for
edn/retarget, both shoulders for upper; head joints and bones are used when present). Missing
joints stay missing (0, 0, 0); nothing is NaN. `OnlineNormalizer` does the same live, estimating
the source's statistics from a warm-up window.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from rtmotion.errors import InputError
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.retarget import bone_ratios, kinematic_order, retarget_keypoints
from rtmotion.pose.stats import (
    ANKLES,
    SHOULDERS,
    SubjectPoseStats,
    ankle_y,
    drop_outside,
    skeleton_bones,
    top_y,
)

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("auto", "edn", "retarget", "upper")
AUTO_ANKLE_FRACTION = 0.6  # auto picks retarget when ankles are seen in at least this many frames


# ---- mode choice and checks ------------------------------------------------------------------

def choose_mode(source: SubjectPoseStats, target: SubjectPoseStats,
                ankle_fraction: float = AUTO_ANKLE_FRACTION) -> str:
    """The mode `auto` resolves to: "retarget" or "upper" (see module docstring).

    Raises:
        InputError when neither mode can work (no ankles and no shoulders in common).
    """
    if source.has_ankles and target.has_ankles and source.ankle_visible_fraction >= ankle_fraction:
        return "retarget"
    if source.has_upper and target.has_upper:
        return "upper"
    if source.has_ankles and target.has_ankles:
        return "retarget"  # ankles seldom seen, but nothing else to go by
    raise InputError(None, "cannot normalize: neither the ankles (edn) nor both shoulders (upper) "
                     "are visible in both the source and the target",
                     "check that the pose files show a person")


def _require(mode: str, source: SubjectPoseStats, target: SubjectPoseStats) -> None:
    """InputError naming what is missing for `mode`, a resolved mode: "edn", "retarget" or
    "upper" (`make_plan`, the one caller, refuses an unknown mode and resolves "auto" first)."""
    if mode in ("edn", "retarget"):
        need, names = "ankle", ANKLES
        if not any(a in source.joint_names for a in ANKLES):
            raise InputError(None, f"the source skeleton '{source.skeleton}' has no ankle joint "
                             f"({'/'.join(names)}); mode {mode} needs one", "use --mode upper")
        if not source.has_ankles:
            raise InputError(None, f"no {need} is visible in any source frame; mode {mode} needs "
                             "them", "use --mode upper (or auto) for upper-body footage")
        if not target.has_ankles:
            raise InputError(None, f"the target statistics have no {need} positions; mode {mode} "
                             "needs a target filmed with its feet in view", "use --mode upper")
    else:  # "upper"
        if not all(s in source.joint_names for s in SHOULDERS):
            raise InputError(None, f"the source skeleton '{source.skeleton}' lacks a shoulder "
                             "joint (l_shoulder, r_shoulder); mode upper needs both",
                             "use --mode edn")
        if not source.has_upper:
            raise InputError(None, "both shoulders are never visible together in the source; "
                             "mode upper needs them", "use --mode edn")
        if not target.has_upper:
            raise InputError(None, "the target statistics have no shoulder positions; mode upper "
                             "needs them", "use --mode edn")


# ---- transforms --------------------------------------------------------------------------------

def _lerp(a: float, b: float, t: np.ndarray | float) -> np.ndarray | float:
    return a + (b - a) * t


def plausible_heights(height_far: float, height_close: float) -> tuple[float, float]:
    """The body heights near the far and the close ankle position, or one height for both when
    the person looks *smaller* close to the camera.

    Over a flat floor a person's image height grows with the ankle's y (closer: lower and
    bigger), so `height_close < height_far` is never the camera: it is the poses near one end
    (a clip that bends or kneels at its front position: the yoga clip of docs/BENCHMARKS.md
    "Bone retargeting by default" had 388 vs 399 px, and its bone-retargeted poses 326 vs 393
    px, a scale swinging by 25 % with ankle jitter). Then the pair's mean stands for every
    depth: the scale no longer follows the depth, which a clip that barely moves in depth does
    not need.
    """
    if height_close < height_far:
        mean = 0.5 * (height_far + height_close)
        return mean, mean
    return height_far, height_close


@dataclass(frozen=True)
class EdnParams:
    """The numbers the EDN transform needs, source and target side (pixels)."""

    far_s: float
    close_s: float
    hfar_s: float
    hclose_s: float
    xc_s: float
    far_t: float
    close_t: float
    hfar_t: float
    hclose_t: float
    xc_t: float

    @classmethod
    def from_stats(cls, source: SubjectPoseStats, target: SubjectPoseStats,
                   match_depth_range: bool = True) -> EdnParams:
        far_t, close_t = float(target.ankle_far), float(target.ankle_close)  # type: ignore[arg-type]
        hfar_t, hclose_t = float(target.height_far), float(target.height_close)  # type: ignore[arg-type]
        far_s, close_s = float(source.ankle_far), float(source.ankle_close)  # type: ignore[arg-type]
        hfar_s, hclose_s = float(source.height_far), float(source.height_close)  # type: ignore[arg-type]
        hfar_t, hclose_t = plausible_heights(hfar_t, hclose_t)
        hfar_s, hclose_s = plausible_heights(hfar_s, hclose_s)
        if match_depth_range:
            # Relative depth range: how far the ankle travels, in body heights.
            rel_s = (close_s - far_s) / max(0.5 * (hfar_s + hclose_s), 1e-6)
            rel_t = (close_t - far_t) / max(0.5 * (hfar_t + hclose_t), 1e-6)
            if rel_t > 0 and rel_s < rel_t:
                k = rel_s / rel_t
                lo, hi = 0.5 - 0.5 * k, 0.5 + 0.5 * k
                far_t, close_t = _lerp(far_t, close_t, lo), _lerp(far_t, close_t, hi)
                hfar_t, hclose_t = _lerp(hfar_t, hclose_t, lo), _lerp(hfar_t, hclose_t, hi)
        xc_s = source.x_centre if source.x_centre is not None else 0.5 * source.size[0]
        xc_t = target.x_centre if target.x_centre is not None else 0.5 * target.size[0]
        return cls(far_s, close_s, hfar_s, hclose_s, float(xc_s),
                   float(far_t), float(close_t), float(hfar_t), float(hclose_t), float(xc_t))

    def transforms(self, ankle: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-frame (s, tx, ty), float64 (T,) each, for per-frame ankle y float (T,); NaN where
        the ankle is NaN. A NaN-free `ankle` of 0.5-depth placeholders gives the default."""
        span = self.close_s - self.far_s
        if span > 1e-6:
            t = np.clip((ankle - self.far_s) / span, 0.0, 1.0)
        else:
            t = np.where(np.isnan(ankle), np.nan, 0.5)
        s = _lerp(self.hfar_t, self.hclose_t, t) / _lerp(self.hfar_s, self.hclose_s, t)
        a_src = _lerp(self.far_s, self.close_s, t)     # the source ankle, clipped to its range
        a_tgt = _lerp(self.far_t, self.close_t, t)
        ty = a_tgt - s * a_src
        tx = self.xc_t - s * self.xc_s
        return np.asarray(s), np.asarray(tx), np.asarray(ty)

    def default(self) -> tuple[float, float, float]:
        """The transform at mid depth (t = 0.5), for frames before any ankle was seen live."""
        t = 0.5
        s = _lerp(self.hfar_t, self.hclose_t, t) / _lerp(self.hfar_s, self.hclose_s, t)
        ty = _lerp(self.far_t, self.close_t, t) - s * _lerp(self.far_s, self.close_s, t)
        return float(s), float(self.xc_t - s * self.xc_s), float(ty)


def upper_transform(source: SubjectPoseStats, target: SubjectPoseStats) -> tuple[float, float, float]:
    """(s, tx, ty) of upper mode (see module docstring)."""
    ratios = []
    if source.shoulder_width and target.shoulder_width:
        ratios.append(target.shoulder_width / source.shoulder_width)
    if source.head_shoulder and target.head_shoulder:
        ratios.append(target.head_shoulder / source.head_shoulder)
    if not ratios:
        raise InputError(None, "shoulder width is zero in the source or target statistics")
    s = float(math.exp(np.mean(np.log(ratios))))
    (sx, sy), (gx, gy) = source.shoulder_centre, target.shoulder_centre  # type: ignore[misc]
    return s, gx - s * sx, gy - s * sy


def hold_fill(values: np.ndarray) -> np.ndarray:
    """Fill NaN entries of float (T,) with the last finite value before them; leading NaNs take
    the first finite value. All-NaN stays all-NaN."""
    v = np.asarray(values, dtype=np.float64)
    good = np.isfinite(v)
    if good.all() or not good.any():
        return v.copy()
    idx = np.where(good, np.arange(len(v)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = v[idx]
    first = int(np.argmax(good))
    out[:first] = v[first]
    return out


def apply_transform(keypoints: np.ndarray, s: np.ndarray | float, tx: np.ndarray | float,
                    ty: np.ndarray | float) -> np.ndarray:
    """x' = s x + tx, y' = s y + ty for float (T, K, 3) keypoints with per-frame (T,) or scalar
    transforms. Missing joints (confidence 0) stay (0, 0, 0). Returns float32 (T, K, 3)."""
    kp = np.asarray(keypoints, dtype=np.float32)
    s, tx, ty = (np.asarray(v, dtype=np.float64).reshape(-1, 1) for v in (s, tx, ty))
    out = np.empty_like(kp)
    out[..., 0] = kp[..., 0] * s + tx
    out[..., 1] = kp[..., 1] * s + ty
    out[..., 2] = kp[..., 2]
    out[~(kp[..., 2] > 0)] = 0.0
    return out


# ---- a plan: everything decided from the statistics, applied to any poses -------------------

@dataclass
class NormalizationPlan:
    """A resolved normalization: mode, statistics, and (retarget) bone ratios.

    Build one with `make_plan` from the source poses (the whole sequence offline, a warm-up
    window live); `apply` maps keypoints float (T, K, 3) of the same skeleton.
    """

    mode: str                                    # "edn", "retarget" or "upper"
    joint_names: tuple[str, ...]
    source: SubjectPoseStats                     # the source's own statistics
    target: SubjectPoseStats
    placed: SubjectPoseStats                     # statistics of the poses EDN places
    edn: EdnParams | None = None
    upper: tuple[float, float, float] | None = None
    bones: tuple[tuple[str, str], ...] = ()
    ratios: dict[str, float] = field(default_factory=dict)
    order: list[tuple[int, int, str]] = field(default_factory=list)   # kinematic order (retarget)
    min_confidence: float = 0.0

    def prepare(self, keypoints: np.ndarray) -> np.ndarray:
        """The poses EDN places: the source's, bone-retargeted in retarget mode."""
        if self.mode == "retarget":
            return retarget_keypoints(keypoints, self.joint_names, self.bones, self.ratios,
                                      self.min_confidence, self.order)
        return np.asarray(keypoints, dtype=np.float32)

    def transforms(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-frame (s, tx, ty) float64 (T,) for prepared keypoints; NaN where the frame has no
        visible ankle (edn/retarget)."""
        n = len(keypoints)
        if self.mode == "upper":
            assert self.upper is not None
            return tuple(np.full(n, v) for v in self.upper)  # type: ignore[return-value]
        assert self.edn is not None
        return self.edn.transforms(ankle_y(keypoints, self.joint_names, self.min_confidence))

    def apply(self, keypoints: np.ndarray) -> np.ndarray:
        """Normalize float (T, K, 3) keypoints as one sequence (offline hold rule: last good
        transform, leading frames the next good one, mid depth if no frame has an ankle).
        Returns float32 (T, K, 3) in the target's pixels."""
        kp = self.prepare(keypoints)
        s, tx, ty = (hold_fill(v) for v in self.transforms(kp))
        if len(s) and not np.isfinite(s).any():
            assert self.edn is not None
            d = self.edn.default()
            s, tx, ty = (np.full(len(kp), v) for v in d)
        return apply_transform(kp, s, tx, ty)


def _retargeted_heights(placed: SubjectPoseStats, source: SubjectPoseStats, raw: np.ndarray,
                        retargeted: np.ndarray, names: tuple[str, ...], min_confidence: float
                        ) -> SubjectPoseStats:
    """`placed` (statistics of the retargeted poses) with the heights near far and close taken
    from the source's own, times the median per-frame height ratio retargeted / raw.

    The retargeted poses' own heights near one end come from a few frames whose height the new
    proportions change by pose (a kneeling frame's shin lies along the floor): on a yoga clip
    they fell from 393 px (far) to 326 px (close) while the source's were 399 / 388, and the
    figure came out 30 % off the target's size (EDN: 13 %). The median ratio over every frame is
    the proportions' effect on height without that pose noise (15 % on that clip; the dance
    clips moved by 0.1-0.3 points, the synthetic transfer test not at all; docs/BENCHMARKS.md
    "Bone retargeting by default").
    """
    if source.height_far is None or source.height_close is None or placed.height_far is None:
        return placed

    def heights(kp: np.ndarray) -> np.ndarray:
        top, _ = top_y(kp, names, min_confidence)
        return ankle_y(kp, names, min_confidence) - top

    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = heights(retargeted) / heights(np.asarray(raw, dtype=np.float32))
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    if not len(ratio):
        return placed
    k = float(np.median(ratio))
    return dataclasses.replace(placed, height_far=source.height_far * k,
                               height_close=source.height_close * k)


def make_plan(
    keypoints: np.ndarray,
    joint_names: tuple[str, ...],
    target: SubjectPoseStats,
    mode: str = "auto",
    *,
    size: tuple[int, int] = (0, 0),
    skeleton: str = "",
    source_stats: SubjectPoseStats | None = None,
    min_confidence: float = 0.0,
    match_depth_range: bool = True,
) -> NormalizationPlan:
    """Decide everything from the source poses float (T, K, 3) (and/or given `source_stats`).

    Raises:
        InputError when the mode's joints are missing from the skeleton or never visible, or the
        target statistics lack them.
    """
    if mode not in MODES:
        raise ValueError(f"unknown normalization mode {mode!r} (known: {', '.join(MODES)})")
    names = tuple(joint_names)
    src = source_stats or SubjectPoseStats.from_keypoints(keypoints, names, size, skeleton,
                                                          min_confidence=min_confidence)
    resolved = choose_mode(src, target) if mode == "auto" else mode
    _require(resolved, src, target)
    plan = NormalizationPlan(resolved, names, src, target, src, min_confidence=min_confidence)
    if resolved == "upper":
        plan.upper = upper_transform(src, target)
        return plan
    if resolved == "retarget":
        plan.bones = skeleton_bones(names, skeleton or src.skeleton)
        plan.ratios = bone_ratios(src, target, plan.bones)
        plan.order = kinematic_order(names, plan.bones)
        # The retargeted body has new proportions (e.g. longer legs move the ankle): EDN places
        # it with statistics of the retargeted poses, not of the raw source.
        prepared = plan.prepare(keypoints)
        plan.placed = SubjectPoseStats.from_keypoints(prepared, names, size, skeleton,
                                                      min_confidence=min_confidence, inside_only=False)
        plan.placed = _retargeted_heights(plan.placed, src, keypoints, prepared, names,
                                          min_confidence)
        _require("edn", plan.placed, target)
    plan.edn = EdnParams.from_stats(plan.placed, target, match_depth_range)
    return plan


def normalize_keypoints(
    keypoints: np.ndarray,
    joint_names: tuple[str, ...],
    target: SubjectPoseStats,
    mode: str = "auto",
    **kw: object,
) -> tuple[np.ndarray, NormalizationPlan]:
    """`make_plan` + `apply` on raw keypoints float (T, K, 3); returns (float32 (T, K, 3), plan)."""
    plan = make_plan(keypoints, joint_names, target, mode, **kw)  # type: ignore[arg-type]
    return plan.apply(keypoints), plan


def normalize_sequence(
    source: PoseSequence,
    target_stats: SubjectPoseStats,
    mode: str = "auto",
    source_stats: SubjectPoseStats | None = None,
    *,
    min_confidence: float = 0.0,
    match_depth_range: bool = True,
) -> PoseSequence:
    """Map every pose of `source` into the target's frame (see module docstring).

    Args:
        source: the driving poses, in the source video's pixels.
        target_stats: the target's statistics (`SubjectPoseStats.from_sequence(target)` or
            `SubjectPoseStats.load(subject/pose_stats.json)`).
        mode: "auto", "edn", "retarget" or "upper".
        source_stats: the source's statistics if already known (e.g. from a longer recording);
            computed from `source` when None. In retarget mode they give the bone ratios; the
            placement statistics always come from the retargeted `source`.
        min_confidence: joints with confidence <= this count as missing for the statistics and
            the ankle test (they are still transformed). Joints outside the source frame
            (`source.size`) are always missing: estimators extrapolate the parts they cannot see.
        match_depth_range: narrow the target's depth range to the source's (module docstring).
    Returns:
        A PoseSequence of the same skeleton, frames, fps and timestamps, `size` = the target's
        frame size, keypoints in the target's pixels. Its `extractor` records the mode used.
    Raises:
        InputError when the mode's joints are missing from the skeleton or never visible.
    """
    # Joints outside the source frame are an estimator's guesses: missing (see drop_outside).
    out, plan = normalize_keypoints(
        drop_outside(source.keypoints, source.size), source.joint_names, target_stats, mode, size=source.size,
        skeleton=source.skeleton, source_stats=source_stats, min_confidence=min_confidence,
        match_depth_range=match_depth_range)
    log.debug("normalized %d frames with mode %s", len(source), plan.mode)
    extractor = f"{source.extractor}+normalize:{plan.mode}" if source.extractor else f"normalize:{plan.mode}"
    return source.with_keypoints(out, size=target_stats.size, extractor=extractor)


# ---- live ---------------------------------------------------------------------------------------

class OnlineNormalizer:
    """Normalize poses one at a time (live), estimating the source's statistics online.

    For the first `warmup_seconds` of frames that show a person, the statistics come from the
    poses seen so far, updated every `update_every` poses (a single pose is its own statistics,
    so the first frame is placed at the target's mid depth and centre); mode `auto` is resolved
    from those frames' visibility. After
    the warm-up the plan is frozen: the same pose always gives the same output. `refine()` (the
    key press) starts a new accumulation window; the current plan stays in use until the new
    window is full, then is replaced. A frame without a visible ankle (edn/retarget) holds the
    last good transform.

    Usage::

        norm = OnlineNormalizer(target_stats, BODY25.joints, fps=30)
        for pose in poses:                 # float (K, 3), source pixels
            out = norm(pose)               # float32 (K, 3), target pixels
    """

    def __init__(
        self,
        target_stats: SubjectPoseStats,
        joint_names: tuple[str, ...],
        *,
        mode: str = "auto",
        fps: float = 30.0,
        warmup_seconds: float = 2.0,
        size: tuple[int, int] = (0, 0),
        skeleton: str = "",
        min_confidence: float = 0.0,
        match_depth_range: bool = True,
        update_every: int = 4,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown normalization mode {mode!r} (known: {', '.join(MODES)})")
        self.target = target_stats
        self.joint_names = tuple(joint_names)
        self.requested_mode = mode
        self.warmup_frames = max(1, int(round(float(warmup_seconds) * float(fps))))
        self.size = size
        self.skeleton = skeleton
        self.min_confidence = min_confidence
        self.match_depth_range = match_depth_range
        self.plan: NormalizationPlan | None = None      # the frozen plan (None before warm-up)
        self._buffer: deque[np.ndarray] = deque(maxlen=self.warmup_frames)
        self._accumulating = True
        self._last: tuple[float, float, float] | None = None
        self._last_mode: str | None = None
        self._warm_plan: NormalizationPlan | None = None  # the first warm-up's provisional plan
        self.update_every = max(1, int(update_every))

    @property
    def warming_up(self) -> bool:
        """True until the first warm-up window is full (the output may still move then)."""
        return self.plan is None

    @property
    def refining(self) -> bool:
        """True while a window (first warm-up or after `refine()`) is accumulating."""
        return self._accumulating

    @property
    def mode(self) -> str | None:
        """The resolved mode in use ("edn", "retarget", "upper"), None before any pose."""
        return self.plan.mode if self.plan is not None else self._last_mode

    @property
    def source_stats(self) -> SubjectPoseStats | None:
        """The frozen source statistics (None during the first warm-up)."""
        return self.plan.source if self.plan is not None else None

    def refine(self) -> None:
        """Start a new accumulation window (keeps using the current plan until it is full)."""
        self._buffer.clear()
        self._accumulating = True
        if self.plan is None:
            self._warm_plan = None

    def _make(self) -> NormalizationPlan | None:
        kp = np.stack(self._buffer)
        try:
            return make_plan(kp, self.joint_names, self.target, self.requested_mode, size=self.size,
                             skeleton=self.skeleton, min_confidence=self.min_confidence,
                             match_depth_range=self.match_depth_range)
        except InputError as e:
            log.debug("no normalization plan yet: %s", e)
            return None

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """Normalize one pose float (K, 3) -> float32 (K, 3) in the target's pixels (all zeros
        while no plan can be made yet, e.g. no ankle seen in edn mode)."""
        kp = drop_outside(keypoints, self.size)   # a guessed joint outside the frame is missing
        detected = bool((kp[:, 2] > self.min_confidence).any())
        plan = self.plan
        if self._accumulating and detected:
            self._buffer.append(kp.copy())
            full = len(self._buffer) >= self.warmup_frames
            # During the first warm-up the plan follows the poses so far (remade every
            # `update_every` poses, and while none could be made); while refining, the old plan
            # is used and a new one is only made when the window is full.
            if full:
                current = self._make()
                if current is not None:
                    self.plan = current
                    self._accumulating = False
                    self._warm_plan = None
                    log.info("pose normalization: source statistics from %d frames, mode %s",
                             len(self._buffer), current.mode)
                elif self.plan is None:
                    self._warm_plan = None
            elif self.plan is None and (self._warm_plan is None
                                        or (len(self._buffer) - 1) % self.update_every == 0):
                self._warm_plan = self._make()
            plan = self.plan if self.plan is not None else self._warm_plan
        if plan is None or not detected:
            return np.zeros_like(kp)
        if plan.mode != self._last_mode:
            self._last = None  # another mode: a held transform means nothing now
        self._last_mode = plan.mode
        prepared = plan.prepare(kp[None])
        s, tx, ty = (float(v[0]) for v in plan.transforms(prepared))
        if math.isfinite(s):
            self._last = (s, tx, ty)
        elif self._last is None:
            # No ankle yet: the plan's mid-depth transform; later frames hold the last good one.
            assert plan.edn is not None
            self._last = plan.edn.default()
        return apply_transform(prepared, *self._last)[0]
