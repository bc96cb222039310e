"""Carry the audio track of one media file into an output container being written.

The audio is copied packet by packet (no re-encode) when its codec can live in the output
container (AAC, MP3, ALAC, AC-3 in MP4), otherwise decoded and re-encoded to AAC. Packets are
muxed interleaved with the video (`pump(until)` is called as video is written) and the track is
cut at the video's end (packet granularity for a copy, sample-exact for a transcode is not
attempted: the last packet that starts before the end is kept).

Timing: the audio keeps its position relative to the source's *video* start (if the source has
a video stream), so that frame 0 of the output lines up with the audio that went with frame 0
of the source; an audio-only source is taken from its own start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from rtmotion.errors import InputError

log = logging.getLogger(__name__)

# Codecs the MP4/MOV muxers accept as-is; anything else (PCM from WAV, Vorbis, ...) goes to AAC.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3"})
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def has_audio_stream(path: str | Path) -> bool:
    """True if `path` opens with PyAV and has at least one audio stream (False if unreadable)."""
    try:
        with av.open(str(path)) as c:
            return len(c.streams.audio) > 0
    except (av.FFmpegError, OSError):
        return False


class AudioCopier:
    """Copies (or transcodes) the first audio stream of `source` into `output`.

    Create it after the output's video stream and before the first packet is muxed; call
    `pump(until_s)` after each video frame and `finish(end_s)` before closing the output.
    """

    def __init__(self, source: str | Path, output: Any, container_format: str = "mp4") -> None:
        self.source = str(source)
        try:
            self._in = av.open(self.source)
        except (av.FFmpegError, OSError) as e:
            raise InputError(self.source, f"cannot open audio source: {e}", "pass a media file with audio") from None
        if not self._in.streams.audio:
            self._in.close()
            raise InputError(self.source, "has no audio stream")
        self._in_stream = self._in.streams.audio[0]
        self._out = output
        self.copy = self._in_stream.codec_context.name in MP4_AUDIO_CODECS or container_format not in (
            "mp4",
            "mov",
        )
        tb = self._in_stream.time_base
        # Shift so that the source's video start maps to output time 0.
        ref = None
        if self._in.streams.video and self._in.streams.video[0].start_time is not None:
            v = self._in.streams.video[0]
            ref = Fraction(v.start_time) * Fraction(v.time_base)
        self._offset_s: Fraction = ref if ref is not None else Fraction(0)
        self._in_tb = Fraction(tb)
        if self.copy:
            if hasattr(output, "add_stream_from_template"):
                self._out_stream = output.add_stream_from_template(self._in_stream)
            else:  # older PyAV
                self._out_stream = output.add_stream(template=self._in_stream)
            self._resampler = None
        else:
            ctx = self._in_stream.codec_context
            self._out_stream = output.add_stream("aac", rate=ctx.sample_rate)
            # WAV decoders report "1 channels"-style unspecified layouts that AAC rejects: use the
            # default layout for the channel count (mono, stereo, 5.1...); AAC holds at most 8.
            n = ctx.channels
            layout = ctx.layout.name if ctx.layout is not None else ""
            if "channels" in layout or not layout:
                layout = _DEFAULT_LAYOUTS.get(n, "stereo")
            self._out_stream.codec_context.layout = layout
            self._out_stream.codec_context.format = "fltp"  # the native AAC encoder's only format
            self._out_stream.codec_context.time_base = Fraction(1, ctx.sample_rate)
        self._packets: Iterator[Any] = self._in.demux(self._in_stream)
        self._pending: Any = None  # a packet read but not yet due
        self._done = False
        self._end_s: Fraction | None = None  # set by finish(): transcoded audio is cut there
        self.packets_written = 0
        log.debug(
            "audio from %s: %s (%s)", self.source, self._in_stream.codec_context.name, "copy" if self.copy else "to aac"
        )

    def _next_packet(self) -> Any:
        if self._pending is not None:
            p, self._pending = self._pending, None
            return p
        for p in self._packets:
            if p.dts is None and p.pts is None:
                continue  # the demuxer's flush packet
            return p
        return None

    def _time_of(self, packet: Any) -> Fraction:
        ts = packet.pts if packet.pts is not None else packet.dts
        return Fraction(ts) * self._in_tb - self._offset_s

    def pump(self, until_s: float | Fraction, final: bool = False) -> None:
        """Mux the audio packets due before `until_s` (output seconds): in a copy those that
        start before it, in a transcode those that end by it (the rest wait for `finish`)."""
        if self._done:
            return
        until = Fraction(until_s)
        while True:
            p = self._next_packet()
            if p is None:
                self._done = True
                break
            start = self._time_of(p)
            if self.copy or final or not p.duration:
                due = start < until
            else:
                # A transcoded packet is cut only in finish(), once the end is known: until then
                # hold back any packet that could cross the video's end.
                due = start + Fraction(p.duration) * self._in_tb <= until
            if not due:
                self._pending = p
                if final:
                    self._done = True
                break
            self._write(p)
        if self._done:
            self._flush()

    def _write(self, packet: Any) -> None:
        shift = int(round(self._offset_s / self._in_tb))
        if self.copy:
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self._out_stream
            self._out.mux(packet)
            self.packets_written += 1
            return
        rate = self._out_stream.codec_context.sample_rate
        for frame in packet.decode():
            if frame.pts is not None:
                # Re-express in the encoder's 1/sample_rate clock, relative to the output start.
                t = Fraction(frame.pts) * self._in_tb - self._offset_s
                frame.pts = int(round(t * rate))
                frame.time_base = Fraction(1, rate)
                if frame.pts < 0:
                    continue
                if self._end_s is not None:
                    keep = int(round(self._end_s * rate)) - frame.pts
                    if keep <= 0:
                        continue
                    if keep < frame.samples:
                        frame = _head(frame, keep)
            for out in self._out_stream.encode(frame):
                self._out.mux(out)
                self.packets_written += 1

    def _flush(self) -> None:
        if not self.copy and not getattr(self, "_flushed", False):
            self._flushed = True
            for out in self._out_stream.encode(None):
                self._out.mux(out)
                self.packets_written += 1

    def finish(self, end_s: float | Fraction) -> None:
        """Mux the remaining audio up to `end_s` (the video's duration), flush, close the source."""
        try:
            self._end_s = Fraction(end_s)
            self.pump(end_s, final=True)
            self._flush()
        finally:
            self.close()

    def close(self) -> None:
        """Close the source file (idempotent)."""
        self._in.close()


def _head(frame: Any, n: int) -> Any:
    """The first `n` samples of an AudioFrame, as a new frame with the same format/pts."""
    arr = frame.to_ndarray()  # planar: (channels, samples); packed: (1, samples * channels)
    per = 1 if frame.format.is_planar else len(frame.layout.channels)
    out = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(arr[:, : n * per]), format=frame.format.name, layout=frame.layout.name
    )
    out.sample_rate = frame.sample_rate
    out.pts = frame.pts
    out.time_base = frame.time_base
    return out
