"""Cut a media file's audio to start at a given time (for `convert --start`): the packets from
`start_s` on are copied, unchanged, into a Matroska file (which holds any codec) with their
times shifted so the first one starts at 0. The writer then copies or transcodes it as usual.
Cuts fall on packet boundaries (about 21-26 ms for AAC), well under a frame at 30 fps."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av

from rtmotion.errors import InputError

log = logging.getLogger(__name__)


def cut_audio(source: str | Path, start_s: float, out: str | Path) -> Path | None:
    """Write `source`'s first audio stream from `start_s` seconds on to `out` (.mka).

    Returns `out`, or None when the source has no audio (or none after `start_s`).
    InputError when the source cannot be opened."""
    try:
        src = av.open(str(source))
    except (av.FFmpegError, OSError) as e:
        raise InputError(source, f"cannot open audio source: {e}") from None
    try:
        if not src.streams.audio:
            return None
        ins = src.streams.audio[0]
        tb = Fraction(ins.time_base)
        t0 = ins.start_time or 0
        dst = av.open(str(out), mode="w", format="matroska")
        try:
            outs = dst.add_stream_from_template(ins)
            shift: int | None = None
            for packet in src.demux(ins):
                if packet.pts is None or packet.size == 0:
                    continue
                if (packet.pts - t0) * tb < Fraction(start_s):
                    continue
                if shift is None:
                    shift = packet.pts
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                packet.stream = outs
                dst.mux(packet)
        finally:
            dst.close()
        if shift is None:
            return None
        return Path(out)
    finally:
        src.close()
