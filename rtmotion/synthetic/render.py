"""Drawing a posed synthetic person (OpenCV, painter's algorithm) and its ground-truth keypoints.

Parts (torso, limbs as tapered capsules, shoes, hair, the head) are sorted by their depth from
the camera and drawn back to front, so an arm in front of the torso covers it and an arm behind
it is hidden. Everything is drawn on a canvas `supersample` times larger than the output and
box-filtered down, which anti-aliases every edge (and the seams between shaded bands) at once.
Polygons use OpenCV's sub-pixel `shift` so slow motions move smoothly instead of in whole-pixel
jumps. The head is ray-cast per pixel (ellipsoids for skull, hair, nose and ears; eyes, brows
and mouth painted on its surface), which gives a shaded, correctly turning face at small cost.

Ground truth follows MediaPipe BlazePose's landmark definitions, see `Renderer.keypoints`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from rtmotion.pose.skeleton import BODY25_JOINTS
from rtmotion.synthetic.backgrounds import make_background
from rtmotion.synthetic.body import BodyPose, Camera, Projector, _face_points
from rtmotion.synthetic.characters import Character, get_character

_SHIFT = 4
_K = float(1 << _SHIFT)
# World direction toward the light: from the camera's left, above and in front.
_LIGHT = np.array([-0.45, 0.75, 0.55])
_LIGHT /= np.linalg.norm(_LIGHT)
# Image-plane direction toward the light, for the capsules' highlight offset (x right, y down).
_LIGHT2D = np.array([-0.5, -0.866])
# Nested capsule bands: (radius scale, offset toward the light, brightness, added lift).
_BANDS = ((1.0, 0.0, 0.62, 0.0), (0.8, 0.16, 0.86, 0.0), (0.5, 0.36, 1.0, 10.0))
_SHIRT_HEM_S = 0.16     # torso rows below this fraction of the spine show the trousers/shorts
_TORSO_COLS = 20        # body-fixed columns around the torso (pattern + shading bands)


def _shade(color: np.ndarray, k: float, lift: float = 0.0) -> tuple[int, int, int]:
    c = np.clip(np.asarray(color, np.float32) * k + lift, 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


class Renderer:
    """Draws one character with one camera, background and frame size.

    Args:
        character: a `Character` or a name from `CHARACTERS`.
        size: (width, height) of the output frames in pixels.
        camera: the pinhole camera (default `Camera()`).
        background: a name from `BACKGROUNDS` (default: the character's own).
        supersample: canvas scale for anti-aliasing (default 2; 1 is faster and aliased).
    """

    def __init__(self, character: str | Character, size: tuple[int, int] = (256, 256),
                 camera: Camera | None = None, background: str | None = None,
                 supersample: int = 2) -> None:
        self.character = get_character(character)
        self.dims = self.character.dims()
        self.size = (int(size[0]), int(size[1]))
        if self.size[0] < 16 or self.size[1] < 16:
            raise ValueError(f"frame size {self.size} is too small (at least 16 x 16)")
        self.camera = camera or Camera()
        self.proj: Projector = self.camera.projector(self.size)
        self.ss = max(1, int(supersample))
        self.background_name = background or self.character.background
        self.background = make_background(self.background_name, self.size, self.proj, self.ss)
        self._fs = self.proj.f * self.ss  # focal length in canvas pixels
        c = self.character
        self._skin = np.array(c.skin, np.float32)
        self._hair = np.array(c.hair, np.float32)
        self._shirt = np.array(c.shirt, np.float32)
        self._shirt2 = np.array(c.shirt2, np.float32)
        self._trousers = np.array(c.trousers, np.float32)
        self._shoes = np.array(c.shoes, np.float32)
        self._face = _face_points(self.dims)

    # ---- public ----------------------------------------------------------------------------
    def render(self, body: BodyPose) -> np.ndarray:
        """The frame showing `body`: uint8 RGB (H, W, 3)."""
        canvas = self.background.copy()
        self._draw_shadow(canvas, body)
        for _, draw in sorted(self._parts(body), key=lambda p: -p[0]):
            draw(canvas)
        if self.ss == 1:
            return canvas
        return cv2.resize(canvas, self.size, interpolation=cv2.INTER_AREA)

    def keypoints(self, body: BodyPose) -> np.ndarray:
        """Ground-truth BODY25 keypoints of `body`: float32 (25, 3) = x, y (pixels), confidence.

        Positions follow MediaPipe BlazePose: joint centres for shoulders/elbows/wrists/hips/
        knees/ankles, eye centres, nose tip, ears, heel (back of the foot), big toe = foot
        tip (BlazePose's foot index). `neck` and `mid_hip` are the 2D midpoints of the
        shoulders / hips (as the MediaPipe adapter computes them). Small toes have no BlazePose
        landmark: confidence 0. A joint outside the frame has confidence 0 and zero coordinates;
        a joint inside the frame has confidence 1 even when hidden by another body part (e.g.
        the face when the person turns away): the ground truth says where it is, not whether it
        is seen.
        """
        out = np.zeros((len(BODY25_JOINTS), 3), np.float32)
        names = [n for n in BODY25_JOINTS if n in body.points]
        uv, depth = self.proj.project(np.stack([body.points[n] for n in names]))
        pos = {n: (uv[i], depth[i]) for i, n in enumerate(names)}
        w, h = self.size
        for j, name in enumerate(BODY25_JOINTS):
            if name in pos:
                (x, y), z = pos[name]
                out[j] = (x, y, 1.0 if z > 0 else 0.0)
            elif name in ("neck", "mid_hip"):
                a, b = ("r_shoulder", "l_shoulder") if name == "neck" else ("r_hip", "l_hip")
                out[j, :2] = (pos[a][0] + pos[b][0]) / 2
                out[j, 2] = 1.0 if min(pos[a][1], pos[b][1]) > 0 else 0.0
        inside = (out[:, 0] >= 0) & (out[:, 0] < w) & (out[:, 1] >= 0) & (out[:, 1] < h)
        # The midpoints are only as present as both of their ends.
        for name, (a, b) in (("neck", ("r_shoulder", "l_shoulder")), ("mid_hip", ("r_hip", "l_hip"))):
            j = BODY25_JOINTS.index(name)
            inside[j] &= inside[BODY25_JOINTS.index(a)] & inside[BODY25_JOINTS.index(b)]
        out[~inside] = 0.0
        out[out[:, 2] <= 0] = 0.0
        return out

    # ---- geometry helpers ------------------------------------------------------------------
    def _to_canvas(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) -> canvas OpenCV coordinates (..., 2) float, depth (...)."""
        uv, z = self.proj.project(p)
        return uv * self.ss - 0.5, z

    @staticmethod
    def _fixed(pts: np.ndarray) -> np.ndarray:
        return np.round(pts * _K).astype(np.int32)

    def _depth(self, p: np.ndarray) -> float:
        return float(self.proj.to_camera(p)[2])

    # ---- primitives ------------------------------------------------------------------------
    @staticmethod
    def _capsule_poly(a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray | None:
        """Outline (N, 2) of a tapered capsule from a (radius ra) to b (radius rb), or None if
        one end's disc contains the other (draw a circle instead)."""
        d = b - a
        length = math.hypot(d[0], d[1])
        if length <= abs(ra - rb) + 1e-6:
            return None
        d = d / length
        n = np.array([-d[1], d[0]])
        m = int(min(18, max(5, 3 + max(ra, rb) / 1.5)))
        phi = np.linspace(0.0, np.pi, m)
        cs, sn = np.cos(phi)[:, None], np.sin(phi)[:, None]
        end_b = b + rb * (cs * n + sn * d)
        end_a = a - ra * (cs * n + sn * d)
        return np.concatenate([end_b, end_a])

    def _fill_capsule(self, img: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float,
                      color: tuple[int, int, int]) -> None:
        poly = self._capsule_poly(a, b, ra, rb)
        if poly is None:
            c, r = (a, ra) if ra >= rb else (b, rb)
            cv2.circle(img, tuple(self._fixed(c)), int(round(r * _K)), color, -1, cv2.LINE_8, _SHIFT)
        else:
            cv2.fillConvexPoly(img, self._fixed(poly), color, cv2.LINE_8, _SHIFT)

    def _limb(self, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, color: np.ndarray,
              shaded: bool = True) -> tuple[float, Callable[[np.ndarray], None]]:
        """A shaded tapered capsule between world points; returns (depth, draw)."""
        (a, b), (za, zb) = self._to_canvas(np.stack([p0, p1]))
        ra = r0 * self._fs / max(za, 1e-3)
        rb = r1 * self._fs / max(zb, 1e-3)
        depth = 0.5 * (za + zb)

        def draw(img: np.ndarray) -> None:
            self._draw_limb(img, a, b, ra, rb, color, shaded)

        return depth, draw

    def _draw_limb(self, img: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float,
                   color: np.ndarray, shaded: bool = True, bands: tuple[int, ...] = (0, 1, 2)
                   ) -> None:
        if not shaded:
            self._fill_capsule(img, a, b, ra, rb, _shade(color, 1.0))
            return
        d = b - a
        length = math.hypot(d[0], d[1])
        if length > 1e-6:
            n = np.array([-d[1], d[0]]) / length
            off = n * float(n @ _LIGHT2D)
        else:
            off = _LIGHT2D
        # Three nested bands (dark rim, mid tone, highlight toward the light) approximate a
        # gradient across the limb's width; the canvas downsampling blends them.
        for band in bands:
            scale, shift, k, lift = _BANDS[band]
            o = off * shift
            self._fill_capsule(img, a + o * ra, b + o * rb, ra * scale, rb * scale,
                               _shade(color, k, lift))

    # ---- parts -----------------------------------------------------------------------------
    def _parts(self, body: BodyPose) -> list[tuple[float, Callable[[np.ndarray], None]]]:
        c, d, P = self.character, self.dims, body.points
        parts: list[tuple[float, Callable[[np.ndarray], None]]] = []

        # Trunk: torso, then neck, then head, always in that order among themselves.
        torso_depth = float(np.mean([self._depth(lv.center) for lv in body.torso]))
        torso_depth += 0.35 * float(np.mean([lv.half_depth for lv in body.torso]))
        torso_draw = self._torso(body)
        neck_r = d.neck_radius
        _, neck_draw = self._limb(P["chest_top"], P["neck_top"], neck_r * 1.08, neck_r,
                                  self._skin * 0.9)

        def trunk(img: np.ndarray) -> None:
            torso_draw(img)
            neck_draw(img)
            self._draw_head(img, body)

        parts.append((torso_depth, trunk))

        # Arms and legs are chains drawn band by band (all dark rims, then all mid tones, then
        # highlights) so elbows and knees show no seam; sleeves and shorts go on top.
        for side in ("r", "l"):
            sh, el, wr, tip = (P[f"{side}_shoulder"], P[f"{side}_elbow"], P[f"{side}_wrist"],
                               P[f"{side}_hand_tip"])
            (u0, u1), (f0, f1), (h0, h1) = d.r_upper_arm, d.r_forearm, d.r_hand
            sleeve = self._shirt if c.sleeves == "long" else self._skin
            segs = [(sh, el, u0, u1, sleeve),
                    (el, wr, f0, f1 * (1.1 if c.sleeves == "long" else 1.0), sleeve),
                    (wr, tip, h0, h1, self._skin)]
            over = []
            if c.sleeves == "short":
                mid = sh + 0.55 * (el - sh)
                over.append((sh, mid, u0 * 1.22, (u0 + u1) / 2 * 1.22, self._shirt))
            parts.append(self._chain(segs, over))

            hip, kn, an = P[f"{side}_hip"], P[f"{side}_knee"], P[f"{side}_ankle"]
            (t0, t1), (s0, s1) = d.r_thigh, d.r_shin
            if c.bottoms == "trousers":
                segs = [(hip, kn, t0, t1 * 1.05, self._trousers),
                        (kn, an, t1 * 1.05, s1 * 1.15, self._trousers)]
                over = []
            else:
                segs = [(hip, kn, t0, t1, self._skin), (kn, an, s0, s1, self._skin)]
                mid = hip + 0.5 * (kn - hip)
                over = [(hip, mid, t0 * 1.12, (t0 + t1) / 2 * 1.14, self._trousers)]
            parts.append(self._chain(segs, over))
            parts.append(self._shoe(body, side))

        # Hair hanging from the back of the head is behind the trunk when the face is toward the
        # camera and in front of it otherwise.
        head_fwd = body.head_rot @ np.array([0.0, 0.0, 1.0])
        facing = float(head_fwd @ (self.proj.position - P["head_center"])) > 0
        for _, draw in self._hair_parts(body):
            parts.append((torso_depth + (1e-3 if facing else -1e-3), draw))
        return parts

    def _chain(self, segs: list, over: list) -> tuple[float, Callable[[np.ndarray], None]]:
        """Capsules (p0, p1, r0, r1, colour) drawn band-interleaved, then `over` on top."""
        def prep(items: list) -> list:
            out = []
            for p0, p1, r0, r1, col in items:
                (a, b), (za, zb) = self._to_canvas(np.stack([p0, p1]))
                out.append((a, b, r0 * self._fs / max(za, 1e-3), r1 * self._fs / max(zb, 1e-3),
                            col, 0.5 * (za + zb)))
            return out

        s_items, o_items = prep(segs), prep(over)
        depth = float(np.mean([it[5] for it in s_items]))

        def draw(img: np.ndarray) -> None:
            for band in range(3):
                for a, b, ra, rb, col, _ in s_items:
                    self._draw_limb(img, a, b, ra, rb, col, bands=(band,))
            for a, b, ra, rb, col, _ in o_items:
                self._draw_limb(img, a, b, ra, rb, col)

        return depth, draw

    def _shoe(self, body: BodyPose, side: str) -> tuple[float, Callable[[np.ndarray], None]]:
        d, P = self.dims, body.points
        r_ft = body.frames[f"{side}_foot"]
        an = P[f"{side}_ankle"]
        r0, r1 = d.r_foot
        h = d.ankle_height
        heel = an + r_ft @ np.array([0.0, -h + r0, -d.heel_back + r0])
        toe = an + r_ft @ np.array([0.0, -h + r1, d.toe_forward - r1])
        return self._limb(heel, toe, r0, r1, self._shoes)

    def _hair_parts(self, body: BodyPose) -> list[tuple[float, Callable[[np.ndarray], None]]]:
        c, d = self.character, self.dims
        rx, ry, rz = d.head_radii
        C, R = body.points["head_center"], body.head_rot
        down = np.array([0.0, -1.0, 0.0])
        back = body.frames["chest"] @ np.array([0.0, 0.0, -1.0])
        if c.hair_style == "long":
            top = C + R @ np.array([0.0, 0.15 * ry, -0.45 * rz])
            bottom = top + down * 2.6 * ry + back * 0.5 * rz
            return [self._limb(top, bottom, 1.05 * rx, 0.95 * rx, self._hair)]
        if c.hair_style == "ponytail":
            top = C + R @ np.array([0.0, 0.35 * ry, -1.02 * rz])
            bottom = top + down * 1.6 * ry + back * 0.35 * rz
            return [self._limb(top, bottom, 0.32 * rx, 0.18 * rx, self._hair)]
        return []

    # ---- torso -----------------------------------------------------------------------------
    def _torso(self, body: BodyPose) -> Callable[[np.ndarray], None]:
        """The torso as body-fixed strips of quads between elliptical cross-sections.

        Each cross-section's front-facing half (as seen from the camera) is cut at fixed body
        angles into columns, so stripes and checks stay on the body as it turns, and each column
        gets Lambert shading from its normal.
        """
        levels = body.torso
        n_lv = len(levels)
        K = _TORSO_COLS
        dt = 2 * np.pi / K
        col_t = np.arange(K) * dt - np.pi / 2 + dt / 2
        cam = self.proj.position
        pts = np.zeros((n_lv, K, 2, 3))      # world points: level, column, (start, end)
        mids = np.zeros((n_lv, K))            # column mid angle (for the normal)
        vis = np.zeros((n_lv, K), bool)
        for i, lv in enumerate(levels):
            v = lv.rot.T @ (lv.center - cam)
            a, b = v[0] / lv.half_width, v[2] / lv.half_depth
            alpha = math.atan2(b, a) + np.pi / 2          # start of the visible arc
            delta = np.mod(col_t - alpha, 2 * np.pi)
            u0 = np.where(delta <= np.pi, delta, np.where(delta + dt > 2 * np.pi, 0.0, np.nan))
            u1 = np.where(delta <= np.pi, np.minimum(delta + dt, np.pi),
                          np.where(delta + dt > 2 * np.pi, np.minimum(delta + dt - 2 * np.pi, np.pi),
                                   np.nan))
            vis[i] = np.isfinite(u0)
            # Hidden columns collapse onto the nearer silhouette edge.
            near_end = np.where((delta - np.pi) < (2 * np.pi - delta - dt), np.pi, 0.0)
            u0 = np.where(vis[i], u0, near_end)
            u1 = np.where(vis[i], u1, near_end)
            for j, u in enumerate((u0, u1)):
                t = alpha + u
                local = np.stack([lv.half_width * np.cos(t), np.zeros(K), lv.half_depth * np.sin(t)], 1)
                pts[i, :, j] = lv.center + local @ lv.rot.T
            mids[i] = alpha + 0.5 * (u0 + u1)
        canvas_pts, _ = self._to_canvas(pts.reshape(-1, 3))
        canvas_pts = canvas_pts.reshape(n_lv, K, 2, 2)
        # Shading from each column's normal at each level: ellipse normal (cos/w, sin/d).
        shade = np.zeros((n_lv, K))
        for i, lv in enumerate(levels):
            nl = np.stack([np.cos(mids[i]) / lv.half_width, np.zeros(K),
                           np.sin(mids[i]) / lv.half_depth], 1)
            nw = nl @ lv.rot.T
            nw /= np.linalg.norm(nw, axis=1, keepdims=True)
            shade[i] = 0.58 + 0.5 * np.clip(nw @ _LIGHT, 0.0, 1.0)
        s_mid = np.array([(levels[i].s + levels[i + 1].s) / 2 for i in range(n_lv - 1)])
        shirt_rows = s_mid >= _SHIRT_HEM_S
        stripe = np.cumsum(shirt_rows) - 1
        stripe_id = np.where(shirt_rows, (stripe // 2) % 2, 0)
        # Quads grouped into vertical strips of equal colour per column (fewer fill calls).
        polys: list[tuple[np.ndarray, tuple[int, int, int]]] = []
        for k in range(K):
            if not (vis[:, k].any()):
                continue
            row = 0
            while row < n_lv - 1:
                key = self._torso_key(shirt_rows[row], stripe_id[row], k)
                end = row + 1
                while end < n_lv - 1 and self._torso_key(shirt_rows[end], stripe_id[end], k) == key:
                    end += 1
                if vis[row:end + 1, k].any():
                    left = canvas_pts[row:end + 1, k, 0]
                    right = canvas_pts[row:end + 1, k, 1][::-1]
                    sh = float(shade[row:end + 1, k].mean())
                    polys.append((np.concatenate([left, right]), _shade(self._torso_color(key), sh)))
                row = end
        fixed = [(self._fixed(p), col) for p, col in polys]

        def draw(img: np.ndarray) -> None:
            for p, col in fixed:
                cv2.fillPoly(img, [p], col, cv2.LINE_8, _SHIFT)

        return draw

    def _torso_key(self, is_shirt: bool, stripe: int, col: int) -> tuple[int, int]:
        if not is_shirt:
            return (0, 0)
        pat = self.character.shirt_pattern
        if pat == "stripes":
            return (1, int(stripe))
        if pat == "checks":
            return (1, int((stripe + (col // 2)) % 2))
        return (1, 0)

    def _torso_color(self, key: tuple[int, int]) -> np.ndarray:
        if key[0] == 0:
            return self._trousers
        return self._shirt2 if key[1] else self._shirt

    # ---- shadow ----------------------------------------------------------------------------
    def _draw_shadow(self, img: np.ndarray, body: BodyPose) -> None:
        P, d = body.points, self.dims
        feet = np.stack([P["r_ankle"], P["l_ankle"], P["r_big_toe"], P["l_big_toe"]])
        centre = feet.mean(0)
        lift = max(0.0, min(P["r_heel"][1], P["l_heel"][1]) - 0.5 * d.ankle_height)
        centre[1] = 0.0
        spread = max(0.18, 0.6 * float(np.ptp(feet[:, 0])) + 0.12)
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        ring = centre + np.stack([spread * np.cos(t), np.zeros_like(t), 0.16 * np.sin(t)], 1)
        cpts, z = self._to_canvas(ring)
        if (z <= 0.1).any():
            return
        h, w = img.shape[:2]
        x0, y0 = np.floor(cpts.min(0) - 4).astype(int)
        x1, y1 = np.ceil(cpts.max(0) + 4).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [self._fixed(cpts - [x0, y0])], 255, cv2.LINE_8, _SHIFT)
        k = max(3, int(0.25 * (y1 - y0)) | 1)
        mask = cv2.GaussianBlur(mask, (k, k), 0)
        strength = 0.35 * math.exp(-4.0 * lift)
        roi = img[y0:y1, x0:x1]
        roi[:] = (roi * (1.0 - strength * mask[..., None] / 255.0)).astype(np.uint8)

    # ---- head (ray cast) -------------------------------------------------------------------
    def _draw_head(self, img: np.ndarray, body: BodyPose) -> None:
        """Ray-cast the head's ellipsoids in its screen bounding box and paste the hits."""
        c, d = self.character, self.dims
        rx, ry, rz = d.head_radii
        radii = np.array([rx, ry, rz])
        C, Rh = body.points["head_center"], body.head_rot
        face = self._face
        # Ellipsoids in the head frame: centre, radii, material.
        nose_r = np.array([0.13 * rx, 0.19 * ry, 0.17 * rz])
        ells: list[tuple[np.ndarray, np.ndarray, int]] = [
            (np.zeros(3), radii, 0),
            (face["nose"] - np.array([0.0, 0.0, nose_r[2]]), nose_r, 1),
        ]
        ear_r = np.array([0.12 * rx, 0.22 * ry, 0.16 * rz])
        for e in ("l_ear", "r_ear"):
            ells.append((face[e] - np.array([np.sign(face[e][0]) * ear_r[0] * 0.8, 0.0, 0.0]), ear_r, 2))
        style = c.hair_style
        if style != "bald":
            grow = 1.02 if style == "buzz" else 1.08
            ells.append((np.array([0.0, 0.03 * ry, -0.03 * rz]), radii * grow, 3))
        if style == "bun":
            ells.append((np.array([0.0, 0.82 * ry, -0.62 * rz]), np.array([0.5, 0.45, 0.5]) * rx, 4))

        cc = self.proj.to_camera(C)
        if cc[2] <= 0.05:
            return
        cuv, _ = self._to_canvas(C[None])
        cu, cv_ = float(cuv[0, 0]), float(cuv[0, 1])
        bound = 1.75 * max(rx, ry, rz) * self._fs / cc[2]
        h, w = img.shape[:2]
        x0, x1 = max(int(cu - bound), 0), min(int(cu + bound) + 2, w)
        y0, y1 = max(int(cv_ - bound), 0), min(int(cv_ + bound) + 2, h)
        if x1 <= x0 or y1 <= y0:
            return
        xs = (np.arange(x0, x1, dtype=np.float64) + 0.5) / self.ss
        ys = (np.arange(y0, y1, dtype=np.float64) + 0.5) / self.ss
        gu, gv = np.meshgrid((xs - self.proj.cx) / self.proj.f, (ys - self.proj.cy) / self.proj.f)
        dirs_cam = np.stack([gu.ravel(), gv.ravel(), np.ones(gu.size)], 1)
        M = Rh.T @ self.proj.R.T                       # camera -> head-local directions
        D = dirs_cam @ M.T                             # (N, 3)
        O = Rh.T @ (self.proj.position - C)            # ray origin in head-local coords
        n = D.shape[0]
        T = np.full((len(ells), n), np.inf)
        for e, (ctr, rad, mat) in enumerate(ells):
            oc = (O - ctr) / rad
            dd = D / rad
            a = np.einsum("ij,ij->i", dd, dd)
            b = dd @ oc
            cq = oc @ oc - 1.0
            disc = b * b - a * cq
            ok = disc > 0
            t = np.full(n, np.inf)
            t[ok] = (-b[ok] - np.sqrt(disc[ok])) / a[ok]
            t[t <= 0] = np.inf
            if mat == 3:
                q = (O + np.where(np.isfinite(t), t, 0.0)[:, None] * D - ctr) / rad
                t[~self._hair_region(q, style)] = np.inf
            T[e] = t
        best = np.argmin(T, axis=0)
        tmin = T[best, np.arange(n)]
        hit = np.isfinite(tmin)
        if not hit.any():
            return
        idx = np.nonzero(hit)[0]
        be = best[idx]
        p = O + tmin[idx, None] * D[idx]               # head-local hit points
        centers = np.stack([e[0] for e in ells])[be]
        rads = np.stack([e[1] for e in ells])[be]
        normal = (p - centers) / rads ** 2
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        lam = np.clip((normal @ Rh.T) @ _LIGHT, 0.0, 1.0)
        shade = 0.55 + 0.55 * lam
        mats = np.array([e[2] for e in ells])[be]
        col = np.empty((len(idx), 3), np.float32)
        skin = self._skin
        col[:] = skin
        col[mats == 2] = skin * 0.9
        hairmask = (mats == 3) | (mats == 4)
        col[hairmask] = self._hair
        face_m = mats == 0
        if face_m.any():
            col[face_m] = self._paint_face(p[face_m] / radii)
        out = col * shade[:, None]
        # A little specular sheen on hair and skin helps read the shape on dark tones.
        out += 28.0 * lam[:, None] ** 8
        roi = img[y0:y1, x0:x1].reshape(-1, 3)
        roi[idx] = np.clip(out, 0, 255).astype(np.uint8)
        img[y0:y1, x0:x1] = roi.reshape(y1 - y0, x1 - x0, 3)

    @staticmethod
    def _hair_region(q: np.ndarray, style: str) -> np.ndarray:
        """bool: which points of the hair shell (unit-sphere coords q) carry hair."""
        y, z = q[:, 1], q[:, 2]
        if style == "long":
            line = np.where(z > 0, 0.18 + 0.22 * z, 0.18 + 0.9 * z)
        elif style in ("bun", "ponytail"):
            line = np.where(z > 0, 0.26 + 0.28 * z, 0.26 + 0.75 * z)
        else:
            line = np.where(z > 0, 0.24 + 0.24 * z, 0.24 + 0.7 * z)
        return y > line

    def _paint_face(self, q: np.ndarray) -> np.ndarray:
        """Skin colour with eyes, brows, mouth (and beard) at unit-sphere head points q (N, 3)."""
        c = self.character
        rx, ry, rz = self.dims.head_radii
        col = np.empty((len(q), 3), np.float32)
        col[:] = self._skin
        front = q[:, 2] > 0.2
        lips = np.array(c.lips, np.float32)
        brow = self._hair * 0.8 if c.hair_style != "bald" else self._skin * 0.45
        if c.beard:
            chin = front & (q[:, 1] < -0.3)
            sideburns = (q[:, 1] < 0.05) & (np.abs(q[:, 0]) > 0.72) & (q[:, 2] > -0.2)
            beard = chin | sideburns
            col[beard] = self._hair
        mouth = front & ((q[:, 0] / 0.24) ** 2 + ((q[:, 1] + 0.55) / 0.075) ** 2 < 1.0)
        col[mouth] = lips
        col[mouth & (np.abs(q[:, 1] + 0.55) < 0.016)] = lips * 0.45
        for e in ("l_eye", "r_eye"):
            ev = self._face[e] / np.array([rx, ry, rz])
            dx, dy = q[:, 0] - ev[0], q[:, 1] - ev[1]
            socket = front & ((dx / 0.22) ** 2 + (dy / 0.12) ** 2 < 1.0)
            col[socket] = col[socket] * 0.85
            white = front & ((dx / 0.165) ** 2 + (dy / 0.085) ** 2 < 1.0)
            col[white] = (245, 245, 240)
            iris = white & (dx * dx + dy * dy < 0.068 ** 2)
            col[iris] = c.eyes
            col[iris & (dx * dx + dy * dy < 0.032 ** 2)] = (10, 8, 8)
            lash = front & ((dx / 0.175) ** 2 + ((dy - 0.02) / 0.085) ** 2 < 1.0) & ~white & (dy > 0)
            col[lash] = (30, 22, 20)
            bm = front & ((dx / 0.2) ** 2 + ((dy - 0.17) / 0.038) ** 2 < 1.0)
            col[bm] = brow
        return col


def _chain(*fns: Callable[[np.ndarray], None]) -> Callable[[np.ndarray], None]:
    def draw(img: np.ndarray) -> None:
        for f in fns:
            f(img)
    return draw
