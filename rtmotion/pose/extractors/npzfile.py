"""Replay an existing rtmotion pose file (.npz) as a sequence or frame by frame."""

from __future__ import annotations

from pathlib import Path

from rtmotion.pose.extractors.base import SequenceReplay
from rtmotion.pose.posefile import PoseSequence


def load_npz(path: str | Path) -> PoseSequence:
    """The pose file at `path` (InputError naming it if it is not one)."""
    return PoseSequence.load(path)


class NpzReplayExtractor(SequenceReplay):
    """Per-frame replay of a pose file: call i returns frame i (see `SequenceReplay`)."""

    name = "npz"

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        super().__init__(load_npz(path), loop=loop)
        self.path = Path(path)

    def describe(self) -> str:
        return f"npz:{self.path.name}"
