"""A generated beat (kick on every beat, hi-hat between) to mux into synthetic videos, so audio
remuxing can be tested without any downloaded music."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 44100


def beat_track(tempo_bpm: float, seconds: float, sample_rate: int = SAMPLE_RATE,
               seed: int = 0) -> np.ndarray:
    """A drum loop at `tempo_bpm`: float32 (N,) mono samples in [-1, 1], N = seconds * rate.

    Kicks (a 150 -> 45 Hz sine sweep, 0.18 s decay) fall exactly on the beats t = k * 60/tempo,
    the same times as `MotionAngles.beat_times()`, so the dancer moves on the audible beat.
    Hi-hats (filtered noise, deterministic per `seed`) fall halfway between.
    """
    if tempo_bpm <= 0 or seconds <= 0:
        raise ValueError("tempo and duration must be positive")
    n = int(round(seconds * sample_rate))
    out = np.zeros(n, np.float64)
    period = 60.0 / tempo_bpm
    rng = np.random.default_rng(seed)

    kick_len = int(0.25 * sample_rate)
    tk = np.arange(kick_len) / sample_rate
    freq = 45.0 + 105.0 * np.exp(-tk / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-tk / 0.18)

    hat_len = int(0.05 * sample_rate)
    th = np.arange(hat_len) / sample_rate
    noise = rng.standard_normal(hat_len)
    noise = np.diff(noise, prepend=0.0)  # crude high-pass: hats are bright
    hat = 0.25 * noise * np.exp(-th / 0.012)

    for start_s, clip in ((0.0, kick), (period / 2, hat)):
        for t in np.arange(start_s, seconds, period):
            i = int(round(t * sample_rate))
            m = min(len(clip), n - i)
            if m > 0:
                out[i:i + m] += clip[:m]
    peak = float(np.abs(out).max()) if n else 0.0
    if peak > 0:
        out *= 0.8 / peak
    return out.astype(np.float32)


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE,
                bit_rate: int = 128_000) -> Path:
    """Encode mono float32 samples (N,) in [-1, 1] as AAC into `path` (.m4a / .mp4)."""
    path = Path(path)
    samples = np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sample_rate)
        stream.bit_rate = bit_rate
        try:
            stream.layout = "mono"
        except (AttributeError, TypeError, ValueError):  # older PyAV: set on the codec context
            stream.codec_context.layout = "mono"
        chunk = 4096
        pts = 0
        for i in range(0, len(samples), chunk):
            block = samples[None, i:i + chunk]
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = pts
            pts += block.shape[1]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_beat(path: str | Path, tempo_bpm: float, seconds: float, seed: int = 0) -> Path:
    """Write `beat_track(tempo_bpm, seconds)` as an AAC file at `path`."""
    return write_audio(path, beat_track(tempo_bpm, seconds, seed=seed))
