"""3D skeleton of a synthetic person (forward kinematics) and the pinhole camera.

World frame: metres, x to the camera's right, y up, z toward the camera; the floor is y = 0.
A character with `root_yaw` = 0 stands at the origin facing +z (the camera), so its left side
is +x. Body-local frames use the same axes (x = the person's left, y = up, z = forward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rtmotion.synthetic.characters import BodyDims, Character
from rtmotion.synthetic.motion import DOF_INDEX

_I = DOF_INDEX


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_DOWN = np.array([0.0, -1.0, 0.0])

# Fractions along the spine (hip-joint level 0, shoulder level 1) where the torso's
# cross-sections are taken; the renderer's stripes and shirt hem follow these rows.
TORSO_S: tuple[float, ...] = tuple(round(-0.20 + 0.06 * k, 4) for k in range(23))
_UP = np.array([0.0, 1.0, 0.0])


@dataclass
class TorsoLevel:
    """One elliptical cross-section of the torso: centre (3,), rotation (3, 3) of its frame,
    half width (along the frame's x) and half depth (along z), metres."""

    center: np.ndarray
    rot: np.ndarray
    half_width: float
    half_depth: float
    s: float


@dataclass
class BodyPose:
    """A posed body in world coordinates (metres).

    Attributes:
        points: joint/landmark name -> (3,) position. Includes every BODY25 joint except the
            derived `neck` / `mid_hip` / small toes, plus helper points (`chest_top`,
            `neck_top`, `head_center`, `r_hand_tip`, `l_hand_tip`, `pelvis`, `*_heel_sole`,
            `*_toe_sole`, `*_toe_tip`).
        head_rot: (3, 3) head frame (columns: left, up, forward).
        torso: cross-sections bottom to top.
        frames: segment name -> (3, 3) rotation (e.g. `r_forearm`, `l_foot`).
    """

    points: dict[str, np.ndarray]
    head_rot: np.ndarray
    torso: list[TorsoLevel]
    frames: dict[str, np.ndarray] = field(default_factory=dict)
    dims: BodyDims | None = None


def pose_body(character: Character | BodyDims, angles: np.ndarray) -> BodyPose:
    """Forward kinematics: one row of motion angles (`motion.DOFS`) -> a posed 3D body.

    The same angles with two characters give the same joint rotations with each one's own
    segment lengths. The body is lifted so its lowest sole point touches the floor (y = 0),
    then raised by `root_lift` leg lengths.
    """
    d = character.dims() if isinstance(character, Character) else character
    a = np.asarray(angles, dtype=np.float64)
    L = d.leg_length
    pts: dict[str, np.ndarray] = {}
    frames: dict[str, np.ndarray] = {}

    r_root = rot_y(a[_I["root_yaw"]])
    r_pelvis = r_root @ rot_z(a[_I["pelvis_roll"]])
    pelvis = np.array([a[_I["root_x"]] * L, 0.0, a[_I["root_z"]] * L])
    pts["pelvis"] = pelvis
    frames["pelvis"] = r_pelvis

    # Spine: the twist/bend/lean spread linearly along it, integrated in small steps, so the
    # torso bends smoothly rather than at one hinge.
    tw, bd, ln = a[_I["spine_twist"]], a[_I["spine_bend"]], a[_I["spine_lean"]]

    def spine_rot(s: float) -> np.ndarray:
        s = min(max(s, 0.0), 1.0)
        return r_pelvis @ rot_y(tw * s) @ rot_x(bd * s) @ rot_z(-ln * s)

    n_sub = 8
    spine_pts = [pelvis]
    for k in range(n_sub):
        r = spine_rot((k + 0.5) / n_sub)
        spine_pts.append(spine_pts[-1] + r @ np.array([0.0, d.torso_len / n_sub, 0.0]))

    def spine_at(s: float) -> np.ndarray:
        if s <= 0:
            return pelvis + r_pelvis @ np.array([0.0, s * d.torso_len, 0.0])
        if s >= 1:
            return spine_pts[-1] + spine_rot(1.0) @ np.array([0.0, (s - 1) * d.torso_len, 0.0])
        f = s * n_sub
        k = int(f)
        return spine_pts[k] + (spine_pts[k + 1] - spine_pts[k]) * (f - k)

    table = np.array(d.torso_levels, dtype=np.float64)  # (n, 3): s, half width, half depth
    torso = [TorsoLevel(spine_at(s), spine_rot(s), float(np.interp(s, table[:, 0], table[:, 1])),
                        float(np.interp(s, table[:, 0], table[:, 2])), float(s))
             for s in TORSO_S]
    r_chest = spine_rot(1.0)
    chest_top = spine_pts[-1]
    pts["chest_top"] = chest_top
    frames["chest"] = r_chest

    # Arms.
    for side, sg in (("r", -1.0), ("l", 1.0)):
        sh = chest_top + r_chest @ np.array([sg * d.shoulder_half, -0.02 * d.torso_len, 0.0])
        r_up = (r_chest @ rot_z(sg * a[_I[f"{side}_sh_abd"]]) @ rot_x(-a[_I[f"{side}_sh_flex"]])
                @ rot_y(sg * a[_I[f"{side}_sh_twist"]]))
        el = sh + r_up @ (_DOWN * d.upper_arm)
        r_fo = r_up @ rot_x(-a[_I[f"{side}_elbow"]])
        wr = el + r_fo @ (_DOWN * d.forearm)
        # A slight, fixed wrist flexion keeps the mitten hands from looking like sticks.
        r_ha = r_fo @ rot_x(-0.15)
        pts[f"{side}_shoulder"], pts[f"{side}_elbow"], pts[f"{side}_wrist"] = sh, el, wr
        pts[f"{side}_hand_tip"] = wr + r_ha @ (_DOWN * d.hand)
        frames[f"{side}_upper_arm"], frames[f"{side}_forearm"], frames[f"{side}_hand"] = r_up, r_fo, r_ha

    # Head and neck: the neck takes part of the head's rotation.
    hy, hp, hr = a[_I["head_yaw"]], a[_I["head_pitch"]], a[_I["head_roll"]]
    r_neck = r_chest @ rot_y(0.4 * hy) @ rot_x(0.4 * hp + 0.1) @ rot_z(-0.4 * hr)
    neck_top = chest_top + r_neck @ np.array([0.0, d.neck_len, 0.0])
    r_head = r_chest @ rot_y(hy) @ rot_x(hp) @ rot_z(-hr)
    rx, ry, rz = d.head_radii
    head_c = neck_top + r_head @ np.array([0.0, 0.55 * ry, 0.12 * rz])
    pts["neck_top"], pts["head_center"] = neck_top, head_c
    frames["neck"], frames["head"] = r_neck, r_head
    # Face landmarks on the head ellipsoid's surface (MediaPipe: eye centres, nose tip, ears).
    for name, local in _face_points(d).items():
        pts[name] = head_c + r_head @ local

    # Legs.
    for side, sg in (("r", -1.0), ("l", 1.0)):
        hip = pelvis + r_pelvis @ np.array([sg * d.hip_half, 0.0, 0.0])
        twist = a[_I[f"{side}_hip_twist"]]
        r_th = (r_pelvis @ rot_z(sg * a[_I[f"{side}_hip_abd"]]) @ rot_x(-a[_I[f"{side}_hip_flex"]])
                @ rot_y(sg * twist))
        kn = hip + r_th @ (_DOWN * d.thigh)
        r_sh = r_th @ rot_x(a[_I[f"{side}_knee"]])
        an = kn + r_sh @ (_DOWN * d.shin)
        # The foot's yaw follows the body and the thigh's twist (plus a natural toe-out); its
        # pitch is relative to the floor.
        yaw = a[_I["root_yaw"]] + sg * (twist + 0.12)
        r_ft = rot_y(yaw) @ rot_x(-a[_I[f"{side}_foot_pitch"]])
        h = d.ankle_height
        pts[f"{side}_hip"], pts[f"{side}_knee"], pts[f"{side}_ankle"] = hip, kn, an
        pts[f"{side}_heel"] = an + r_ft @ np.array([0.0, -0.72 * h, -d.heel_back])
        pts[f"{side}_big_toe"] = an + r_ft @ np.array([0.0, -0.72 * h, 0.93 * d.toe_forward])
        pts[f"{side}_heel_sole"] = an + r_ft @ np.array([0.0, -h, -d.heel_back])
        pts[f"{side}_toe_sole"] = an + r_ft @ np.array([0.0, -h, d.toe_forward])
        frames[f"{side}_thigh"], frames[f"{side}_shin"], frames[f"{side}_foot"] = r_th, r_sh, r_ft

    # Stand on the floor.
    low = min(pts[f"{s}_{p}_sole"][1] for s in ("r", "l") for p in ("heel", "toe"))
    lift = np.array([0.0, -low + a[_I["root_lift"]] * L, 0.0])
    for k in pts:
        pts[k] = pts[k] + lift
    for lv in torso:
        lv.center = lv.center + lift
    return BodyPose(points=pts, head_rot=r_head, torso=torso, frames=frames, dims=d)


def _face_points(d: BodyDims) -> dict[str, np.ndarray]:
    """Face landmarks in the head frame (x left, y up, z forward), relative to the head centre."""
    rx, ry, rz = d.head_radii

    def on_surface(v: np.ndarray) -> np.ndarray:
        # Scale a direction onto the ellipsoid surface.
        v = np.asarray(v, dtype=np.float64)
        k = 1.0 / math.sqrt((v[0] / rx) ** 2 + (v[1] / ry) ** 2 + (v[2] / rz) ** 2)
        return v * k

    eye_l = on_surface(np.array([0.36 * rx, 0.12 * ry, rz]))
    eye_r = eye_l * np.array([-1.0, 1.0, 1.0])
    nose = on_surface(np.array([0.0, -0.14 * ry, rz])) + np.array([0.0, 0.0, 0.16 * rz])
    ear_l = np.array([rx * 1.02, 0.02 * ry, -0.08 * rz])
    ear_r = ear_l * np.array([-1.0, 1.0, 1.0])
    return {"l_eye": eye_l, "r_eye": eye_r, "nose": nose, "l_ear": ear_l, "r_ear": ear_r}


# ---- camera ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Camera:
    """A pinhole camera in the world frame.

    Attributes:
        position: camera centre (m).
        look_at: the point at the image centre (m).
        vfov_deg: vertical field of view at zoom 1 (degrees).
        zoom: focal-length multiplier (2 = twice as large).
    """

    position: tuple[float, float, float] = (0.0, 1.0, 4.6)
    look_at: tuple[float, float, float] = (0.0, 0.84, 0.0)
    vfov_deg: float = 32.0
    zoom: float = 1.0

    def rotation(self) -> np.ndarray:
        """(3, 3) world -> camera rotation; camera axes: x right, y down, z forward."""
        pos, tgt = np.array(self.position, float), np.array(self.look_at, float)
        fwd = tgt - pos
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, _UP)
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        return np.stack([right, down, fwd])

    def focal(self, size: tuple[int, int]) -> float:
        """Focal length in pixels for a (width, height) image."""
        return 0.5 * size[1] / math.tan(math.radians(self.vfov_deg) / 2) * self.zoom

    def projector(self, size: tuple[int, int]) -> Projector:
        return Projector(self, size)


class Projector:
    """Projects world points into a (width, height) image of a `Camera`."""

    def __init__(self, camera: Camera, size: tuple[int, int]) -> None:
        self.camera = camera
        self.size = (int(size[0]), int(size[1]))
        self.R = camera.rotation()
        self.t = -self.R @ np.array(camera.position, float)
        self.f = camera.focal(self.size)
        self.cx, self.cy = self.size[0] / 2.0, self.size[1] / 2.0
        self.position = np.array(camera.position, float)

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        """(..., 3) world -> (..., 3) camera coordinates (z = depth in metres)."""
        return np.asarray(p) @ self.R.T + self.t

    def project(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> ((..., 2) pixel x, y; (...,) depth in metres).

        Continuous pixel coordinates: (0, 0) is the top-left corner of the image, pixel (i, j)
        covers [i, i+1) x [j, j+1) (its centre is at i + 0.5), as MediaPipe's normalized
        landmarks times the image size.
        """
        c = self.to_camera(p)
        z = np.maximum(c[..., 2], 1e-6)
        uv = np.stack([self.cx + self.f * c[..., 0] / z, self.cy + self.f * c[..., 1] / z], axis=-1)
        return uv, c[..., 2]
