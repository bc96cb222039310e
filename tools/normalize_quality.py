"""How well each normalization mode drives a subject: pose error where a truth exists, proportions
and jitter where it does not.

Usage:
    python tools/normalize_quality.py transfer [-t demo-ada] [--character bruno] [--frames 120]
    python tools/normalize_quality.py real -t SUBJECT CLIP [CLIP ...]
    (both: [--modes edn,retarget] [--json out.json])

`transfer` (subjects trained on a synthetic dancer): the other character's rendered video goes
through convert's own pose path (MediaPipe, the offline filter, the normalization: exactly what
`rtmotion eval --transfer-character` drives with), and each mode's driving poses are compared with
the target's own MediaPipe poses of the true frames (the target rendered doing that motion):
the convention the generator learned, so 0 px is a perfect normalization. Mean joint distance in
model pixels, and the same after one scale + shift fitted over the whole clip (what is left is
shape, not placement).

`real` (any footage, no ground truth): each clip through the same pose path, normalized onto the
subject; the median over bones of |driven median bone length / the subject's - 1| (does the
driven figure have the target's proportions?) and the driven joints' jitter (mean absolute
second difference, model pixels).

docs/BENCHMARKS.md "Bone retargeting by default" holds a run of both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.pose.normalize import normalize_sequence
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.stats import SubjectPoseStats

MIN_CONF = 0.3  # joints below this confidence are not compared


def pose_error(driving: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean distance (px) between float (T, K, 3) poses over joints seen in both, and the same
    after the best single scale + shift of `driving` (least squares over the whole clip)."""
    seen = (driving[..., 2] > MIN_CONF) & (truth[..., 2] > MIN_CONF)
    d, t = driving[..., :2][seen].astype(np.float64), truth[..., :2][seen].astype(np.float64)
    if not len(d):
        return float("nan"), float("nan")
    raw = float(np.linalg.norm(d - t, axis=1).mean())
    a = np.zeros((2 * len(d), 3))
    a[0::2, 0], a[0::2, 1] = d[:, 0], 1.0
    a[1::2, 0], a[1::2, 2] = d[:, 1], 1.0
    s, tx, ty = np.linalg.lstsq(a, t.reshape(-1), rcond=None)[0]
    fitted = np.stack([s * d[:, 0] + tx, s * d[:, 1] + ty], axis=1)
    return raw, float(np.linalg.norm(fitted - t, axis=1).mean())


def bone_error(driven: PoseSequence, target: SubjectPoseStats, min_length: float = 3.0) -> float:
    """Median over bones (target length >= `min_length` px) of |driven median length / target's - 1|."""
    lengths = SubjectPoseStats.from_sequence(driven).bone_lengths
    errs = [abs(lengths[k] / v - 1.0) for k, v in target.bone_lengths.items()
            if v >= min_length and k in lengths]
    return float(np.median(errs)) if errs else float("nan")


def jitter(keypoints: np.ndarray) -> float:
    """Mean |second temporal difference| (px) of float (T, K, 3) joints seen in three frames."""
    seen = keypoints[..., 2] > MIN_CONF
    acc = np.abs(keypoints[2:, :, :2] - 2 * keypoints[1:-1, :, :2] + keypoints[:-2, :, :2]).sum(-1)
    both = seen[2:] & seen[1:-1] & seen[:-2]
    return float(acc[both].mean()) if both.any() else float("nan")


def transfer(subject_name: str, character: str, frames: int, modes: list[str]) -> dict[str, Any]:
    """Driving-pose error of each mode on the synthetic transfer test (module docstring): the
    eval's own transfer sources, driven by `character` in each mode and by the target's own
    extracted poses (the truth here)."""
    from rtmotion.eval.sources import transfer_source
    from rtmotion.subject import load_subject

    subject = load_subject(subject_name)

    def driving(**kw: Any) -> np.ndarray:
        src = transfer_source(subject, character, max_frames=frames, **kw)
        return np.stack([item.driving for item in src.items()])

    truth = driving(driving="target")
    rows: dict[str, Any] = {}
    for mode in modes:
        raw, fitted = pose_error(driving(mode=mode), truth)
        rows[mode] = {"mean_px": round(raw, 3), "after_global_fit_px": round(fitted, 3)}
    return {"subject": subject_name, "character": character, "frames": len(truth), "modes": rows}


def real(subject_name: str, clips: list[str], modes: list[str]) -> dict[str, Any]:
    """Proportions and jitter of each mode on real clips (module docstring)."""
    from rtmotion.pipeline.offline import driving_poses
    from rtmotion.subject import load_subject

    subject = load_subject(subject_name)
    out: dict[str, Any] = {"subject": subject_name, "clips": {}}
    for clip in clips:
        # convert's pose path (MediaPipe + the offline filter); each mode normalizes its poses
        source = driving_poses(subject, clip, workers=1, show_progress=False).raw
        rows = {}
        for mode in modes:
            driven = normalize_sequence(source, subject.stats, mode=mode)
            rows[mode] = {"bone_error_pct": round(100 * bone_error(driven, subject.stats), 2),
                          "jitter_px": round(jitter(driven.keypoints), 4)}
        out["clips"][Path(clip).name] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    tr = sub.add_parser("transfer")
    tr.add_argument("-t", "--subject", default="demo-ada")
    tr.add_argument("--character", default="bruno")
    tr.add_argument("--frames", type=int, default=120)
    rl = sub.add_parser("real")
    rl.add_argument("-t", "--subject", required=True)
    rl.add_argument("clips", nargs="+")
    for p in (tr, rl):
        p.add_argument("--modes", default="edn,retarget")
        p.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    report = (transfer(args.subject, args.character, args.frames, modes) if args.what == "transfer"
              else real(args.subject, args.clips, modes))
    text = json.dumps(report, indent=1)
    sys.stdout.write(text + "\n")
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
