"""Pure helpers of rtmotion.io: frame-rate parsing, rotation, even sizes, display matrices."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest

from rtmotion.io._common import apply_rotation, even_size, normalize_rotation, to_fraction
from rtmotion.io.info import display_matrix_rotation


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (30, Fraction(30)),
        (Fraction(30000, 1001), Fraction(30000, 1001)),
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (25.0, Fraction(25)),
        (12.5, Fraction(25, 2)),
        (30.0, Fraction(30)),
    ],
)
def test_to_fraction(given: object, expected: Fraction) -> None:
    assert to_fraction(given) == expected


@pytest.mark.parametrize("bad", [0, -5, 0.0, float("nan"), float("inf")])
def test_to_fraction_rejects_bad_rates(bad: object) -> None:
    with pytest.raises(ValueError):
        to_fraction(bad)


def test_apply_rotation_clockwise() -> None:
    img = np.zeros((4, 6, 3), np.uint8)
    img[0, 0] = 255  # top-left marker
    assert apply_rotation(img, 0) is img
    r90 = apply_rotation(img, 90)  # clockwise: top-left -> top-right
    assert r90.shape == (6, 4, 3) and r90[0, -1, 0] == 255 and r90.flags.c_contiguous
    r180 = apply_rotation(img, 180)
    assert r180.shape == (4, 6, 3) and r180[-1, -1, 0] == 255
    r270 = apply_rotation(img, 270)  # clockwise 270 = counter-clockwise 90: top-left -> bottom-left
    assert r270.shape == (6, 4, 3) and r270[-1, 0, 0] == 255
    assert np.array_equal(apply_rotation(img, -90), r270)


def test_normalize_rotation() -> None:
    assert [normalize_rotation(d) for d in (0, 89.6, -90, 180, -180, 270, 360, 450)] == [0, 90, 270, 180, 180, 270, 0, 90]


def test_even_size() -> None:
    assert even_size(321, 239, "yuv420p") == (322, 240)
    assert even_size(64, 48, "yuv420p") == (64, 48)
    assert even_size(321, 239, "yuv422p") == (322, 239)
    assert even_size(321, 239, "yuv444p") == (321, 239)


def _matrix(ccw_degrees: float) -> bytes:
    """A display matrix (FFmpeg layout, 16.16 fixed point) for a counter-clockwise rotation;
    the same bytes PyAV's `set_display_rotation` stores (checked in the test below)."""
    r = math.radians(-ccw_degrees)
    c, s = math.cos(r), math.sin(r)
    fx = 1 << 16
    m = [round(c * fx), round(s * fx), 0, round(-s * fx), round(c * fx), 0, 0, 0, 1 << 30]
    return struct.pack("=9i", *m)


@pytest.mark.parametrize("ccw", [0, 90, -90, 180])
def test_display_matrix_rotation(ccw: int) -> None:
    got = display_matrix_rotation(_matrix(ccw))
    assert normalize_rotation(got) == normalize_rotation(ccw)


def test_display_matrix_from_pyav_matches(media) -> None:  # type: ignore[no-untyped-def]
    """The matrix PyAV/FFmpeg stores decodes to the angle PyAV reports (where both exist)."""
    import av

    path = media("rot90.mp4")
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        matrices = [bytes(sd) for sd in frame.side_data if "DISPLAYMATRIX" in str(getattr(sd, "type", ""))]
        if not matrices:
            pytest.skip("this PyAV/FFmpeg does not attach the display matrix to frames")
        assert normalize_rotation(display_matrix_rotation(matrices[0])) == 90
        assert matrices[0] == _matrix(90)
        if getattr(frame, "rotation", None) is not None:
            assert normalize_rotation(frame.rotation) == 90
