"""Static scenes behind the synthetic person, drawn once per camera and frame size.

Every background is deterministic (no randomness beyond a fixed seed) so that a target video's
scene is the same in every frame, as it is for a real subject filmed from a tripod.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmotion.synthetic.body import Projector

BACKGROUNDS: tuple[str, ...] = ("room", "gradient", "texture", "studio")

WALL_Z = -3.0  # metres: the back wall of the room scenes


def _vertical_gradient(h: int, w: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
                       ) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    col = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.broadcast_to(col, (h, w, 3)).astype(np.float32)


def _wall_row(proj: Projector, scale: int) -> float:
    """Canvas row of the floor/wall edge (may lie outside the image)."""
    uv, _ = proj.project(np.array([0.0, 0.0, WALL_Z]))
    return float(uv[1]) * scale


def _floor_lines(img: np.ndarray, proj: Projector, scale: int, color: tuple[int, int, int],
                 step: float = 0.6) -> None:
    """Perspective tile seams on the floor between the wall and the camera."""
    shift = 4
    k = float(1 << shift)

    def seg(p0: np.ndarray, p1: np.ndarray) -> None:
        # Clip to the part in front of the camera before projecting.
        c0, c1 = proj.to_camera(p0), proj.to_camera(p1)
        near = 0.3
        if c0[2] < near and c1[2] < near:
            return
        if c0[2] < near or c1[2] < near:
            a = (near - c0[2]) / (c1[2] - c0[2])
            pn = p0 + a * (p1 - p0)
            p0, p1 = (pn, p1) if c0[2] < near else (p0, pn)
        (u0, v0), (u1, v1) = proj.project(np.stack([p0, p1]))[0]
        pts = [(int(round((u * scale - 0.5) * k)), int(round((v * scale - 0.5) * k)))
               for u, v in ((u0, v0), (u1, v1))]
        cv2.line(img, pts[0], pts[1], color, max(1, scale), cv2.LINE_AA, shift)

    zc = proj.position[2]
    for x in np.arange(-12.0, 12.01, step):
        seg(np.array([x, 0.0, WALL_Z]), np.array([x, 0.0, zc]))
    for z in np.arange(WALL_Z, zc, step):
        seg(np.array([-30.0, 0.0, z]), np.array([30.0, 0.0, z]))


def _value_noise(h: int, w: int, cell: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in [0, 1], float32 (h, w): random grid upsampled bicubically."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    grid = rng.random((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[:h, :w], 0.0, 1.0)


def make_background(name: str, size: tuple[int, int], proj: Projector, scale: int = 1
                    ) -> np.ndarray:
    """A background image of the canvas size (size * scale), uint8 RGB (H*scale, W*scale, 3).

    Args:
        name: one of `BACKGROUNDS`.
        size: (width, height) of the output frame in pixels.
        proj: the camera projector (for the floor and horizon), for `size`.
        scale: supersampling factor of the canvas.
    """
    if name not in BACKGROUNDS:
        raise ValueError(f"unknown background {name!r} (choose from: {', '.join(BACKGROUNDS)})")
    w, h = size[0] * scale, size[1] * scale
    rng = np.random.default_rng(1234)
    row = _wall_row(proj, scale)
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    if name == "gradient":
        img = _vertical_gradient(h, w, (170, 200, 230), (60, 80, 120))
    elif name == "studio":
        # A light seamless sweep: the wall fades into the floor around the horizon.
        img = _vertical_gradient(h, w, (236, 236, 240), (200, 200, 206))
        dark = np.clip((rows - row) / max(1.0, 0.6 * h), 0.0, 1.0)
        img = img * (1.0 - 0.18 * dark)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        vign = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
        img = img * (1.0 - 0.35 * vign[..., None])
    elif name == "room":
        wall = _vertical_gradient(h, w, (214, 206, 186), (190, 180, 160))
        floor = _vertical_gradient(h, w, (150, 115, 85), (120, 88, 62))
        img = np.where(rows < row, wall, floor)
        # A skirting board along the wall's foot.
        board = (rows >= row - 0.035 * h) & (rows < row)
        img = np.where(board, np.array([245, 245, 240], np.float32), img)
    else:  # texture: brick wall, speckled stone floor
        wall = np.empty((h, w, 3), np.float32)
        wall[:] = (96, 118, 150)  # slate-blue bricks: far from every skin tone
        bh = max(4, int(round(0.05 * h)))
        bw = 2 * bh + bh // 2
        noise = _value_noise(h, w, max(2, bh // 2), rng)
        wall *= (0.82 + 0.3 * noise)[..., None]
        mortar = (200, 205, 210)
        for r0 in range(0, h, bh):
            wall[r0:r0 + max(1, bh // 8)] = mortar
            off = (r0 // bh) % 2 * (bw // 2)
            for c0 in range(-off, w, bw):
                if c0 >= 0:
                    wall[r0:r0 + bh, c0:c0 + max(1, bh // 8)] = mortar
        floor = np.empty((h, w, 3), np.float32)
        floor[:] = (120, 125, 120)
        floor *= (0.8 + 0.35 * _value_noise(h, w, max(2, h // 40), rng))[..., None]
        img = np.where(rows < row, wall, floor)
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
    if name == "room":
        _floor_lines(img, proj, scale, (100, 74, 52))
    elif name == "texture":
        _floor_lines(img, proj, scale, (90, 92, 90), step=1.0)
    return np.ascontiguousarray(img)
