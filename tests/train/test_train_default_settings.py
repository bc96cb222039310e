"""`rtmotion train` with the default settings on a synthetic clip (slow: real MediaPipe
extraction and a real, short, budgeted training run on the CPU)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rtmotion.cli import main
from rtmotion.train.checkpoint import load_checkpoint
from rtmotion.train.machine_settings import recipe_for


@pytest.mark.slow
@pytest.mark.mediapipe
def test_default_settings_make_a_scored_subject(tmp_path: Path, caplog) -> None:
    from rtmotion.synthetic import write_dancer_video

    video = tmp_path / "ada.mp4"
    write_dancer_video(video, character="ada", motion="dance", seconds=8.0, size=(256, 256),
                       fps=30, seed=0)
    out = tmp_path / "subjects" / "ada"
    with caplog.at_level(logging.INFO):
        # no flag but the budget: extraction, settings, steps and LR schedule are the defaults
        assert main(["train", "--video", str(video), "-o", str(out), "--minutes", "1.5"]) == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    info = json.loads((out / "subject.json").read_text())
    t = info["training"]
    if recipe_for("cuda" if t["device"].startswith("cuda") else "cpu").kind == "cpu":
        # the CPU recipe, said before starting with the expected step time and what fits
        assert "settings for" in text and "resolution 128x128 (machine)" in text
        assert "s per step (calibrated estimate)" in text and "steps fit in --minutes 1.5" in text
        assert tuple(info["resolution"]) == (128, 128) and t["d_channels"] == 32
        assert "gan off (machine)" in text and t["adversarial"] is False  # L1 + SSIM alone
        assert t["fitted_to_minutes"] and t["lr_decay_steps"] > 0
        if t["steps"] >= 8:  # (a machine loaded by other jobs may fit only a few steps)
            # the step time was measured and the learning rate decayed as the budget ran out
            assert "measured" in text and "training to step" in text
            ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
            assert ckpt["opt_g"]["param_groups"][0]["lr"] < 0.5 * t["lr"]
    # the score the bundle reports: held-out frames, usable on this easy clip
    q = info["quality"]
    assert q["frames"] > 0 and q["heldout_body_ssim"] >= 0.8 and q["usable"]
    assert f"held-out body SSIM {q['heldout_body_ssim']:.3f}" in text
    # and its fit: blocks of the frames it trained on, drawn without their own keyframes
    fit = q["training_fit"]
    assert fit["frames"] > 0 and len(fit["blocks"]) == 2
    assert q["converged"] == (fit["body_ssim"] >= q["levels"]["fit_body_ssim"]
                              and fit["face_ssim"] >= q["levels"]["fit_face_ssim"])
    assert f"on frames it trained on body SSIM {fit['body_ssim']:.3f}" in text
    assert info["source_video"]["pose_file"].endswith("extracted.npz")
