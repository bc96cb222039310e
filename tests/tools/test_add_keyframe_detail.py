"""tools/add_keyframe_detail.py gives a subject made before the keyframe detail its file: the
same boxes as training cuts (from the keyframes' recorded origins), here from the frames of a
synthetic subject rendered again (its video is not kept)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rtmotion.subject import load_subject
from rtmotion.subject.keyframe_detail import KEYFRAME_DETAIL_FILE
from tests.pipeline.conftest import make_follow_subject
from tests.tools.tool_loader import load_tool

CAMERA = (320, 256)


def _as_synthetic(folder: Path) -> None:
    """Record the dancer make_follow_subject rendered as the subject's synthetic origin."""
    info = json.loads((folder / "subject.json").read_text())
    info["source_video"].update({"origin": "synthetic:ada/dance/seed3", "frame_count": 60, "fps": "30"})
    (folder / "subject.json").write_text(json.dumps(info))


def test_it_cuts_what_training_would_have(tmp_path: Path) -> None:
    made = make_follow_subject(tmp_path / "with", camera=CAMERA, detail=True)
    old = make_follow_subject(tmp_path / "old", camera=CAMERA)
    _as_synthetic(old)
    assert load_subject(old).keyframe_detail is None
    assert load_tool("add_keyframe_detail").main([str(old)]) == 0
    got, want = load_subject(old).keyframe_detail, load_subject(made).keyframe_detail
    assert got is not None and (old / KEYFRAME_DETAIL_FILE).is_file()
    assert np.array_equal(got.frames, want.frames) and got.size == want.size
    assert np.abs(got.images.astype(int) - want.images).mean() < 0.5
    assert json.loads((old / "subject.json").read_text())["keyframe_detail"]["size"] == list(got.size)


def test_a_subject_without_its_video_is_one_line(tmp_path: Path, capsys) -> None:
    old = make_follow_subject(tmp_path / "old", camera=CAMERA)  # real footage, video gone
    assert load_tool("add_keyframe_detail").main([str(old)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "source video is not here" in err[0]
    assert f"{old / 'subject.json'}: " in err[0]  # it records no video path: that file is named
