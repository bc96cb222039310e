"""Runtime tests use tiny generators: one torch thread is as fast as two and avoids the
thread pool's spinning on a loaded 2-core machine (10x slowdowns seen)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)
