"""SSIM / PSNR, crop boxes and flicker figures on inputs whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtmotion.eval.flicker import FlickerMeter, flicker_stats
from rtmotion.eval.metrics import (
    MIN_SSIM_SIDE,
    PSNR_CAP_DB,
    detail_ratio,
    psnr,
    ssim,
    ssim_psnr,
)
from rtmotion.pose.boxes import body_box, body_height
from rtmotion.pose.boxes import visible_face_box as face_box
from rtmotion.pose.skeleton import BODY25
from tests.ssim_oracle import C1, numpy_ssim


def _image(seed: int = 0, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth-ish content so SSIM reacts to structure, not only to noise
    base = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3)).astype(np.float32)
    return np.kron(base, np.ones((8, 8, 1))).astype(np.uint8)


# ---- metrics ---------------------------------------------------------------------------------

def test_detail_ratio_tells_a_sharp_image_from_its_blur() -> None:
    import cv2

    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    small = cv2.resize(sharp, (16, 16), interpolation=cv2.INTER_AREA)
    enlarged = cv2.resize(small, (64, 64), interpolation=cv2.INTER_CUBIC)  # a 4x enlargement
    assert detail_ratio(sharp, sharp) == pytest.approx(1.0)
    assert detail_ratio(enlarged, sharp) < 0.5
    assert detail_ratio(sharp, enlarged) > 2.0
    assert detail_ratio(sharp, np.full_like(sharp, 90)) is None       # nothing to compare with
    assert detail_ratio(enlarged, sharp, (0, 0, 32, 32)) == pytest.approx(
        detail_ratio(enlarged[:32, :32], sharp[:32, :32]))


def test_identical_images_give_ssim_one_and_capped_psnr() -> None:
    a = _image()
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-9)
    assert psnr(a, a.copy()) == PSNR_CAP_DB


def test_psnr_of_known_error() -> None:
    a = _image()
    b = a.astype(np.int16)
    # +-10 on every pixel (sign alternating, clipped away from the range ends): MSE = 100.
    a = np.clip(a, 20, 235).astype(np.uint8)
    b = a.astype(np.int16) + np.where(np.indices(a.shape).sum(0) % 2 == 0, 10, -10)
    b = b.astype(np.uint8)
    expected = 10 * math.log10(255**2 / 100.0)  # 28.13 dB
    assert psnr(a, b) == pytest.approx(expected, abs=1e-9)


def test_psnr_of_gaussian_noise_matches_sigma() -> None:
    rng = np.random.default_rng(1)
    a = np.full((128, 128, 3), 128, np.uint8)
    noise = rng.normal(0, 5.0, a.shape)
    b = np.clip(np.round(a + noise), 0, 255).astype(np.uint8)
    mse = np.mean((b.astype(float) - a) ** 2)  # ~25 (+1/12 rounding)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
    assert psnr(a, b) == pytest.approx(34.15, abs=0.2)


def test_ssim_falls_with_noise_and_is_symmetric() -> None:
    rng = np.random.default_rng(2)
    a = _image(3)
    small = np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    big = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    s_small, s_big = ssim(a, small), ssim(a, big)
    assert 0.9 < s_small < 1.0
    assert s_big < s_small - 0.2
    assert ssim(small, a) == pytest.approx(s_small, abs=1e-9)


def test_ssim_of_tiny_crop_is_none_and_small_crop_works() -> None:
    a = _image(size=(64, 64))
    assert ssim(a[:MIN_SSIM_SIDE - 1, :20], a[:MIN_SSIM_SIDE - 1, :20]) is None
    assert ssim(a[:8, :8], a[:8, :8]) == pytest.approx(1.0)  # window shrinks to 7


@pytest.mark.parametrize("side,win", [(7, 7), (8, 7), (9, 9), (10, 9), (11, 11), (12, 11), (40, 11)])
def test_ssim_agrees_with_the_numpy_oracle_and_shrinks_its_window(side: int, win: int) -> None:
    """The window is the largest odd size up to 11 that fits the crop (7 at least)."""
    rng = np.random.default_rng(side)
    a = _image(side, size=(48, 48))[:side, :side + 3]
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    # pytorch_msssim builds its window in float32: agreement to ~1e-5
    assert ssim(a, b) == pytest.approx(numpy_ssim(a, b, win), abs=1e-4)
    if win < 11:  # the full window would not fit: a shrunk one is really used
        assert ssim(a, b) != pytest.approx(numpy_ssim(a, b, win - 2), abs=1e-4)


@pytest.mark.parametrize("p,q", [(0, 255), (100, 140), (200, 30)])
def test_ssim_of_constant_images_is_the_luminance_term(p: int, q: int) -> None:
    a, b = np.full((16, 16, 3), p, np.uint8), np.full((16, 16, 3), q, np.uint8)
    assert ssim(a, b) == pytest.approx((2 * p * q + C1) / (p * p + q * q + C1), abs=1e-4)


def test_grey_images_are_one_channel() -> None:
    a = _image(4)[..., 0]
    b = np.clip(a.astype(int) + 9, 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(numpy_ssim(a[..., None], b[..., None]), abs=1e-4)
    assert psnr(a, b) == pytest.approx(psnr(a[..., None], b[..., None]))
    with pytest.raises(ValueError, match=r"expected \(H, W, C\) images"):
        ssim(a[None, ..., None], b[None, ..., None])


def test_psnr_of_a_sub_level_error_and_of_one_pixel() -> None:
    """MSE below one grey level squared (one pixel off by one in 100) and one-pixel images."""
    a = np.full((10, 10, 1), 50, np.uint8)
    b = a.copy()
    b[3, 4, 0] = 51
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 0.01), abs=1e-9)   # 68.13 dB
    one, other = np.full((1, 1, 3), 10, np.uint8), np.full((1, 1, 3), 13, np.uint8)
    assert psnr(one, other) == pytest.approx(10 * math.log10(255**2 / 9.0), abs=1e-9)
    with pytest.raises(ValueError, match=r"^empty image$"):
        psnr(np.zeros((0, 4, 3), np.uint8), np.zeros((0, 4, 3), np.uint8))


def test_ssim_psnr_crops_both_images() -> None:
    a = _image(size=(64, 64))
    b = a.copy()
    b[:, 40:] = 0  # differ only outside the box
    s, p = ssim_psnr(a, b, (0, 0, 32, 32))
    assert s == pytest.approx(1.0) and p == PSNR_CAP_DB
    s2, p2 = ssim_psnr(a, b)
    assert s2 < 1.0 and p2 < 30


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


# ---- crops -----------------------------------------------------------------------------------

def _person(cx: float = 100, top: float = 40, scale: float = 1.0) -> np.ndarray:
    """A standing BODY25 pose, head at `top`, about 160 px tall at scale 1."""
    kp = np.zeros((25, 3), np.float32)
    pts = {
        "nose": (0, 10), "r_eye": (-4, 6), "l_eye": (4, 6), "r_ear": (-9, 8), "l_ear": (9, 8),
        "neck": (0, 30), "r_shoulder": (-20, 30), "l_shoulder": (20, 30),
        "r_elbow": (-25, 60), "l_elbow": (25, 60), "r_wrist": (-27, 85), "l_wrist": (27, 85),
        "mid_hip": (0, 90), "r_hip": (-10, 90), "l_hip": (10, 90), "r_knee": (-11, 125),
        "l_knee": (11, 125), "r_ankle": (-12, 160), "l_ankle": (12, 160),
    }
    for name, (dx, dy) in pts.items():
        kp[BODY25.index(name)] = (cx + dx * scale, top + dy * scale, 0.9)
    return kp


def test_body_box_holds_joints_with_margin() -> None:
    kp = _person()
    box = body_box(kp, (256, 256), margin=0.1)
    assert box is not None
    x0, y0, x1, y1 = box
    vis = kp[kp[:, 2] > 0]
    assert x0 < vis[:, 0].min() and x1 > vis[:, 0].max()
    assert y0 < vis[:, 1].min() and y1 > vis[:, 1].max()
    # margin = 0.1 x 160 px (the longer side) = 16 px each side
    assert y0 == int(np.floor(vis[:, 1].min() - 16.0))
    assert y1 == int(np.ceil(vis[:, 1].max() + 16.0))


def test_body_box_clips_and_none_without_person() -> None:
    kp = _person(cx=5, top=150)
    x0, y0, x1, y1 = body_box(kp, (128, 200))
    assert x0 == 0 and y1 == 200 and x1 <= 128
    assert body_box(np.zeros((25, 3), np.float32), (128, 128)) is None


def test_face_box_square_around_head_and_skipped_when_not_visible() -> None:
    kp = _person()
    box = face_box(kp, (256, 256))
    assert box is not None
    x0, y0, x1, y1 = box
    nose = kp[BODY25.index("nose")]
    assert x0 < nose[0] < x1 and y0 < nose[1] < y1
    assert abs((x1 - x0) - (y1 - y0)) <= 1
    # head size = max(ear span 18, 2 x eye span 16, nose-neck 20) = 20 -> side 28
    assert (x1 - x0) == pytest.approx(28, abs=2)
    back = kp.copy()
    back[[BODY25.index(j) for j in ("nose", "r_eye", "l_eye")], :] = 0  # seen from behind
    assert face_box(back, (256, 256)) is None
    # mostly outside the frame
    assert face_box(_person(cx=100, top=-15), (256, 256)) is None


def test_body_height() -> None:
    assert body_height(_person(scale=2.0)) == pytest.approx(2.0 * (160 - 6))
    assert body_height(np.zeros((25, 3))) == 0.0


# ---- flicker ---------------------------------------------------------------------------------

def test_static_sequence_has_no_flicker() -> None:
    frame = _image()
    st = flicker_stats([frame] * 6)
    assert st.frames == 6 and st.change == 0.0 and st.jitter == 0.0


def test_flickering_sequence_has_large_jitter_steady_motion_small() -> None:
    base = np.full((32, 32, 3), 100, np.uint8)
    flicker = [base + (20 if t % 2 else 0) for t in range(8)]  # +-20 every other frame
    st = flicker_stats(np.stack(flicker))
    assert st.change == pytest.approx(20.0)
    assert st.jitter == pytest.approx(40.0)  # |f+1 - 2f + f-1| = 40
    ramp = [np.full((32, 32, 3), 50 + 5 * t, np.uint8) for t in range(8)]  # steady brightening
    st2 = flicker_stats(ramp)
    assert st2.change == pytest.approx(5.0) and st2.jitter == pytest.approx(0.0)


def test_flicker_meter_too_few_frames_and_break_run() -> None:
    assert flicker_stats([]).change is None
    one = flicker_stats([np.zeros((4, 4, 3), np.uint8)] * 2)
    assert one.change == 0.0 and one.jitter is None
    m = FlickerMeter()
    m.update(np.zeros((4, 4, 3), np.uint8))
    m.break_run()
    m.update(np.full((4, 4, 3), 200, np.uint8))  # across a gap: not differenced
    assert m.result().change is None
