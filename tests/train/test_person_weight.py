"""The person-weighted L1 loss (rtmotion.train.person_weight) on frames of the synthetic renderer,
whose empty room is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.models.losses import l1_loss
from rtmotion.pose.boxes import body_box
from rtmotion.synthetic.generate import render_sequence
from rtmotion.synthetic.render import Renderer
from rtmotion.train.dataset import to_model_range
from rtmotion.train.person_weight import (
    GROW_PIXELS,
    ROOM_BELOW,
    body_box_masks,
    person_mask,
    person_weights,
)

SIZE = (96, 96)


@pytest.fixture(scope="module")
def frames_and_room() -> tuple[torch.Tensor, torch.Tensor]:
    """(frames T x 3 x H x W, the empty room 1 x 3 x H x W), float in [-1, 1]."""
    frames, _ = render_sequence("bruno", "dance", seconds=1, size=SIZE, fps=10, supersample=1,
                                background="room")
    room = Renderer("bruno", SIZE, supersample=1, background="room").background
    to_t = lambda a: to_model_range(torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2))  # noqa: E731
    return to_t(np.stack(list(frames))), to_t(room[None])


def test_the_mask_is_the_person_and_nothing_else(frames_and_room) -> None:
    frames, room = frames_and_room
    mask = person_mask(frames, room)
    assert mask.shape == (len(frames), 1, SIZE[1], SIZE[0]) and mask.dtype == torch.float32
    assert 0.0 <= float(mask.min()) and float(mask.max()) <= 1.0
    changed = (frames - room).abs().amax(dim=1, keepdim=True) > 2 * 40 / 255  # clearly not room
    assert int(changed.sum()) > 500
    assert float(mask[changed].mean()) > 0.99  # every clearly changed pixel is the person
    # pixels that differ from the room at all are the person, their shadow, or the grown edge;
    # the room beyond that weighs as room
    touched = (frames - room).abs().mean(dim=1, keepdim=True) > ROOM_BELOW
    k = 2 * GROW_PIXELS + 1
    far = torch.nn.functional.max_pool2d(touched.float(), k, stride=1, padding=GROW_PIXELS) == 0
    assert int(far.sum()) > 0.5 * far.numel() and float(mask[far].max()) == 0.0
    assert 0.02 < float(mask.mean()) < 0.5


def test_the_room_itself_is_all_room(frames_and_room) -> None:
    _, room = frames_and_room
    noisy = (room + 0.02 * torch.randn_like(room)).clamp(-1, 1)  # ~2.5/255 of noise
    assert float(person_mask(noisy, room).max()) == 0.0


def test_weights_and_the_weighted_loss(frames_and_room) -> None:
    frames, room = frames_and_room
    w = person_weights(frames, room, 5.0)
    mask = person_mask(frames, room)
    assert torch.allclose(w, 1.0 + 4.0 * mask)
    assert torch.equal(person_weights(frames, room, 1.0), torch.ones_like(w))
    fake = torch.zeros_like(frames)
    # uniform weights (or none) give the plain mean absolute difference
    plain = (fake - frames).abs().mean()
    assert torch.allclose(l1_loss(fake, frames, None), plain)
    assert torch.allclose(l1_loss(fake, frames, torch.ones_like(w)), plain)
    # an error only on the person counts more with the weights, one only on the room less
    on_person = frames + 0.5 * mask
    on_room = frames + 0.5 * (1.0 - mask)
    assert l1_loss(on_person, frames, w) > l1_loss(on_person, frames, None)
    assert l1_loss(on_room, frames, w) < l1_loss(on_room, frames, None)
    # the expected value: sum(w * |e|) / sum(w) per channel-pixel
    err = (on_person - frames).abs()
    expect = (err * w).sum() / (w.sum() * 3)
    assert torch.allclose(l1_loss(on_person, frames, w), expect)


def test_a_wrong_plate_gives_near_uniform_weights(frames_and_room) -> None:
    """A moving camera: the plate is the room shifted, so most of the frame differs from it and
    the weights come out near uniform (the plain loss), not a wrong person."""
    frames, room = frames_and_room
    shifted = torch.roll(room, shifts=(7, 11), dims=(2, 3))
    assert float(person_mask(frames, shifted).mean()) > float(person_mask(frames, room).mean())


def test_body_box_masks_are_evals_body_boxes() -> None:
    """The SSIM loss's region (`TrainConfig.ssim_region="body"`) is exactly the box eval scores
    body SSIM on (`rtmotion.pose.boxes.body_box`, margin 0.15): random poses, some joints
    missing, some reaching past the frame's edges."""
    rng = np.random.default_rng(0)
    w, h = 64, 48
    kps = np.zeros((40, 25, 3), np.float32)
    kps[..., 0] = rng.uniform(-10, w + 10, (40, 25))
    kps[..., 1] = rng.uniform(-10, h + 10, (40, 25))
    kps[..., 2] = rng.uniform(0, 1, (40, 25))
    kps[:20, :, :2] = rng.uniform(15, 35, (20, 25, 2))    # boxes inside the frame
    kps[5, :, 2] = 0.0
    kps[5, 3, 2] = 0.9                                    # one visible joint: no box
    masks = body_box_masks(torch.from_numpy(kps), (w, h)).numpy()
    assert masks.shape == (40, 1, h, w)
    for kp, mask in zip(kps, masks[:, 0]):
        box = body_box(kp, (w, h))
        want = np.ones((h, w), bool)
        if box is not None:
            x0, y0, x1, y1 = box
            want = np.zeros((h, w), bool)
            want[y0:y1, x0:x1] = True
        np.testing.assert_array_equal(mask > 0.5, want)
    assert masks[5].all() and not masks[0].all()
