"""Progress bars for long work (tqdm), silenced by `rtmotion -q` or when stderr is not a TTY
unless forced."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "frame") -> tqdm:
    """A tqdm bar that shows rate in `unit`/s; disabled when logging is at ERROR (quiet)."""
    disable = logging.getLogger("rtmotion").getEffectiveLevel() >= logging.ERROR
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True,
                leave=False)
