"""Print the look ablation's table (markdown) from the arms' bundles and `rtmotion eval` reports.

    python tools/ablation_table.py ROOT ARM [ARM ...]

For each ARM it reads ROOT/ARM/subject.json (steps, training minutes, generator), and the
reports ROOT/ARM-heldout.json, ROOT/ARM-transfer.json and ROOT/ARM-transfer-s3.json written by
tools/ablate_look.sh; a missing report prints as "-". Means over the scored frames.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _mean(report: dict[str, Any] | None, key: str, fmt: str = "{:.3f}") -> str:
    if report is None:
        return "-"
    value = report["metrics"].get(key)
    value = value.get("mean") if isinstance(value, dict) else value
    return "-" if value is None else fmt.format(value)


def table(root: Path, arms: list[str]) -> str:
    head = ("| arm | steps | train min | held-out body SSIM | body PSNR | face SSIM | face PSNR "
            "| transfer body SSIM | transfer face SSIM | transfer body SSIM, stride 3 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for arm in arms:
        info = _load(root / arm / "subject.json") or {}
        tr = info.get("training", {})
        held = _load(root / f"{arm}-heldout.json")
        trans = _load(root / f"{arm}-transfer.json")
        s3 = _load(root / f"{arm}-transfer-s3.json")
        lines.append(f"| {arm} | {tr.get('steps', '-')} | {tr.get('minutes', '-')} | "
                     f"{_mean(held, 'body_ssim')} | {_mean(held, 'body_psnr', '{:.2f}')} | "
                     f"{_mean(held, 'face_ssim')} | {_mean(held, 'face_psnr', '{:.2f}')} | "
                     f"{_mean(trans, 'body_ssim')} | {_mean(trans, 'face_ssim')} | "
                     f"{_mean(s3, 'body_ssim')} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    sys.stdout.write(table(Path(argv[0]), argv[1:]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
