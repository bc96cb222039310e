"""PoseGenerator: shapes, ranges, gate blending, configs, determinism, a quick overfit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rtmotion.models.config import (
    DEFAULT_PRESET,
    GENERATOR_PRESETS,
    GeneratorConfig,
    generator_preset,
)
from rtmotion.models.generator import (
    GeneratorForExport,
    PoseGenerator,
    blend,
    build_generator,
    example_inputs,
    input_names,
    input_shapes,
)

RES = (64, 48)  # W, H: not square, to catch W/H mix-ups


def _inputs(cfg: GeneratorConfig, batch: int = 2) -> dict[str, torch.Tensor]:
    return example_inputs(cfg, batch=batch, seed=1)


@pytest.mark.parametrize("preset", sorted(GENERATOR_PRESETS))
def test_presets_shapes_dtypes_ranges(preset: str) -> None:
    cfg = generator_preset(preset, RES)
    gen = PoseGenerator(cfg).eval()
    x = _inputs(cfg)
    with torch.no_grad():
        frame, gate, synth = gen(*x.values())
    w, h = RES
    assert frame.shape == synth.shape == (2, 3, h, w)
    assert gate.shape == (2, 1, h, w)
    for t in (frame, gate, synth):
        assert t.dtype == torch.float32
        assert torch.isfinite(t).all()
    assert frame.abs().max() <= 1.0 and synth.abs().max() <= 1.0
    assert gate.min() >= 0.0 and gate.max() <= 1.0
    # Masked-out pixels can never take the warped value.
    mask = x["prev_mask"]
    assert torch.all(gate[mask == 0] == 0)
    assert torch.allclose(frame, blend(gate, x["warped_prev"], synth))


def test_default_preset_is_small_and_256() -> None:
    assert DEFAULT_PRESET == "small"
    assert GeneratorConfig().resolution == (256, 256)
    assert GeneratorConfig().pose_channels == 25


def _force_gate(gen: PoseGenerator, logit: float) -> None:
    with torch.no_grad():
        gen.head.weight[3].zero_()
        gen.head.bias[3].fill_(logit)


def test_gate_one_gives_warped_prev_exactly_and_zero_gives_synthesized() -> None:
    cfg = generator_preset("tiny", RES)
    gen = PoseGenerator(cfg).eval()
    x = _inputs(cfg)
    ones = torch.ones_like(x["prev_mask"])
    with torch.no_grad():
        _force_gate(gen, 1000.0)  # sigmoid -> exactly 1.0 in float32
        frame, gate, _ = gen(x["pose_maps"], x["warped_prev"], ones)
        assert torch.all(gate == 1.0)
        assert torch.equal(frame, x["warped_prev"])
        _force_gate(gen, -1000.0)  # sigmoid -> exactly 0.0
        frame, gate, synth = gen(x["pose_maps"], x["warped_prev"], ones)
        assert torch.all(gate == 0.0)
        assert torch.equal(frame, synth)


def test_blend_math() -> None:
    w = torch.tensor([0.3, -0.7, 1.0])
    s = torch.tensor([0.1, 0.9, -1.0])
    assert torch.equal(blend(torch.ones(3), w, s), w)
    assert torch.equal(blend(torch.zeros(3), w, s), s)
    assert torch.allclose(blend(torch.full((3,), 0.25), w, s), 0.25 * w + 0.75 * s)


def test_no_previous_frame() -> None:
    cfg = generator_preset("tiny", RES)
    gen = PoseGenerator(cfg).eval()
    x = _inputs(cfg)
    with torch.no_grad():
        frame, gate, synth = gen(x["pose_maps"])  # first frame: nothing to warp
        assert torch.all(gate == 0) and torch.equal(frame, synth)
        # Same as passing a blank frame with a zero mask explicitly.
        f2, _, _ = gen(x["pose_maps"], torch.zeros_like(x["warped_prev"]),
                       torch.zeros_like(x["prev_mask"]))
    assert torch.equal(frame, f2)
    # What lies under a zero mask is never seen: any content gives the same output.
    with torch.no_grad():
        f3, _, _ = gen(x["pose_maps"], torch.rand_like(x["warped_prev"]),
                       torch.zeros_like(x["prev_mask"]))
    assert torch.equal(frame, f3)


def test_without_prev_input() -> None:
    cfg = generator_preset("tiny", RES, use_prev=False)
    assert cfg.in_channels == cfg.pose_channels
    assert input_names(cfg) == ["pose_maps"]
    gen = PoseGenerator(cfg).eval()
    with torch.no_grad():
        frame, gate, synth = gen(*_inputs(cfg).values())
    assert torch.all(gate == 0) and torch.equal(frame, synth)


def test_pose_channel_count_comes_from_config() -> None:
    cfg = generator_preset("tiny", RES, pose_channels=7)
    gen = PoseGenerator(cfg)
    x = _inputs(cfg)
    assert x["pose_maps"].shape[1] == 7
    gen(*x.values())
    with pytest.raises(ValueError, match="expects 7"):
        gen(torch.zeros(1, 25, RES[1], RES[0]))


@pytest.mark.parametrize(
    "changes",
    [
        {"norm": "batch"},
        {"norm": "none"},
        {"upsample": "transposed"},
        {"skip": "concat"},
        {"skip": "none"},
        {"res_block": "plain", "dec_blocks": 1},
        {"use_prev_mask": False},
        {"full_res": "separable"},
    ],
)
def test_variants_run(changes: dict) -> None:
    cfg = generator_preset("tiny", RES, **changes)
    gen = PoseGenerator(cfg).eval()
    with torch.no_grad():
        frame, gate, _ = gen(*_inputs(cfg).values())
    assert frame.shape == (2, 3, RES[1], RES[0]) and gate.shape == (2, 1, RES[1], RES[0])


def test_separable_full_resolution_is_cheaper_with_the_same_receptive_field() -> None:
    """`full_res="separable"`: only the stem and the last refinement change; their MACs fall to
    about a seventh, and an output pixel still sees its 3x3 neighbours through the stem alone
    (a dense 3x3 stem and its separable form both reach one pixel further each way)."""
    from rtmotion.models.blocks import SeparableConv
    from rtmotion.models.flops import generator_stats

    dense = generator_preset("small", (128, 128), use_reference=True, plate_input=True)
    light = dense.with_(full_res="separable")
    net = PoseGenerator(light)
    assert isinstance(net.body.stem, SeparableConv)
    assert isinstance(net.body.ups[-1].refine, SeparableConv)
    assert not any(isinstance(up.refine, SeparableConv) for up in net.body.ups[:-1])
    # the full-resolution convs of the dense form: stem 39->24 3x3, refine 24->24 3x3, per pixel
    saved = (39 * 24 * 9 - (39 * 24 + 24 * 9)) + (24 * 24 * 9 - (24 * 9 + 24 * 24))
    drop = generator_stats(dense).flops - generator_stats(light).flops
    assert drop == 2 * saved * 128 * 128
    # the stem's reach: a change at one input pixel moves the stem's output in a 3x3 window
    # (without normalization, whose statistics reach every pixel)
    stem = PoseGenerator(light.with_(norm="none")).body.stem.eval()
    x = torch.zeros(1, light.in_channels, 9, 9)
    with torch.no_grad():
        base = stem(x)
        x[0, :, 4, 4] = 1.0
        moved = (stem(x) - base).abs().sum(1)[0] > 0
    assert moved[3:6, 3:6].all() and not moved[:3].any() and not moved[6:].any()
    with pytest.raises(ValueError, match="full_res"):
        GeneratorConfig(full_res="sparse")


def test_config_roundtrip_and_validation() -> None:
    cfg = generator_preset("small", (512, 256))
    data = json.loads(json.dumps(cfg.to_dict()))  # as stored in a checkpoint
    assert GeneratorConfig.from_dict(data) == cfg
    assert build_generator(data).config == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        GeneratorConfig.from_dict({**data, "ngf": 3})
    with pytest.raises(ValueError, match="divisible"):
        GeneratorConfig(resolution=(250, 256), n_down=3)
    with pytest.raises(ValueError, match="norm"):
        GeneratorConfig(norm="group")
    with pytest.raises(ValueError, match="unknown generator preset"):
        generator_preset("huge")


def test_determinism_with_fixed_seed() -> None:
    cfg = generator_preset("tiny", RES)
    torch.manual_seed(123)
    a = PoseGenerator(cfg).eval()
    torch.manual_seed(123)
    b = PoseGenerator(cfg).eval()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    x = _inputs(cfg)
    with torch.no_grad():
        assert torch.equal(a(*x.values())[0], b(*x.values())[0])
        assert torch.equal(a(*x.values())[0], a(*x.values())[0])


def test_export_wrapper_names_and_outputs() -> None:
    cfg = generator_preset("tiny", RES)
    wrapper = GeneratorForExport(PoseGenerator(cfg).eval())
    assert wrapper.input_names == ["pose_maps", "warped_prev", "prev_mask"]
    assert wrapper.output_names == ["frame", "gate"]
    shapes = input_shapes(cfg, batch=3)
    assert shapes["pose_maps"] == (3, 25, 48, 64) and shapes["prev_mask"] == (3, 1, 48, 64)
    with torch.no_grad():
        frame, gate = wrapper(*example_inputs(cfg, batch=3).values())
    assert frame.shape == (3, 3, 48, 64) and gate.shape == (3, 1, 48, 64)
    with pytest.raises(ValueError, match="expected inputs"):
        wrapper(torch.zeros(3, 25, 48, 64))


def test_few_steps_reduce_l1_on_a_fixed_batch() -> None:
    """Quick overfit check: the network and its gradients are wired correctly."""
    torch.manual_seed(0)
    cfg = generator_preset("tiny", (32, 32))
    gen = PoseGenerator(cfg).train()
    x = example_inputs(cfg, batch=2, seed=3)
    target = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    opt = torch.optim.Adam(gen.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        frame, _, _ = gen(*x.values())
        loss = (frame - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_background_plate_is_a_buffer_and_an_input() -> None:
    """background_plate: 3 more input channels from a buffer saved with the weights."""
    cfg = generator_preset("tiny", (32, 24), background_plate=True)
    assert cfg.in_channels == generator_preset("tiny", (32, 24)).in_channels + 3
    torch.manual_seed(0)
    gen = PoseGenerator(cfg).eval()
    assert "background" in gen.state_dict() and gen.background.shape == (1, 3, 24, 32)
    plate = np.zeros((24, 32, 3), np.uint8)
    plate[:, 16:] = 255
    gen.set_background(plate)
    assert gen.background[0, :, 0, 0].tolist() == [-1.0, -1.0, -1.0]
    assert gen.background[0, :, 0, 31].tolist() == [1.0, 1.0, 1.0]
    maps = torch.rand(2, 25, 24, 32)
    with torch.no_grad():
        a, _, _ = gen(maps, None)
        gen.set_background(255 - plate)
        b, _, _ = gen(maps, None)
    assert not torch.allclose(a, b)  # the network sees the plate
    again = PoseGenerator(cfg)
    again.load_state_dict(gen.state_dict())
    assert torch.equal(again.background, gen.background)
    with pytest.raises(ValueError, match="background plate has shape"):
        gen.set_background(np.zeros((32, 24, 3), np.uint8))
    with pytest.raises(ValueError, match="pose_maps are 16x16"):
        gen(torch.rand(1, 25, 16, 16), None)
    with pytest.raises(ValueError, match="without background_plate"):
        PoseGenerator(generator_preset("tiny", (32, 24))).set_background(plate)


# ---- the appearance reference (use_reference) ---------------------------------------------

def test_choose_is_a_masked_softmax() -> None:
    from rtmotion.models.generator import choose

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 6, generator=g) * 3
    masks = (torch.rand(2, 3, 5, 6, generator=g) > 0.4).float()
    w = choose(logits, masks)
    assert w.shape == (2, 4, 5, 6)
    torch.testing.assert_close(w.sum(1), torch.ones(2, 5, 6))
    assert torch.all(w[:, :3][masks == 0] == 0)                   # a masked candidate: exactly 0
    # The oracle: softmax over the unmasked logits and the own image's fixed 0.
    full = torch.cat([logits, torch.zeros(2, 1, 5, 6)], 1)
    full = torch.where(torch.cat([masks, torch.ones(2, 1, 5, 6)], 1) > 0, full, torch.tensor(-torch.inf))
    torch.testing.assert_close(w, torch.softmax(full, 1))
    # One candidate with a binary mask is the sigmoid gate of the generator without a reference.
    one = choose(logits[:, :1], masks[:, :1])
    torch.testing.assert_close(one[:, :1], torch.sigmoid(logits[:, :1]) * masks[:, :1])


def _ref_generator(bias: tuple[float, float, float]) -> PoseGenerator:
    """A tiny reference generator whose head ignores its input: fixed logits `bias`
    (prev, warped keyframe, unwarped keyframe) and an own image of 0."""
    gen = PoseGenerator(generator_preset("tiny", (32, 32), use_reference=True)).eval()
    with torch.no_grad():
        gen.head.weight.zero_()
        gen.head.bias.zero_()
        gen.head.bias[3:6] = torch.tensor(bias)
    return gen


def test_reference_candidates_pass_real_pixels_through() -> None:
    cfg = generator_preset("tiny", (32, 32), use_reference=True)
    assert cfg.in_channels == 25 + 4 + 7 and cfg.out_channels == 6
    assert input_names(cfg) == ["pose_maps", "warped_prev", "prev_mask", "ref_warped", "ref_mask",
                                "ref_image"]
    ex = example_inputs(cfg, batch=2)
    with torch.no_grad():
        # A huge warped-keyframe logit: the warped keyframe where its warp is valid; where it is
        # not, the prev / unwarped keyframe / own image share by their logits (all 0 here).
        frame, gate, synth = _ref_generator((0.0, 60.0, 0.0))(*ex.values())
        valid = ex["ref_mask"].expand(-1, 3, -1, -1) > 0
        torch.testing.assert_close(frame[valid], ex["ref_warped"][valid])
        pm = ex["prev_mask"]
        expect = (pm * ex["warped_prev"] + ex["ref_image"]) / (pm + 2.0)  # own image is 0
        torch.testing.assert_close(frame[~valid], expect.expand(-1, 3, -1, -1)[~valid])
        torch.testing.assert_close(gate, torch.where(ex["ref_mask"] > 0, 0.0, pm / (pm + 2.0)))
        assert torch.all(synth == 0)
        # The unwarped keyframe wins everywhere with its logit high.
        frame, _, _ = _ref_generator((0.0, 0.0, 60.0))(*ex.values())
        torch.testing.assert_close(frame, ex["ref_image"])
        # No reference given (None): neither keyframe candidate may be chosen.
        frame, gate, _ = _ref_generator((0.0, 60.0, 60.0))(ex["pose_maps"], ex["warped_prev"], pm)
        torch.testing.assert_close(frame, pm * ex["warped_prev"] / (pm + 1.0))


def test_reference_needs_the_previous_frame_inputs() -> None:
    with pytest.raises(ValueError, match="use_reference needs"):
        generator_preset("tiny", (32, 32), use_reference=True, use_prev_mask=False)


def test_untrained_reference_generator_starts_near_the_warped_keyframe() -> None:
    torch.manual_seed(0)
    cfg = generator_preset("tiny", (32, 32), use_reference=True)
    gen = PoseGenerator(cfg).eval()
    ex = example_inputs(cfg)
    ex["ref_mask"] = torch.ones_like(ex["ref_mask"])
    ex["prev_mask"] = torch.zeros_like(ex["prev_mask"])
    with torch.no_grad():
        frame, _, synth = gen(*ex.values())
    err_ref = (frame - ex["ref_warped"]).abs().mean()
    err_syn = (frame - synth).abs().mean()
    assert err_ref < 0.5 * err_syn  # reference_bias_init: training starts from the real pixels
