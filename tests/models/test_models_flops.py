"""FLOP and parameter counting, and the size budget against pix2pixHD."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rtmotion.models.config import generator_preset
from rtmotion.models.flops import (
    count_flops,
    count_params,
    generator_stats,
    median_ms,
    pix2pixhd_stats,
    time_forward,
)
from rtmotion.models.generator import PoseGenerator, example_inputs


def test_single_conv_matches_hand_count() -> None:
    conv = nn.Conv2d(5, 7, 3, stride=2, padding=1)
    x = torch.zeros(1, 5, 20, 30)
    # Output 10 x 15; one multiply-add = 2 FLOPs per (out pixel, out ch, in ch, tap).
    assert count_flops(conv, x) == 2 * 10 * 15 * 7 * 5 * 3 * 3
    assert count_params(conv) == 7 * 5 * 3 * 3 + 7
    # Linear in the batch.
    assert count_flops(conv, torch.zeros(3, 5, 20, 30)) == 3 * count_flops(conv, x)


def test_generator_stats_on_meta_match_a_real_run() -> None:
    cfg = generator_preset("tiny", (64, 64))
    stats = generator_stats(cfg)
    gen = PoseGenerator(cfg).eval()
    assert stats.params == count_params(gen) > 0
    assert stats.flops == count_flops(gen, *example_inputs(cfg).values()) > 0
    # Fully convolutional: FLOPs scale with the pixel count.
    assert generator_stats(cfg.with_(resolution=(128, 128))).flops == pytest.approx(
        4 * stats.flops, rel=0.01
    )


def test_pix2pixhd_reference_size() -> None:
    s = pix2pixhd_stats((256, 256))
    # The paper's G1 at ngf=64 has about 182M parameters (9 residual blocks at 1024 channels).
    assert 175e6 < s.params < 190e6
    # Hand count of the 9 residual blocks alone: 18 convs 3x3 1024->1024 on 16x16.
    assert s.flops > 2 * 18 * 9 * 1024 * 1024 * 16 * 16


@pytest.mark.parametrize("res", [128, 256, 512])
def test_default_is_far_smaller_than_pix2pixhd(res: int) -> None:
    ours = generator_stats(generator_preset("small", (res, res)))
    ref = pix2pixhd_stats((res, res))
    assert ours.flops < 0.05 * ref.flops
    assert ours.params < 0.05 * ref.params


def test_time_forward() -> None:
    conv = nn.Conv2d(3, 3, 3)
    times = time_forward(conv, [torch.zeros(1, 3, 16, 16)], warmup=1, reps=3)
    assert len(times) == 3 and all(t > 0 for t in times) and median_ms(times) > 0
