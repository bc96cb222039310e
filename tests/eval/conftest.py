"""A tiny subject trained in seconds through the real CLI (`rtmotion train`), once per session.

Target: the synthetic dancer "ada" (2 s, 128x128, 30 fps, ground-truth poses), preset "tiny" at
64x64, 20 steps with a small discriminator: far from a good model, but a real bundle with a
held-out block (the last 20 %: 12 frames), a recorded source video and pose file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _single_thread(single_torch_thread: None) -> None:
    return None


@dataclass(frozen=True)
class TrainedSubject:
    folder: Path
    video: Path
    poses: Path
    root: Path


@pytest.fixture(scope="session")
def tiny_subject(tmp_path_factory: pytest.TempPathFactory, torch_thread_limiter) -> TrainedSubject:
    with torch_thread_limiter():
        return _train(tmp_path_factory)


def _train(tmp_path_factory: pytest.TempPathFactory) -> TrainedSubject:
    from rtmotion import cli
    from rtmotion.synthetic import write_dancer_video

    root = tmp_path_factory.mktemp("eval_subject")
    video, poses = root / "ada.mp4", root / "ada.npz"
    write_dancer_video(video, character="ada", motion="dance", seconds=2.0, size=(128, 128), fps=30,
                       seed=0, poses_path=poses)
    folder = root / "subjects" / "tiny-ada"
    rc = cli.main(["-q", "train", "--video", str(video), "--poses", str(poses), "-o", str(folder),
                   "--work-dir", str(root / "work"), "--preset", "tiny", "--resolution", "64x64",
                   "--steps", "20", "--batch-size", "2", "--device", "cpu", "--workers", "0",
                   "--d-channels", "16", "--d-scales", "1", "--min-pose-frames", "20",
                   "--val-fraction", "0.2", "--save-every", "1000", "--sample-every", "0",
                   "--log-every", "1000", "--no-person-segmentation"])
    assert rc == 0, "training the tiny test subject failed"
    assert (folder / "subject.json").is_file()
    return TrainedSubject(folder, video, poses, root)
