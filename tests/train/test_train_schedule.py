"""Schedules of the training loop (learning rate, teacher forcing) and their CLI wiring."""

from __future__ import annotations

import pytest

from rtmotion.cli import build_parser
from rtmotion.commands.train import config_from_args
from rtmotion.errors import InputError
from rtmotion.train.config import TrainConfig
from rtmotion.train.trainer import learning_rate, teacher_prob


def test_learning_rate_is_constant_then_decays_linearly_to_zero() -> None:
    cfg = TrainConfig(steps=1000, lr=2e-4, lr_decay_steps=400)
    assert learning_rate(cfg, 0) == pytest.approx(2e-4)
    assert learning_rate(cfg, 600) == pytest.approx(2e-4)  # decay starts at steps - 400
    assert learning_rate(cfg, 800) == pytest.approx(1e-4)
    assert learning_rate(cfg, 1000) == 0.0
    assert learning_rate(cfg, 1200) == 0.0  # never negative past the end
    rates = [learning_rate(cfg, s) for s in range(0, 1001, 50)]
    assert rates == sorted(rates, reverse=True)


def test_a_resumed_fitted_run_warms_its_learning_rate_up() -> None:
    # resumed at step 600, its own decay fitted to steps 600..1000, a 50-step warm-up
    cfg = TrainConfig(steps=1000, lr=2e-4, lr_decay_steps=400, lr_warmup_start=600,
                      lr_warmup_steps=50)
    assert learning_rate(cfg, 600) == pytest.approx(2e-4 / 50)  # not the full rate at once
    assert learning_rate(cfg, 624) == pytest.approx(2e-4 * 25 / 50 * 376 / 400)
    assert learning_rate(cfg, 649) == pytest.approx(2e-4 * 351 / 400)  # warm-up done
    assert learning_rate(cfg, 1000) == 0.0
    rates = [learning_rate(cfg, s) for s in range(600, 650)]
    assert rates == sorted(rates)


def test_learning_rate_without_decay() -> None:
    cfg = TrainConfig(steps=1000, lr=1e-3)
    assert {learning_rate(cfg, s) for s in (0, 500, 1000)} == {1e-3}


def test_teacher_forcing_decays_to_zero() -> None:
    cfg = TrainConfig(teacher_forcing=0.5, teacher_forcing_steps=100)
    assert teacher_prob(cfg, 0) == 0.5
    assert teacher_prob(cfg, 50) == pytest.approx(0.25)
    assert teacher_prob(cfg, 100) == 0.0 == teacher_prob(cfg, 5000)


def test_cli_passes_the_schedule_and_refuses_a_decay_longer_than_training() -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--video", "v.mp4", "-o", "out", "--steps", "500",
                              "--lr-decay-steps", "200", "--clip-length", "3"])
    cfg = config_from_args(args)
    assert (cfg.steps, cfg.lr_decay_steps, cfg.clip_length) == (500, 200, 3)
    args = parser.parse_args(["train", "--video", "v.mp4", "-o", "out", "--steps", "100",
                              "--lr-decay-steps", "200"])
    with pytest.raises(InputError, match="lr_decay_steps"):
        config_from_args(args)


def test_teacher_forcing_default_depends_on_the_reference() -> None:
    # With keyframes the warped keyframe gives early training real pixels: no teacher forcing.
    assert TrainConfig().teacher_forcing == 0.0 and TrainConfig().max_gap == 8
    assert TrainConfig(keyframes=0).teacher_forcing == 0.5
    assert TrainConfig(keyframes=0, teacher_forcing=0.2).teacher_forcing == 0.2
    # the resolved number is what a checkpoint records
    assert TrainConfig.from_dict(TrainConfig(keyframes=0).to_dict()).teacher_forcing == 0.5
