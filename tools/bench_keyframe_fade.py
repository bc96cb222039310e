"""The fade between keyframes (`rtmotion.pipeline.reference`), with and without.

Usage: python tools/bench_keyframe_fade.py S [S ...] [--fades 0,3] [--agree 64]
       [--transfer-character NAME] [--max-frames N] [--poses FILE] [--out DIR]

Arms: each fade length of --fades (`FADE_FRAMES`; 0: the nearest keyframe plainly, as before the
fade) with each agreement level of --agree (`FADE_AGREE_LEVELS`: where the two keyframes differ
by more, the new one takes the pixel; 255: everything dissolves). For each subject and arm:

- `rtmotion eval S` (held-out frames; with --transfer-character, that character's dance driving a
  synthetic subject) in this process with `FADE_FRAMES` set, the report written to
  DIR/NAME-fadeN.json, and a table of its scores (model frame and output frame) and flicker;
- with --poses (a pose file of another person, normalized onto the subject as `convert` does):
  the subject driven by those poses, how often the nearest keyframe changes and the generated
  frames' jitter (`rtmotion.eval.flicker`: |f(t+1) - 2 f(t) + f(t-1)|, grey levels) next to a
  change against elsewhere. No ground truth there: the jitter of the generated frames alone.

docs/BENCHMARKS.md "Fading between keyframes" holds a run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np

from rtmotion.cli import main as rtmotion_main
from rtmotion.pipeline import reference
from rtmotion.pipeline.session import open_session
from rtmotion.pose.normalize import normalize_sequence
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject import Subject, load_subject

#: eval report metrics in the table: (key, label)
ROWS = [("body_ssim", "body SSIM"), ("face_ssim", "face SSIM"),
        ("out_body_ssim", "body SSIM, output frame"), ("out_face_ssim", "face SSIM, output frame"),
        ("flicker", "flicker over the real's"), ("out_flicker", "flicker, output frame")]


def _metric(report: dict, key: str) -> float | None:
    value = report["metrics"].get(key)
    return value["mean"] if isinstance(value, dict) else value


Arm = tuple[int, float]  # (FADE_FRAMES, FADE_AGREE_LEVELS)


def arm_name(arm: Arm) -> str:
    return "fade0" if arm[0] == 0 else f"fade{arm[0]}-agree{arm[1]:g}"


def use(arm: Arm) -> None:
    """Set the reference module's fade for what this process runs next."""
    reference.FADE_FRAMES, reference.FADE_AGREE_LEVELS = arm


def eval_table(subject: str, arms: list[Arm], out: Path, extra: list[str]) -> None:
    """`rtmotion eval` per arm; prints one table."""
    where = Path(subject)  # a bundle's folder (its parent's name too: runs/uni8/S) or a shipped name
    name = f"{where.resolve().parent.name}-{where.name}" if where.exists() else subject
    reports = []
    for arm in arms:
        use(arm)
        path = out / f"{name}-{arm_name(arm)}.json"
        with contextlib.redirect_stdout(io.StringIO()):  # its table: the report has it all
            code = rtmotion_main(["-q", "eval", subject, *extra, "-o", str(path)])
        if code:
            raise SystemExit(f"rtmotion eval {subject} failed (exit {code})")
        reports.append(json.loads(path.read_text()))
    frames = reports[0]["frames"]["evaluated"]
    print(f"\n{name} ({reports[0]['mode']}, {frames} frames)"
          + "".join(f"{arm_name(a):>17}" for a in arms))
    for key, label in ROWS:
        values = [_metric(r, key) for r in reports]
        print(f"  {label:<26}" + "".join(f"{'-' if v is None else f'{v:.4f}':>17}" for v in values))


def change_jitter(subject: Subject, poses: np.ndarray) -> tuple[int, float, float, float]:
    """Drive `subject` by `poses` (T, K, 3 model pixels): (keyframe changes, jitter of the
    generated model frames next to a change, elsewhere, overall; grey levels)."""
    frames, keyframes = [], []
    with open_session(subject, detail=False) as session:
        for kp in poses:
            drawn = session.draw(session.prepare(kp))
            frames.append(session.finish(drawn).astype(np.float32))
            keyframes.append(-1 if drawn.keyframe is None else drawn.keyframe)
    f = np.stack(frames)
    jitter = np.abs(f[2:] - 2.0 * f[1:-1] + f[:-2]).mean(axis=(1, 2, 3))  # centred on t = 1..T-2
    k = np.asarray(keyframes)
    changes = np.nonzero(k[1:] != k[:-1])[0] + 1        # frame t uses another keyframe than t-1
    near = np.zeros(len(jitter), bool)
    for t in changes:                                   # the jitters centred on t-1 and t
        near[max(t - 2, 0):min(t, len(near))] = True
    return (len(changes), float(jitter[near].mean()) if near.any() else float("nan"),
            float(jitter[~near].mean()), float(jitter.mean()))


def run_subject(subject: str, arms: list[Arm], out: Path, extra: list[str], poses: str | None
                ) -> None:
    """One subject's eval table, and with `poses` its keyframe changes and jitter per arm."""
    eval_table(subject, arms, out, extra)
    if poses:
        loaded = load_subject(subject)
        driving = normalize_sequence(PoseSequence.load(poses), loaded.stats).keypoints
        print(f"  driven by {poses} ({len(driving)} frames): keyframe changes, jitter "
              "next to a change / elsewhere / overall")
        for arm in arms:
            use(arm)
            n, near, rest, overall = change_jitter(loaded, driving)
            print(f"    {arm_name(arm):>17}: {n:3d} changes, {near:.3f} / {rest:.3f} / {overall:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("subjects", nargs="+")
    parser.add_argument("--fades", default=f"0,{reference.FADE_FRAMES}",
                        help="fade lengths in frames, comma-separated (default: 0 and the default)")
    parser.add_argument("--agree", default=f"{reference.FADE_AGREE_LEVELS:g}",
                        help="agreement levels (grey levels), comma-separated (default: the default)")
    parser.add_argument("--transfer-character", help="as `rtmotion eval` (synthetic subjects)")
    parser.add_argument("--max-frames", type=int, help="as `rtmotion eval`")
    parser.add_argument("--poses", help="also drive each subject by this pose file")
    parser.add_argument("--out", default="runs/keyframe_fade", help="where the eval reports go")
    args = parser.parse_args(argv)
    levels = [float(x) for x in args.agree.split(",")]
    fades = [int(x) for x in args.fades.split(",")]
    arms = [(f, lv) for f in fades for lv in (levels if f else levels[:1])]  # fade 0: one arm
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = []
    if args.transfer_character:
        extra += ["--transfer-character", args.transfer_character]
    if args.max_frames:
        extra += ["--max-frames", str(args.max_frames)]
    default = (reference.FADE_FRAMES, reference.FADE_AGREE_LEVELS)
    try:
        for subject in args.subjects:
            run_subject(subject, arms, out, extra, args.poses)
    finally:
        use(default)  # the module as it was (a test runs this in its process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
