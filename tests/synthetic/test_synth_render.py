"""The renderer and its ground truth: determinism, distinct characters, keypoints on the
figure, perspective when walking, depth order, out-of-frame joints, retargeting."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtmotion.pose.skeleton import BODY25_JOINTS
from rtmotion.synthetic import (
    BACKGROUNDS,
    CHARACTERS,
    Camera,
    Renderer,
    angles_from_dict,
    get_character,
    motion_angles,
    pose_body,
    render_pose,
    render_sequence,
)

J = {n: i for i, n in enumerate(BODY25_JOINTS)}


def _frames(character: str, motion: str = "dance", seconds: float = 1.0, **kw):
    frames, seq = render_sequence(character, motion, seconds, **kw)
    return np.stack(list(frames)), seq


def test_required_characters_and_lookup() -> None:
    for name in ("ada", "bruno", "mira", "kofi"):
        assert name in CHARACTERS
    assert get_character("ada") is CHARACTERS["ada"]
    with pytest.raises(ValueError, match="ada, bruno"):
        get_character("nobody")
    heights = {CHARACTERS[n].height for n in ("ada", "bruno", "mira", "kofi")}
    assert max(heights) - min(heights) > 0.2


def test_same_seed_same_frames_other_seed_differs() -> None:
    a, sa = _frames("ada", seconds=0.5, seed=4)
    b, sb = _frames("ada", seconds=0.5, seed=4)
    c, _ = _frames("ada", seconds=0.5, seed=5)
    assert a.shape == (15, 256, 256, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa.keypoints, sb.keypoints)
    assert np.abs(a[-1].astype(int) - c[-1].astype(int)).mean() > 0.5


def test_pose_sequence_metadata() -> None:
    frames, seq = render_sequence("bruno", "idle", 1.0, size=(320, 240), fps=25, seed=2)
    assert len(seq) == 25 and seq.size == (320, 240) and seq.fps == 25
    assert seq.skeleton == "body25" and seq.extractor == "synthetic"
    assert seq.source == "synthetic:bruno/idle/seed2"
    np.testing.assert_allclose(seq.timestamps, np.arange(25) / 25)
    img = next(frames)
    assert img.shape == (240, 320, 3)
    k = seq.keypoints
    # Small toes have no MediaPipe landmark: confidence 0, zeros.
    for n in ("l_small_toe", "r_small_toe"):
        assert (k[:, J[n]] == 0).all()
    # neck / mid_hip are the 2D midpoints of shoulders / hips.
    np.testing.assert_allclose(k[:, J["neck"], :2],
                               (k[:, J["r_shoulder"], :2] + k[:, J["l_shoulder"], :2]) / 2, atol=1e-4)
    np.testing.assert_allclose(k[:, J["mid_hip"], :2],
                               (k[:, J["r_hip"], :2] + k[:, J["l_hip"], :2]) / 2, atol=1e-4)
    # Facing the camera, the person's right side is on the image's left.
    assert (k[:, J["r_shoulder"], 0] < k[:, J["l_shoulder"], 0]).all()
    assert (k[:, J["nose"], 1] < k[:, J["mid_hip"], 1]).all()
    assert (k[:, J["mid_hip"], 1] < k[:, J["r_ankle"], 1]).all()


def test_characters_look_different() -> None:
    means, sizes = {}, {}
    for name in ("ada", "bruno", "mira", "kofi"):
        r = Renderer(name, (256, 256), background="studio")
        img, kp = render_pose(name, angles_from_dict({}), renderer=r)
        bg = cv2.resize(r.background, (256, 256), interpolation=cv2.INTER_AREA)
        fig = np.abs(img.astype(int) - bg.astype(int)).sum(-1) > 40
        means[name] = img[fig].mean(0)
        ys, xs = np.nonzero(fig)
        sizes[name] = (ys.max() - ys.min(), fig.sum())
    names = list(means)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(means[a] - means[b]).max() > 12, (a, b)
    assert sizes["bruno"][0] > sizes["mira"][0] * 1.1   # taller in the image
    assert sizes["bruno"][1] > sizes["mira"][1] * 1.3   # and bulkier


@pytest.mark.parametrize("name", ["ada", "kofi", "mira", "bruno"])
def test_keypoints_lie_on_the_figure(name: str) -> None:
    r = Renderer(name, (256, 256))
    bg = cv2.resize(r.background, (256, 256), interpolation=cv2.INTER_AREA).astype(int)
    a = motion_angles("dance", 12.0, 30, seed=1)
    checked = 0
    for row in a.values[::20]:
        body = pose_body(r.character, row)
        img, kp = r.render(body).astype(int), r.keypoints(body)
        for j in ("r_wrist", "l_wrist", "r_ankle", "l_ankle", "r_knee", "l_elbow", "nose", "l_hip"):
            x, y, c = kp[J[j]]
            if c == 0:
                continue
            px, py = int(x), int(y)
            diff = np.abs(img[py, px] - bg[py, px]).sum()
            assert diff > 25, (name, j, (px, py), img[py, px], bg[py, px])
            checked += 1
    assert checked > 100


def test_walking_changes_ankle_height_and_size() -> None:
    a = motion_angles("walk", 9.0, 15, seed=0)
    _, seq = render_sequence("ada", angles=a)
    k = seq.keypoints
    ankle_y = k[:, [J["r_ankle"], J["l_ankle"]], 1].max(1)
    height = ankle_y - k[:, J["neck"], 1]
    z = a.dof("root_z")
    # Closer to the camera (larger z): feet lower in the image, body larger.
    assert np.corrcoef(z, ankle_y)[0, 1] > 0.9
    assert np.corrcoef(z, height)[0, 1] > 0.9
    assert height.max() / height.min() > 1.2
    assert ankle_y.max() - ankle_y.min() > 15


def test_depth_order_arm_in_front_covers_torso() -> None:
    r = Renderer("kofi", (256, 256), background="studio")
    skin, shirt = np.array(r.character.skin), np.array(r.character.shirt)
    front = angles_from_dict(dict(r_sh_flex=30, r_sh_abd=-35, r_elbow=90, r_sh_twist=-30))
    back = angles_from_dict(dict(r_sh_flex=-45, r_sh_abd=-35, r_elbow=85, r_sh_twist=30))
    img_f, kp_f = render_pose("kofi", front, renderer=r)
    img_b, kp_b = render_pose("kofi", back, renderer=r)
    for img, kp, visible in ((img_f, kp_f, True), (img_b, kp_b, False)):
        x, y = kp[J["r_wrist"], :2].astype(int)
        # The wrist projects inside the torso's outline in both poses...
        assert kp[J["r_shoulder"], 0] < x < kp[J["l_shoulder"], 0]
        assert kp[J["neck"], 1] < y < kp[J["mid_hip"], 1]
        patch = img[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(float).mean(0)
        d_skin = np.linalg.norm(patch - skin * 0.9)
        d_shirt = np.linalg.norm(patch - shirt * 0.9)
        # ...in front the forearm covers the shirt, behind the back the shirt hides it.
        assert (d_skin < d_shirt) == visible, (visible, patch)


def test_out_of_frame_joints_have_zero_confidence() -> None:
    close = Camera(look_at=(0.0, 1.45, 0.0), zoom=2.5)  # head and shoulders only
    _, seq = render_sequence("bruno", "idle", 0.5, camera=close)
    k = seq.keypoints
    for j in ("r_ankle", "l_ankle", "r_heel", "l_big_toe", "r_knee"):
        assert (k[:, J[j]] == 0).all(), j
    for j in ("nose", "neck", "r_shoulder"):
        assert (k[:, J[j], 2] == 1).all(), j
    w, h = seq.size
    vis = k[..., 2] > 0
    assert (k[vis][:, 0] >= 0).all() and (k[vis][:, 0] < w).all()
    assert (k[vis][:, 1] >= 0).all() and (k[vis][:, 1] < h).all()


def test_retarget_same_angles_own_bones() -> None:
    a = motion_angles("wave", 1.0, 10, seed=0)
    short, tall = get_character("mira"), get_character("bruno")
    for row in a.values[::3]:
        bs, bt = pose_body(short, row), pose_body(tall, row)
        for p, c, seg in (("r_shoulder", "r_elbow", "upper_arm"), ("l_hip", "l_knee", "thigh"),
                          ("r_knee", "r_ankle", "shin")):
            vs = bs.points[c] - bs.points[p]
            vt = bt.points[c] - bt.points[p]
            # Same direction (same joint angles), each character's own length.
            np.testing.assert_allclose(vs / np.linalg.norm(vs), vt / np.linalg.norm(vt), atol=1e-9)
            assert np.linalg.norm(vs) == pytest.approx(getattr(short.dims(), seg))
            assert np.linalg.norm(vt) == pytest.approx(getattr(tall.dims(), seg))
        # Both stand on the floor.
        for b in (bs, bt):
            low = min(b.points[f"{s}_{q}_sole"][1] for s in "rl" for q in ("heel", "toe"))
            assert low == pytest.approx(0.0, abs=1e-9)


def test_backgrounds_and_sizes() -> None:
    imgs = []
    for bg in BACKGROUNDS:
        img, _ = render_pose("ada", angles_from_dict({}), size=(200, 120), background=bg)
        assert img.shape == (120, 200, 3)
        imgs.append(img.astype(int))
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            assert np.abs(imgs[i] - imgs[j]).mean() > 10
    with pytest.raises(ValueError, match="studio"):
        Renderer("ada", background="beach")
