"""The one percentile summary of timings (milliseconds), used by every report that has one:
pipeline stages and latency (`p50`/`p95`/`p99`), runner calls and engine builds (`p50_ms`...).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentiles(values: Sequence[float] | np.ndarray, qs: tuple[int, ...] = (50, 95, 99),
                suffix: str = "") -> dict[str, float]:
    """{"p50": ..., "p95": ..., "p99": ...} (keys end in `suffix`, e.g. "_ms") of `values` in
    ms, rounded to 3 decimals; NaN-free: no values -> zeros."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {f"p{q}{suffix}": 0.0 for q in qs}
    return {f"p{q}{suffix}": round(float(np.percentile(arr, q)), 3) for q in qs}


def call_summary(values: Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    """{"calls", "mean_ms", "p50_ms", "p95_ms", "min_ms"} of per-call times in ms (3 decimals;
    None for each figure when there are no calls)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"calls": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "min_ms": None}
    return {"calls": int(arr.size), "mean_ms": round(float(arr.mean()), 3),
            **percentiles(arr, (50, 95), suffix="_ms"), "min_ms": round(float(arr.min()), 3)}
