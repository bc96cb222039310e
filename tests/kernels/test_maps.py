"""Conditioning maps: the numpy reference (definition checks) and the torch version against it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.kernels.maps_numpy import PoseMapConfig, pose_maps_numpy
from rtmotion.kernels.maps_torch import pose_maps_torch
from rtmotion.pose.skeleton import BODY25, BODY25_BONES
from rtmotion.synthetic.figures import figure_keypoints, jittered

# numpy (float64) vs torch (float32): the maps agree to float32 rounding.
TOL = 1e-5


def _segment_pose(a: tuple[float, float], b: tuple[float, float], bone: int = 0) -> np.ndarray:
    """A pose with only bone `bone`'s two joints present, at a and b."""
    kp = np.zeros((25, 3), np.float32)
    i, j = BODY25.bones[bone]
    kp[i] = (*a, 1.0)
    kp[j] = (*b, 1.0)
    return kp


def test_shape_dtype_range_and_channels() -> None:
    cfg = PoseMapConfig(size=(96, 64))
    maps = pose_maps_numpy(figure_keypoints(cfg.size), cfg)
    assert maps.shape == (25, 64, 96) and maps.dtype == np.float32
    assert cfg.num_channels == 25 == len(BODY25_BONES) + 1
    assert cfg.channel_names[0] == "neck-mid_hip" and cfg.channel_names[-1] == "face"
    assert 0.0 <= maps.min() and maps.max() <= 1.0
    # every bone of a complete figure is drawn, and reaches ~1 on its segment
    assert (maps.reshape(25, -1).max(axis=1) > 0.5).all()  # sigma is 0.8 px here
    assert PoseMapConfig(size=(8, 8), face=False, hands=True).num_channels == 25
    assert PoseMapConfig(size=(8, 8), face=False).num_channels == 24


def test_values_follow_the_closed_form() -> None:
    """A horizontal bone from (10, 20) to (40, 20): value exp(-d^2/2s^2) of the segment distance."""
    cfg = PoseMapConfig(size=(64, 200), face=False)
    s = cfg.sigma
    maps = pose_maps_numpy(_segment_pose((10, 20), (40, 20)), cfg)
    ch = maps[0]
    assert ch[20, 10] == pytest.approx(1.0) and ch[20, 25] == pytest.approx(1.0)
    assert ch[22, 25] == pytest.approx(np.exp(-4 / (2 * s * s)), rel=1e-5)       # 2 px across
    assert ch[20, 43] == pytest.approx(np.exp(-9 / (2 * s * s)), rel=1e-5)       # 3 px beyond the end
    assert ch[23, 6] == pytest.approx(np.exp(-25 / (2 * s * s)), rel=1e-5)       # 3-4-5 from the end point
    # beyond the cutoff (5 sigma) exactly zero
    far = int(np.ceil(cfg.cutoff * s)) + 1
    assert ch[20 + far, 25] == 0.0 and ch[20 + far - 2, 25] > 0.0
    # every other bone channel is empty
    assert not maps[1:].any()


def test_missing_joints_are_not_drawn() -> None:
    cfg = PoseMapConfig(size=(128, 128))
    kp = figure_keypoints(cfg.size)
    full = pose_maps_numpy(kp, cfg)
    elbow = BODY25.index("r_elbow")
    kp_missing = kp.copy()
    kp_missing[elbow, 2] = 0.0  # coordinates kept: only confidence says "missing"
    part = pose_maps_numpy(kp_missing, cfg)
    touching = [c for c, (a, b) in enumerate(BODY25.bones) if elbow in (a, b)]
    assert len(touching) == 2
    for c in range(cfg.num_channels):
        if c in touching:
            assert not part[c].any()
        else:
            np.testing.assert_array_equal(part[c], full[c])
    # min_confidence raises the bar
    low = kp.copy()
    low[elbow, 2] = 0.2
    cfg_hi = PoseMapConfig(size=(128, 128), min_confidence=0.3)
    assert not pose_maps_numpy(low, cfg_hi)[touching].any()
    # no person at all: all zeros
    assert not pose_maps_numpy(np.zeros((25, 3), np.float32), cfg).any()


def test_face_and_hands_channels() -> None:
    cfg = PoseMapConfig(size=(128, 128), hands=True)
    kp = figure_keypoints(cfg.size)
    maps = pose_maps_numpy(kp, cfg)
    face, hands = maps[-2], maps[-1]
    for name in ("nose", "r_eye", "l_eye", "r_ear", "l_ear"):
        x, y = np.rint(kp[BODY25.index(name), :2]).astype(int)
        assert face[y, x] > 0.5
    # the face channel stays around the head; its points are narrower than the bones
    ys, _ = np.nonzero(face)
    assert ys.max() < kp[BODY25.index("neck"), 1]
    # hands: continue the forearm beyond the wrist, not before the elbow
    e, w = kp[BODY25.index("r_elbow"), :2], kp[BODY25.index("r_wrist"), :2]
    tip = w + cfg.hand_length_frac * (w - e)
    assert hands[int(round(tip[1])), int(round(tip[0]))] > 0.9
    mid_forearm = (e + w) / 2
    assert hands[int(round(mid_forearm[1])), int(round(mid_forearm[0]))] < 0.01
    # a missing elbow removes that hand only
    kp2 = kp.copy()
    kp2[BODY25.index("r_elbow"), 2] = 0
    hands2 = pose_maps_numpy(kp2, cfg)[-1]
    assert hands2[int(round(tip[1])), int(round(tip[0]))] < 0.01 and hands2.max() > 0.9


def test_subpixel_shift_moves_the_map_smoothly() -> None:
    """Exact function of the keypoints: an integer shift shifts the map exactly."""
    cfg = PoseMapConfig(size=(128, 128))
    kp = figure_keypoints(cfg.size, height_frac=0.6)
    a = pose_maps_numpy(kp, cfg)
    kp2 = kp.copy()
    kp2[:, 0] += 5
    b = pose_maps_numpy(kp2, cfg)
    np.testing.assert_allclose(b[:, :, 5:], a[:, :, :-5], atol=1e-6)


def test_bad_input_raises() -> None:
    cfg = PoseMapConfig(size=(32, 32))
    with pytest.raises(ValueError, match="K=25"):
        pose_maps_numpy(np.zeros((18, 3)), cfg)
    with pytest.raises(ValueError):
        PoseMapConfig(size=(0, 32))
    with pytest.raises(ValueError):
        PoseMapConfig(sigma_frac=0)
    with pytest.raises(KeyError):
        PoseMapConfig(skeleton="coco99")


@pytest.mark.parametrize("size", [(256, 256), (160, 96)])
def test_torch_matches_numpy(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    cfg = PoseMapConfig(size=size, hands=True)
    kps = np.stack([jittered(figure_keypoints(size), rng, 4.0) for _ in range(4)])
    kps[1, BODY25.index("l_elbow"), 2] = 0          # missing joints
    kps[2, BODY25.index("nose")] = 0
    kps[3, :, 2] = 0                                 # no person
    kps[0, BODY25.index("r_wrist"), :2] = (-30, 40)  # a joint outside the frame
    ref = np.stack([pose_maps_numpy(k, cfg) for k in kps])
    for windows in (True, False):
        out = pose_maps_torch(torch.from_numpy(kps), cfg, windows=windows)
        assert out.shape == (4, cfg.num_channels, size[1], size[0]) and out.dtype == torch.float32
        assert np.abs(out.numpy() - ref).max() < TOL
    assert not ref[3].any()


def test_torch_degenerate_and_large_segments() -> None:
    """Zero-length bones (a point) and bones longer than the map (full-grid fallback)."""
    cfg = PoseMapConfig(size=(64, 64), face=False)
    kp = _segment_pose((20, 20), (20, 20))
    kp2 = _segment_pose((-50, -10), (120, 80), bone=3)
    kps = np.stack([kp, kp2])
    ref = np.stack([pose_maps_numpy(k, cfg) for k in kps])
    out = pose_maps_torch(torch.from_numpy(kps), cfg).numpy()
    assert np.abs(out - ref).max() < TOL
    assert ref[0, 0, 20, 20] == pytest.approx(1.0) and ref[1, 3].max() > 0.99


def test_config_refusals_and_bounds_in_full() -> None:
    """Each refusal's whole message; the smallest accepted values (a 1 x 1 map, hands of length
    0); the size stored as two Python ints whatever numbers it was given."""
    for size in [(0, 32), (32, 0), (-1, 5)]:
        with pytest.raises(ValueError) as ei:
            PoseMapConfig(size=size)
        assert str(ei.value) == f"PoseMapConfig.size must be positive (W, H), got {size}"
    for name in ("sigma_frac", "face_sigma_frac", "cutoff"):
        with pytest.raises(ValueError) as ei:
            PoseMapConfig(**{name: 0.0})
        assert str(ei.value) == f"PoseMapConfig.{name} must be > 0, got 0.0"
    with pytest.raises(ValueError) as ei:
        PoseMapConfig(hand_length_frac=-0.5)
    assert str(ei.value) == "PoseMapConfig.hand_length_frac must be >= 0, got -0.5"
    assert PoseMapConfig(hand_length_frac=0.0).hand_length_frac == 0.0
    one = PoseMapConfig(size=(1, 1))
    assert one.size == (1, 1) and pose_maps_numpy(_segment_pose((0, 0), (0, 0)), one).shape == (25, 1, 1)
    cfg = PoseMapConfig(size=(np.int64(40), 24.0))
    assert cfg.size == (40, 24) and all(type(v) is int for v in cfg.size)
    assert (cfg.width, cfg.height) == (40, 24)


def test_bad_keypoints_are_named_with_the_shape_wanted() -> None:
    cfg = PoseMapConfig(size=(32, 32))
    with pytest.raises(ValueError) as ei:
        pose_maps_numpy(np.zeros((18, 3)), cfg)
    assert str(ei.value) == "keypoints must be (K, 3) with K=25 (body25), got (18, 3)"
    with pytest.raises(ValueError) as ei:
        pose_maps_torch(torch.zeros(2, 25, 2), cfg)
    assert str(ei.value) == "keypoints must be (B, K, 3) with K=25 (body25), got (2, 25, 2)"
    with pytest.raises(ValueError) as ei:
        pose_maps_torch(torch.zeros(25, 3), cfg)
    assert str(ei.value) == "keypoints must be (B, K, 3) with K=25 (body25), got (25, 3)"


def test_a_segment_one_cutoff_outside_the_map_touches_its_edge() -> None:
    """sigma 4 px, cutoff 5: r = 20 px exactly. A vertical bone at x = -20 is exactly r from
    column 0 (its window is that one column) and a horizontal one at y = -20 exactly r from
    row 0: those pixels get exp(-r^2 / 2 sigma^2) = exp(-12.5) (the cutoff keeps d <= r), and
    nothing else is drawn. Both implementations, both torch layouts."""
    cfg = PoseMapConfig(size=(64, 64), sigma_frac=0.0625, cutoff=5.0, face=False)
    assert cfg.sigma == 4.0
    edge = np.float32(np.exp(-12.5))
    vertical = _segment_pose((-20.0, 10.0), (-20.0, 30.0), bone=0)
    horizontal = _segment_pose((10.0, -20.0), (30.0, -20.0), bone=1)
    want_v = np.zeros((64, 64), np.float32)
    want_v[10:31, 0] = edge
    want_h = np.zeros((64, 64), np.float32)
    want_h[0, 10:31] = edge
    for kp, ch, want in ((vertical, 0, want_v), (horizontal, 1, want_h)):
        maps = pose_maps_numpy(kp, cfg)
        np.testing.assert_array_equal(maps[ch], want)
        assert not np.delete(maps, ch, axis=0).any()
        for windows in (True, False):
            got = pose_maps_torch(torch.from_numpy(kp[None]), cfg, windows=windows)[0].numpy()
            np.testing.assert_allclose(got[ch], want, rtol=1e-5, atol=0)
            assert not np.delete(got, ch, axis=0).any()
    # one more pixel out: nothing at all
    far = _segment_pose((-20.5, 10.0), (-20.5, 30.0), bone=0)
    assert not pose_maps_numpy(far, cfg).any()
    assert not pose_maps_torch(torch.from_numpy(far[None]), cfg).any()


def test_float32_keypoints_draw_the_maps_of_their_float64_values() -> None:
    """The reference works in float64 whatever it is given: float32 keypoints (exact in
    float64) give the float64 keypoints' maps bit for bit, hands' extensions included."""
    cfg = PoseMapConfig(size=(96, 80), hands=True, hand_length_frac=0.37)
    kp = jittered(figure_keypoints(cfg.size), np.random.default_rng(3), 3.0).astype(np.float32)
    kp[:, :2] += np.float32(1 / 3)
    np.testing.assert_array_equal(pose_maps_numpy(kp, cfg), pose_maps_numpy(kp.astype(np.float64), cfg))


def _bone_pose(ends: dict[int, tuple[tuple[float, float], tuple[float, float]]]) -> np.ndarray:
    kp = np.zeros((25, 3), np.float32)
    for bone, (a, b) in ends.items():
        i, j = BODY25.bones[bone]
        kp[i] = (*a, 1.0)
        kp[j] = (*b, 1.0)
    return kp


@pytest.mark.parametrize("size,ends,face", [
    # a bone longer than a narrow map's width (the window's width is capped at the map's)
    ((48, 200), {3: ((-50.0, 100.0), (120.0, 104.0))}, ()),
    # the same across a flat map's height
    ((200, 48), {3: ((100.0, -50.0), (104.0, 120.0))}, ()),
    # small primitives at each edge next to a long one: each window is shifted into the map
    ((160, 120), {2: ((5.0, 60.0), (150.0, 62.0)), 7: ((157.0, 10.0), (158.5, 30.0))},
     ((1.5, 2.0), (158.0, 117.5), (80.0, 1.0))),
    # a face point at the top edge: its window must not reach above row 0 (into another channel)
    ((160, 120), {5: ((20.0, 1.0), (60.0, 1.5))}, ((100.0, 0.5),)),
])
def test_windows_at_the_maps_edges_match_the_reference(size, ends, face, monkeypatch) -> None:
    """The windowed layout (really taken: the windows cover under half of the map) against
    the numpy reference where windows would leave the map: bones longer than the map,
    primitives against each edge, windows of different sizes in one pose."""
    import rtmotion.kernels.maps_torch as maps_torch

    cfg = PoseMapConfig(size=size, face=True)
    kp = _bone_pose(ends)
    for (x, y), name in zip(face, ("nose", "r_ear", "l_ear")):   # no bone joins them
        kp[BODY25.index(name)] = (x, y, 1.0)
    t = torch.from_numpy(kp[None])
    ref = pose_maps_numpy(kp, cfg)
    assert ref.any()
    taken = []
    real = maps_torch._render_windows

    def spy(*args):
        out = real(*args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(maps_torch, "_render_windows", spy)
    for windows in (True, False):
        got = pose_maps_torch(t, cfg, windows=windows)[0].numpy()
        assert np.abs(got - ref).max() < TOL, windows
    assert taken == [True]


def test_the_primitive_table_in_full() -> None:
    """One row per bone (parent, child, child, ext 0, its channel, the bone sigma), then the
    face points (the joint three times, ext 0, one channel, the face sigma), then the hands
    (wrist, wrist, elbow, ext hand_length_frac, one channel, the bone sigma)."""
    cfg = PoseMapConfig(size=(100, 50), face=True, hands=True, hand_length_frac=0.3)
    prim = cfg.primitives
    n = len(BODY25.bones)
    face = [BODY25.index(j) for j in ("nose", "r_eye", "l_eye", "r_ear", "l_ear")]
    hands = [(BODY25.index(w), BODY25.index(e)) for e, w in (("r_elbow", "r_wrist"), ("l_elbow", "l_wrist"))]
    rows = [(a, b, b, 0.0, c, cfg.sigma) for c, (a, b) in enumerate(BODY25.bones)]
    rows += [(j, j, j, 0.0, n, cfg.face_sigma) for j in face]
    rows += [(w, w, e, 0.3, n + 1, cfg.sigma) for w, e in hands]
    got = list(zip(prim.j0.tolist(), prim.j1.tolist(), prim.j2.tolist(), prim.ext.tolist(),
                   prim.channel.tolist(), prim.sigma.tolist()))
    assert got == rows and prim.count == n + 7 and cfg.num_channels == n + 2
    assert prim.j0.dtype == prim.j1.dtype == prim.j2.dtype == prim.channel.dtype == np.int64
    assert prim.ext.dtype == prim.sigma.dtype == np.float64
    bare = PoseMapConfig(face=False, hands=False).primitives
    assert bare.count == n and bare.channel.tolist() == list(range(n)) and not bare.ext.any()
    only_hands = PoseMapConfig(face=False, hands=True).primitives
    assert only_hands.channel.tolist()[n:] == [n, n] and only_hands.ext.tolist()[n:] == [0.4, 0.4]
