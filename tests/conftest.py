"""Shared test fixtures: synthetic dancer clips made by the project's own renderer (never
downloaded). Session-scoped, so each clip is rendered once per test run (< 1 s each)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from rtmotion.pose.posefile import PoseSequence


@dataclass(frozen=True)
class DancerClip:
    """A synthetic test video and its exact ground truth.

    Attributes:
        video: MP4 path (H.264, `size`, `fps`; AAC beat if `audio`).
        poses: the ground-truth pose file (.npz), one pose per video frame.
        seq: the same ground truth, loaded.
    """

    video: Path
    poses: Path
    seq: PoseSequence
    character: str = "ada"
    motion: str = "dance"
    seconds: float = 2.0
    size: tuple[int, int] = (256, 256)
    fps: Fraction = Fraction(30)
    audio: bool = False

    @property
    def num_frames(self) -> int:
        return len(self.seq)


def _make_clip(folder: Path, audio: bool) -> DancerClip:
    from rtmotion.synthetic import write_dancer_video

    name = "ada_dance_audio" if audio else "ada_dance"
    video, poses = folder / f"{name}.mp4", folder / f"{name}.npz"
    seq = write_dancer_video(video, character="ada", motion="dance", seconds=2.0, size=(256, 256),
                             fps=30, seed=0, poses_path=poses, audio=audio)
    return DancerClip(video=video, poses=poses, seq=seq, audio=audio)


@pytest.fixture(scope="session")
def dancer_clip(tmp_path_factory: pytest.TempPathFactory) -> DancerClip:
    """2 s, 256x256, 30 fps MP4 of "ada" dancing (60 frames, no audio) + ground truth."""
    return _make_clip(tmp_path_factory.mktemp("dancer"), audio=False)


@pytest.fixture(scope="session")
def dancer_clip_audio(tmp_path_factory: pytest.TempPathFactory) -> DancerClip:
    """Same as `dancer_clip` with a beat track (AAC, 44.1 kHz) muxed in."""
    return _make_clip(tmp_path_factory.mktemp("dancer_audio"), audio=True)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run with one torch intra-op thread. The test models are tiny: one thread is as fast as
    two, and on a loaded 2-core machine torch's spinning pool made 10 s runs take 100 s."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


@pytest.fixture
def single_torch_thread() -> Iterator[None]:
    """Function-scoped `one_torch_thread` (use with autouse in a folder's conftest)."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def torch_thread_limiter():
    """`one_torch_thread` for session-scoped fixtures."""
    return one_torch_thread


_TEST_CACHE: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Tests never write in the user's real cache (~/.cache/rtmotion): RTMOTION_CACHE_DIR points
    at a temporary folder for the whole run (CLI subprocesses inherit it); removed at the end."""
    global _TEST_CACHE
    _TEST_CACHE = tempfile.mkdtemp(prefix="rtmotion-test-cache-")
    os.environ["RTMOTION_CACHE_DIR"] = _TEST_CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    if _TEST_CACHE is not None:
        shutil.rmtree(_TEST_CACHE, ignore_errors=True)
