"""Runtime tests use tiny generators: run them on one torch thread (see tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_thread(single_torch_thread: None) -> None:
    return None
