"""Video input/output with PyAV.

- `VideoInfo.from_path(path)`: probe a video (display size, exact fps, frame count, rotation,
  audio) or raise one clear InputError.
- `VideoReader(path, start, end, stride, threaded)` / `read_frames(path, ...)`: threaded decode
  to `rtmotion.types.Frame` (uint8 RGB (H, W, 3), rotation applied, timestamps in seconds);
  `frames_at(path, indices)`: only the frames at some indices.
- `VideoWriter(path, fps, size, audio_from=...)`: H.264/yuv420p MP4 with exact fps, atomic
  rename on success, audio copied from another file.
"""

from rtmotion.io._common import rate_text
from rtmotion.io.info import VideoInfo
from rtmotion.io.reader import VideoReader, frames_at, read_frames
from rtmotion.io.writer import VIDEO_SUFFIXES, VideoWriter

__all__ = ["VIDEO_SUFFIXES", "VideoInfo", "rate_text", "VideoReader", "VideoWriter", "frames_at", "read_frames"]
