"""Procedural dance motions as character-independent joint angles.

A motion is a `MotionAngles`: one row of `DOFS` per frame. Angles are radians; the root
translation (`root_x`, `root_z`, `root_lift`) is in units of the character's leg length (hip
joint to sole), so a taller character takes proportionally longer steps and its feet do not
slide. The root's height is not part of the motion: the kinematics put the lowest sole on the
floor (`root_lift` raises the body above that, for jumps). Rendering the same `MotionAngles`
with two characters gives the same joint angles with each one's own bone lengths.

Angle conventions (character facing the camera, `root_yaw` = 0; s = +1 left, -1 right side):
- `root_yaw`: turn about the vertical axis; pi faces away from the camera.
- `pelvis_roll`: sideways tilt of the pelvis, positive lifts the right hip.
- `spine_twist` / `spine_bend` / `spine_lean`: chest yaw (positive turns toward the left),
  forward bend, sideways lean toward the left; spread over the spine.
- `head_yaw` / `head_pitch` / `head_roll`: relative to the chest; pitch positive looks down.
- `*_sh_abd`: arm raised sideways in the frontal plane (0 hanging, pi/2 horizontal, pi up);
  `*_sh_flex`: raised forward (negative: backward); `*_sh_twist`: rotation about the upper
  arm, positive = external (with the arm out sideways, a bent forearm points up).
- `*_elbow`: elbow flexion (0 straight).
- `*_hip_abd` / `*_hip_flex` / `*_hip_twist`: like the shoulder, for the thigh.
- `*_knee`: knee flexion (0 straight). `*_foot_pitch`: the foot's pitch relative to the floor
  (0 flat, positive toes up), so feet stay planted whatever the knee does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

DOFS: tuple[str, ...] = (
    "root_x", "root_z", "root_lift", "root_yaw", "pelvis_roll",
    "spine_twist", "spine_bend", "spine_lean",
    "head_yaw", "head_pitch", "head_roll",
    "r_sh_abd", "r_sh_flex", "r_sh_twist", "r_elbow",
    "l_sh_abd", "l_sh_flex", "l_sh_twist", "l_elbow",
    "r_hip_abd", "r_hip_flex", "r_hip_twist", "r_knee", "r_foot_pitch",
    "l_hip_abd", "l_hip_flex", "l_hip_twist", "l_knee", "l_foot_pitch",
)
DOF_INDEX: dict[str, int] = {n: i for i, n in enumerate(DOFS)}

MOTIONS: tuple[str, ...] = ("dance", "steps", "wave", "twist", "squat", "jump", "walk", "idle")

_D = math.pi / 180.0  # degrees -> radians

# A relaxed standing pose (degrees): arms slightly away from the body, soft knees.
_NEUTRAL_DEG: dict[str, float] = {
    "r_sh_abd": 9, "l_sh_abd": 9, "r_sh_flex": 3, "l_sh_flex": 3, "r_elbow": 14, "l_elbow": 14,
    "r_sh_twist": 0, "l_sh_twist": 0,
    "r_hip_abd": 3, "l_hip_abd": 3, "r_knee": 4, "l_knee": 4, "r_hip_flex": 2, "l_hip_flex": 2,
}


@dataclass(frozen=True)
class MotionAngles:
    """Per-frame joint angles of a motion, independent of any character.

    Attributes:
        values: float64 (T, len(DOFS)); radians, root translation in leg lengths (see module).
        fps: exact frame rate; frame i is at time i / fps seconds.
        tempo_bpm: the beat the motion moves to (used for the audio click track).
        name, seed: what made it (info).
    """

    values: np.ndarray
    fps: Fraction
    tempo_bpm: float
    name: str = ""
    seed: int = 0

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != len(DOFS):
            raise ValueError(f"values must be (T, {len(DOFS)}), got {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError("motion angles must be finite")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "fps", Fraction(self.fps))

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def dofs(self) -> tuple[str, ...]:
        return DOFS

    @property
    def timestamps(self) -> np.ndarray:
        """float64 (T,) seconds."""
        return np.arange(len(self), dtype=np.float64) / float(self.fps)

    def dof(self, name: str) -> np.ndarray:
        """float64 (T,) track of one degree of freedom."""
        return self.values[:, DOF_INDEX[name]]

    def beat_times(self) -> np.ndarray:
        """float64 (B,) seconds of each beat within the motion's duration."""
        period = 60.0 / self.tempo_bpm
        duration = len(self) / float(self.fps)
        return np.arange(0.0, duration, period)


# ---- building blocks -----------------------------------------------------------------------

Track = dict[str, np.ndarray]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _base(t: np.ndarray) -> Track:
    """The neutral pose over the time grid `t` (radians)."""
    tr = {n: np.zeros_like(t) for n in DOFS}
    for n, deg in _NEUTRAL_DEG.items():
        tr[n] = tr[n] + deg * _D
    return tr


def _add(tr: Track, name: str, deg: np.ndarray | float) -> None:
    tr[name] = tr[name] + np.asarray(deg) * _D


@dataclass(frozen=True)
class _Style:
    """Seeded variation shared by one motion: tempo, amplitude and phase offsets."""

    period: float          # seconds per beat
    amp: float             # amplitude multiplier ~1
    phase: np.ndarray      # a few random phases (radians)
    rng_sign: float        # +1 / -1: which side starts


def _style(rng: np.random.Generator, tempo: float) -> _Style:
    return _Style(period=60.0 / tempo, amp=float(rng.uniform(0.85, 1.15)),
                  phase=rng.uniform(0, 2 * np.pi, size=8),
                  rng_sign=float(rng.choice([-1.0, 1.0])))


def _bounce(t: np.ndarray, st: _Style, deg: float) -> np.ndarray:
    """Knee dip on every beat (0..deg degrees)."""
    return deg * st.amp * 0.5 * (1.0 - np.cos(2 * np.pi * t / st.period))


# ---- motions: each maps a time grid (s) to a Track -------------------------------------------

def _idle(t: np.ndarray, st: _Style) -> Track:
    tr = _base(t)
    p = st.phase
    sway = np.sin(2 * np.pi * t / 4.1 + p[0])
    tr["root_x"] += 0.03 * st.amp * sway
    _add(tr, "pelvis_roll", 2.5 * sway)
    _add(tr, "spine_lean", -2.0 * sway + 1.0 * np.sin(2 * np.pi * t / 2.7 + p[1]))
    _add(tr, "spine_twist", 4.0 * np.sin(2 * np.pi * t / 5.3 + p[2]))
    _add(tr, "head_yaw", 10.0 * st.amp * np.sin(2 * np.pi * t / 3.7 + p[3]))
    _add(tr, "head_pitch", 3.0 * np.sin(2 * np.pi * t / 2.9 + p[4]))
    _add(tr, "head_roll", 3.0 * np.sin(2 * np.pi * t / 4.6 + p[5]))
    breath = np.sin(2 * np.pi * t / 3.4 + p[6])
    for s in ("r", "l"):
        _add(tr, f"{s}_sh_abd", 2.0 * breath)
        _add(tr, f"{s}_elbow", 4.0 * np.sin(2 * np.pi * t / 3.1 + p[7] + (s == "l")))
    # Weight on one leg then the other: the unloaded knee softens.
    _add(tr, "r_knee", 6.0 * np.clip(sway, 0, None))
    _add(tr, "l_knee", 6.0 * np.clip(-sway, 0, None))
    return tr


def _steps(t: np.ndarray, st: _Style) -> Track:
    """Side step-touch: two beats to the left, two to the right, arms pumping."""
    tr = _base(t)
    w = 2 * np.pi / (4 * st.period)
    k = 2.5
    x = np.tanh(k * np.sin(w * t)) / np.tanh(k) * st.rng_sign
    v = st.rng_sign * k * np.cos(w * t) / np.cosh(k * np.sin(w * t)) ** 2 / np.tanh(k) / k
    tr["root_x"] += 0.2 * st.amp * x
    lead_l, lead_r = np.clip(v, 0, None), np.clip(-v, 0, None)
    _add(tr, "l_hip_abd", 14.0 * lead_l + 4.0 * lead_r)
    _add(tr, "r_hip_abd", 14.0 * lead_r + 4.0 * lead_l)
    _add(tr, "l_knee", 32.0 * lead_l)
    _add(tr, "r_knee", 32.0 * lead_r)
    _add(tr, "l_hip_flex", 14.0 * lead_l)
    _add(tr, "r_hip_flex", 14.0 * lead_r)
    _add(tr, "pelvis_roll", 5.0 * (lead_r - lead_l))
    for s in ("r", "l"):
        _add(tr, f"{s}_knee", _bounce(t, st, 12.0))
        _add(tr, f"{s}_hip_flex", _bounce(t, st, 6.0))
    _add(tr, "spine_lean", 7.0 * st.amp * (lead_l - lead_r))
    _add(tr, "spine_bend", 4.0 + _bounce(t, st, 3.0))
    # Arms: bent elbows pumping forward/back in opposition, on the beat.
    pump = np.sin(2 * np.pi * t / (2 * st.period))
    for s, sign in (("r", 1.0), ("l", -1.0)):
        _add(tr, f"{s}_sh_flex", 20.0 + 28.0 * st.amp * sign * pump)
        _add(tr, f"{s}_sh_abd", 12.0)
        _add(tr, f"{s}_elbow", 70.0 + 15.0 * sign * pump)
    _add(tr, "head_pitch", -_bounce(t, st, 4.0))
    _add(tr, "head_yaw", 10.0 * x)
    return tr


def _wave(t: np.ndarray, st: _Style) -> Track:
    """Both arms up, waving in alternation; hips sway."""
    tr = _base(t)
    w = 2 * np.pi / (2 * st.period)
    p = st.phase
    for s, off in (("r", 0.0), ("l", np.pi)):
        _add(tr, f"{s}_sh_abd", 125.0 + 25.0 * st.amp * np.sin(w * t + off) - _NEUTRAL_DEG[f"{s}_sh_abd"])
        _add(tr, f"{s}_sh_flex", 10.0)
        _add(tr, f"{s}_sh_twist", 70.0)
        _add(tr, f"{s}_elbow", 35.0 + 30.0 * np.sin(2 * w * t + off + p[0]) - 14.0)
    sway = np.sin(w * t)
    tr["root_x"] += 0.06 * st.amp * sway
    _add(tr, "pelvis_roll", 6.0 * sway)
    _add(tr, "spine_lean", -9.0 * st.amp * sway)
    _add(tr, "head_roll", 6.0 * sway)
    _add(tr, "head_pitch", -6.0)
    _add(tr, "r_knee", 10.0 * np.clip(sway, 0, None) + _bounce(t, st, 6.0))
    _add(tr, "l_knee", 10.0 * np.clip(-sway, 0, None) + _bounce(t, st, 6.0))
    return tr


def _twist(t: np.ndarray, st: _Style) -> Track:
    """Torso twists against the hips, arms out with bent elbows."""
    tr = _base(t)
    w = 2 * np.pi / (2 * st.period)
    tw = np.sin(w * t) * st.rng_sign
    _add(tr, "spine_twist", 38.0 * st.amp * tw)
    yaw = -12.0 * tw
    _add(tr, "root_yaw", yaw)
    # Counter-rotate the thighs so the feet stay put while the pelvis turns.
    _add(tr, "r_hip_twist", yaw)
    _add(tr, "l_hip_twist", -yaw)
    _add(tr, "head_yaw", -22.0 * tw)
    for s in ("r", "l"):
        _add(tr, f"{s}_sh_abd", 55.0)
        _add(tr, f"{s}_sh_flex", 25.0)
        _add(tr, f"{s}_elbow", 80.0)
        _add(tr, f"{s}_knee", 12.0 + _bounce(t, st, 14.0))
        _add(tr, f"{s}_hip_flex", 6.0 + _bounce(t, st, 7.0))
        _add(tr, f"{s}_hip_abd", 5.0)
    _add(tr, "spine_bend", 5.0)
    return tr


def _squat(t: np.ndarray, st: _Style) -> Track:
    """Deep squats over four beats, arms forward for balance."""
    tr = _base(t)
    d = (0.5 - 0.5 * np.cos(2 * np.pi * t / (4 * st.period))) ** 1.2 * min(st.amp, 1.0)
    for s in ("r", "l"):
        _add(tr, f"{s}_knee", 100.0 * d)
        _add(tr, f"{s}_hip_flex", 58.0 * d)
        _add(tr, f"{s}_hip_abd", 9.0 * d)
        _add(tr, f"{s}_hip_twist", 10.0 * d)
        _add(tr, f"{s}_sh_flex", 78.0 * d)
        _add(tr, f"{s}_sh_abd", 6.0 * d)
        _add(tr, f"{s}_elbow", -8.0 * d)
    _add(tr, "spine_bend", 28.0 * d)
    _add(tr, "head_pitch", -20.0 * d)
    return tr


def _bump(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """Smooth bump (raised cosine), 1 at `center`, 0 beyond +-width."""
    u = np.clip((x - center) / width, -1.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * u))


def _jump(t: np.ndarray, st: _Style) -> Track:
    """A jump every four beats: crouch, take off with arms swinging up, land, absorb."""
    tr = _base(t)
    cyc = 4 * st.period
    tau = np.mod(t, cyc)
    t0 = 0.45 * cyc           # take-off
    fl = 0.40                 # flight time (s): ~0.2 m high
    lift_m = 9.81 * fl * fl / 8.0
    u = (tau - t0) / fl
    air = (u > 0) & (u < 1)
    lift = np.where(air, 4.0 * u * (1.0 - u), 0.0) * lift_m / 0.9  # leg lengths (~0.9 m)
    crouch = _bump(tau, t0 - 0.18, 0.3) + 0.8 * _bump(tau, t0 + fl + 0.12, 0.25)
    arms_up = _bump(tau, t0 + 0.5 * fl, 0.9)
    air_s = np.where(air, np.sin(np.pi * np.clip(u, 0, 1)), 0.0)  # continuous, unlike `air`
    arms_back = _bump(tau, t0 - 0.2, 0.25)
    tr["root_lift"] += lift
    for s in ("r", "l"):
        _add(tr, f"{s}_knee", 65.0 * crouch + 8.0 * air_s)
        _add(tr, f"{s}_hip_flex", 40.0 * crouch + 6.0 * air_s)
        _add(tr, f"{s}_foot_pitch", -22.0 * air_s)
        _add(tr, f"{s}_sh_flex", 140.0 * arms_up - 35.0 * arms_back)
        # Past 90 degrees of flexion abduction swings the arm inward: negative spreads it.
        _add(tr, f"{s}_sh_abd", -32.0 * arms_up)
        _add(tr, f"{s}_elbow", 10.0 * arms_up)
    _add(tr, "spine_bend", 25.0 * crouch - 4.0 * arms_up)
    _add(tr, "head_pitch", -10.0 * crouch)
    return tr


def _gait(tr: Track, phase: np.ndarray, amp: np.ndarray) -> None:
    """Add a walking gait at `phase` (radians, one cycle = two steps) with amplitude 0..1."""
    for s, off in (("r", 0.0), ("l", np.pi)):
        ph = phase + off
        _add(tr, f"{s}_hip_flex", amp * (4.0 + 24.0 * np.sin(ph)))
        # The knee flexes in swing (hip moving forward: cos > 0), nearly straight in stance.
        _add(tr, f"{s}_knee", amp * (4.0 + 52.0 * np.clip(np.cos(ph - 0.35), 0, None) ** 1.5))
        _add(tr, f"{s}_foot_pitch", amp * (10.0 * np.sin(ph + 0.6)))
        # Arms swing against the opposite leg.
        _add(tr, f"{s}_sh_flex", -amp * 18.0 * np.sin(ph))
        _add(tr, f"{s}_elbow", amp * (8.0 - 10.0 * np.sin(ph)))
    _add(tr, "pelvis_roll", amp * 3.0 * np.sin(phase))
    _add(tr, "spine_twist", amp * 7.0 * np.sin(phase))


def _walk_track(t: np.ndarray, st: _Style, back_and_forth: bool) -> Track:
    """Walk toward the camera, turn, walk away, turn (or, if `back_and_forth`, walk forward
    and back facing the camera). Root position is integrated on a fine grid."""
    step_rate = 1.0 / st.period                       # one step per beat
    step_len = 0.62                                   # leg lengths per step
    speed = step_len * step_rate                      # leg lengths / s
    dist = 1.4 if not back_and_forth else 0.8         # leg lengths walked each way
    walk_s = dist / speed
    turn_s = 4 * st.period
    if back_and_forth:
        plan = [("fwd", walk_s), ("pause", 2 * st.period), ("bwd", walk_s), ("pause", 2 * st.period)]
    else:
        plan = [("fwd", walk_s), ("turn", turn_s), ("fwd", walk_s), ("turn", turn_s)]
    cyc = sum(d for _, d in plan)
    fine = np.arange(0.0, float(t.max(initial=0.0)) + 0.1, 1 / 240.0)
    tau = np.mod(fine, cyc)
    n_cyc = np.floor(fine / cyc)
    spd = np.zeros_like(fine)
    yaw = n_cyc * (0.0 if back_and_forth else 2 * np.pi)
    gait_amp = np.zeros_like(fine)
    start = 0.0
    ramp = min(0.35, walk_s / 3)
    for kind, dur in plan:
        inside = (tau >= start) & (tau < start + dur)
        local = tau - start
        env = _smoothstep(local / ramp) * _smoothstep((dur - local) / ramp)
        if kind in ("fwd", "bwd"):
            spd = np.where(inside, env * (1.0 if kind == "fwd" else -1.0), spd)
            gait_amp = np.where(inside, env, gait_amp)
        elif kind == "turn":
            gait_amp = np.where(inside, 0.45 * np.sin(np.pi * np.clip(local / dur, 0, 1)), gait_amp)
        if kind == "turn":
            yaw = yaw + np.where(tau >= start + dur, np.pi, np.where(
                inside, np.pi * _smoothstep(local / dur), 0.0))
        start += dur
    # Heading: yaw 0 faces the camera (+z); moving "forward" follows the heading.
    vz = speed * spd * np.cos(yaw)
    vx = speed * spd * np.sin(yaw)
    dt = 1 / 240.0
    z = np.concatenate([[0.0], np.cumsum(vz[:-1]) * dt]) - dist / 2 * (0.0 if back_and_forth else 1.0)
    x = np.concatenate([[0.0], np.cumsum(vx[:-1]) * dt])
    # Gait phase advances with travelled distance while walking, with time while turning.
    rate = np.where(np.abs(spd) > 1e-6, spd * np.pi * step_rate, gait_amp * np.pi * step_rate)
    phase = np.concatenate([[0.0], np.cumsum(rate[:-1]) * dt]) + st.phase[0]

    def at(a: np.ndarray) -> np.ndarray:
        return np.interp(t, fine, a)

    tr = _base(t)
    tr["root_x"] += at(x)
    tr["root_z"] += at(z)
    tr["root_yaw"] += at(yaw)
    amp = at(np.maximum(gait_amp, np.abs(spd))) * st.amp
    _gait(tr, at(phase), amp)
    _add(tr, "spine_bend", 3.0 * amp)
    _add(tr, "head_yaw", 6.0 * np.sin(2 * np.pi * t / 3.3 + st.phase[1]))
    return tr


def _walk(t: np.ndarray, st: _Style) -> Track:
    return _walk_track(t, st, back_and_forth=False)


def _walk_fb(t: np.ndarray, st: _Style) -> Track:
    return _walk_track(t, st, back_and_forth=True)


_GENERATORS: dict[str, Callable[[np.ndarray, _Style], Track]] = {
    "idle": _idle, "steps": _steps, "wave": _wave, "twist": _twist, "squat": _squat,
    "jump": _jump, "walk": _walk, "walk_fb": _walk_fb,
}


def _dance(t: np.ndarray, rng: np.random.Generator, tempo: float) -> Track:
    """A seeded sequence of the other motions, 8 beats each, cross-faded over one beat."""
    period = 60.0 / tempo
    seg = 8 * period
    fade = 1.0 * period
    parts = ["steps", "wave", "twist", "squat", "jump", "walk_fb"]
    order = list(rng.permutation(parts))
    n_seg = int(np.ceil((float(t.max(initial=0.0)) + fade) / seg)) + 1
    names = ["idle"] + [order[i % len(order)] for i in range(n_seg)]
    first = 2 * period  # a short idle intro
    starts = [0.0] + [first + i * seg for i in range(n_seg)]
    ends = starts[1:] + [starts[-1] + seg]
    styles = [_style(rng, tempo) for _ in names]
    total: Track = {n: np.zeros_like(t) for n in DOFS}
    wsum = np.zeros_like(t)
    for name, a, b, st in zip(names, starts, ends, styles):
        w_in = np.ones_like(t) if a == 0.0 else _smoothstep((t - a + fade / 2) / fade)
        w_out = _smoothstep((b + fade / 2 - t) / fade)
        w = w_in * w_out
        if not (w > 0).any():
            continue
        tr = _GENERATORS[name](np.maximum(t - a, 0.0), st)
        for n in DOFS:
            total[n] += w * tr[n]
        wsum += w
    for n in DOFS:
        total[n] /= np.maximum(wsum, 1e-9)
    return total


def motion_angles(motion: str = "dance", seconds: float = 4.0, fps: Fraction | int | float = 30,
                  seed: int = 0) -> MotionAngles:
    """Joint angles of a named motion, sampled at `fps` for `seconds` (deterministic per seed).

    Returns a `MotionAngles` with T = round(seconds * fps) frames (at least 1). ValueError for
    an unknown motion (the message lists `MOTIONS`) or a non-positive duration/fps.
    """
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r} (choose from: {', '.join(MOTIONS)})")
    fps_f = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
    if fps_f <= 0 or not seconds > 0:
        raise ValueError("seconds and fps must be positive")
    n = max(1, int(round(seconds * float(fps_f))))
    t = np.arange(n, dtype=np.float64) / float(fps_f)
    rng = np.random.default_rng([int(seed), MOTIONS.index(motion)])
    tempo = float(rng.uniform(100.0, 124.0))
    if motion == "dance":
        tr = _dance(t, rng, tempo)
    else:
        tr = _GENERATORS[motion](t, _style(rng, tempo))
    values = np.stack([tr[n] for n in DOFS], axis=1)
    return MotionAngles(values=values, fps=fps_f, tempo_bpm=tempo, name=motion, seed=int(seed))


def neutral_angles() -> np.ndarray:
    """float64 (len(DOFS),): the relaxed standing pose, a starting point for custom poses."""
    return np.stack([v[0] for v in _base(np.zeros(1)).values()])


def angles_from_dict(degrees: dict[str, float], base: np.ndarray | None = None) -> np.ndarray:
    """One pose row from {dof: degrees} (root_x/z/lift in leg lengths, not degrees) on top of
    `base` (default: neutral). KeyError names an unknown DOF."""
    row = neutral_angles() if base is None else np.array(base, dtype=np.float64)
    for k, v in degrees.items():
        if k not in DOF_INDEX:
            raise KeyError(f"unknown DOF {k!r} (known: {', '.join(DOFS)})")
        row[DOF_INDEX[k]] = float(v) if k in ("root_x", "root_z", "root_lift") else float(v) * _D
    return row
