"""Per-stage timing: durations in milliseconds per item, summarized as p50/p95/p99
(`rtmotion.timing.percentiles`, the one percentile summary).

Stages record how long each item took (`StageTimer.add(ms)`); live runs also record per-frame
latencies (capture -> display). Everything is in milliseconds (float) and thread-safe, since
each stage thread writes its own timer while the caller may read a snapshot.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rtmotion.timing import percentiles

__all__ = ["StageTimer", "Timers", "format_table", "percentiles"]


@dataclass
class StageTimer:
    """Durations (ms) of one stage's items, plus its busy time.

    `skip` drops the first items (warm-up: first-call allocations, lazy model loads); `keep`
    keeps only the most recent values (None: all), so a live run of hours (a `rtmotion serve`
    page left open) summarizes its recent frames in bounded memory."""

    name: str
    skip: int = 0
    keep: int | None = None
    _values: list[float] | deque[float] = field(default_factory=list, repr=False)
    _seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.keep is not None:
            self._values = deque(self._values, maxlen=int(self.keep))

    def add(self, ms: float) -> None:
        with self._lock:
            self._seen += 1
            if self._seen > self.skip:
                self._values.append(float(ms))

    @property
    def count(self) -> int:
        return len(self._values)

    def values(self) -> list[float]:
        with self._lock:
            return list(self._values)

    def summary(self) -> dict[str, Any]:
        """{"count", "mean", "p50", "p95", "p99"} in ms; "fps" = 1000 / mean (what this stage
        alone could sustain)."""
        v = self.values()
        mean = float(np.mean(v)) if v else 0.0
        out: dict[str, Any] = {"count": len(v), "mean": round(mean, 3), **percentiles(v)}
        out["fps"] = round(1000.0 / mean, 2) if mean > 0 else 0.0
        return out


class Timers:
    """A named set of StageTimers (one per stage), created on first use."""

    def __init__(self, skip: int = 0, keep: int | None = None) -> None:
        self.skip = skip
        self.keep = keep
        self._timers: dict[str, StageTimer] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> StageTimer:
        with self._lock:
            if name not in self._timers:
                self._timers[name] = StageTimer(name, skip=self.skip, keep=self.keep)
            return self._timers[name]

    def names(self) -> list[str]:
        with self._lock:
            return list(self._timers)

    def summary(self) -> dict[str, dict[str, Any]]:
        return {n: self[n].summary() for n in self.names()}


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A plain text table: `columns` = [(key, header)], one line per row, right-aligned numbers."""
    cells = [[h for _, h in columns]]
    for r in rows:
        line = []
        for k, _ in columns:
            v = r.get(k, "")
            line.append(f"{v:.1f}" if isinstance(v, float) else str(v))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    out = []
    for j, c in enumerate(cells):
        out.append("  ".join(s.rjust(w) if j else s.ljust(w) for s, w in zip(c, widths)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
