"""The code passes the linter pyproject.toml configures (`[tool.ruff]`: syntax errors, unused
imports and names, import order), so dead imports and unused results do not pile up again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    pytest.importorskip("ruff", reason="ruff is in the dev extra: pip install -e '.[dev]'")
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "rtmotion", "tools", "tests"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
