"""Pose sources: per-image extractors (MediaPipe, replays) and whole-sequence loaders
(OpenPose JSON, pose files, synthetic ground truth). See `base` for the interface."""

from rtmotion.pose.extractors.base import (
    PoseExtractor,
    SequenceReplay,
    available_extractors,
    available_loaders,
    get_extractor,
    load_sequence,
    register_extractor,
    register_loader,
)

__all__ = [
    "PoseExtractor", "SequenceReplay", "available_extractors", "available_loaders",
    "get_extractor", "load_sequence", "register_extractor", "register_loader",
]
