"""Progress of a pipeline run: a tqdm bar with fps and ETA on a terminal, plain log lines
(every `every_s` seconds) when stderr is not one (CI logs, pipes), nothing when quiet."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType

from rtmotion.progress import progress

log = logging.getLogger("rtmotion.pipeline")


class RunProgress:
    """`update(n)` after each finished item; use as a context manager."""

    def __init__(self, total: int | None, desc: str, *, enabled: bool = True, every_s: float = 2.0) -> None:
        self.total = total
        self.desc = desc
        self.every_s = every_s
        quiet = logging.getLogger("rtmotion").getEffectiveLevel() >= logging.ERROR
        self.enabled = enabled and not quiet
        self.tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self._bar = progress(total=total, desc=desc) if (self.enabled and self.tty) else None
        self.done = 0
        self._t0 = time.perf_counter()
        self._last_log = self._t0

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if self.enabled and now - self._last_log >= self.every_s:
            self._last_log = now
            log.info("%s", self.line())

    def line(self) -> str:
        el = time.perf_counter() - self._t0
        fps = self.done / el if el > 0 else 0.0
        if self.total:
            eta = (self.total - self.done) / fps if fps > 0 else float("nan")
            return (f"{self.desc}: {self.done}/{self.total} frames ({100 * self.done / self.total:.0f} %), "
                    f"{fps:.1f} fps, ETA {eta:.0f} s")
        return f"{self.desc}: {self.done} frames, {fps:.1f} fps"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
