"""Compatibility module: the video API lives in `rtmotion.io.info` (VideoInfo), `.reader`
(VideoReader, read_frames), `.writer` (VideoWriter) and `.audio` (audio remux); import it from
`rtmotion.io`."""

from rtmotion.io.info import VideoInfo
from rtmotion.io.reader import VideoReader, read_frames
from rtmotion.io.writer import VideoWriter

__all__ = ["VideoInfo", "VideoReader", "VideoWriter", "read_frames"]
