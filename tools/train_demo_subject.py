"""The data of the shipped demo subject `rtmotion/data/subjects/demo-ada`, and a GPU recipe for it.

The shipped subject was made from `prepare`'s data by `rtmotion train` with a CPU's defaults (the
exact commands: `rtmotion/data/subjects/demo-ada/train_command.txt`); `train` here is the GPU
recipe (256x256, batch 8, with the discriminators). Two steps, because they run on different
machines:

1. `prepare` (CPU, needs mediapipe + av): render the target video of the synthetic character
   "ada" dancing (`--seconds` of the "dance" motion at 30 fps, `--size` pixels, `--seed`), then
   extract its poses with the REAL MediaPipe path (`rtmotion.pose.extract.extract_to_file`, as
   `rtmotion extract` does), not the ground truth, so the demo subject is trained the way a user's
   would be. Writes DATA/video.mp4, DATA/poses.npz (MediaPipe), DATA/ground_truth.npz and
   DATA/prepare.json (the exact parameters). Small enough to carry to a GPU machine.
2. `train` (GPU: `--device cuda`; also runs on CPU, slowly): `rtmotion train --video
   DATA/video.mp4 --poses DATA/poses.npz -o OUT --work-dir WORK ...` with the demo's settings
   (preset small, 256x256, batch 8, seed 0). It never imports mediapipe. Checkpoints, cache,
   samples and TensorBoard logs go to WORK (default runs/demo-ada-work, git-ignored), so only
   the bundle files land in OUT (default rtmotion/data/subjects/demo-ada, package data).

`all` runs both. On a lent GPU machine (10 minutes per command at most), keep the work dir
inside the repository copy there (runs/ is git-ignored and stays between calls while the machine
is warm), train in slices of --minutes 8 with --resume, and write the bundle under $OUT so it
comes back, e.g.
    python tools/train_demo_subject.py train --device cuda --minutes 8 --out "$OUT/demo-ada"
    python tools/train_demo_subject.py train --device cuda --minutes 8 --resume --out "$OUT/demo-ada"
then copy $OUT/demo-ada/{subject.json,generator.pt,face.pt,keyframes.npz,pose_stats.json,
preview.png,scene.png,train_command.txt} (a fixed-crop subject, `--no-follow-crop`, also has
background.png) into rtmotion/data/subjects/demo-ada/. The rtmotion command each run used is recorded in
OUT/train_command.txt (the step count reached is in subject.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Relative to the repository root (the script runs there, so recorded commands are portable).
DEFAULT_DATA = Path("runs/demo-ada-data")
DEFAULT_WORK = Path("runs/demo-ada-work")
DEFAULT_OUT = Path("rtmotion/data/subjects/demo-ada")

log = logging.getLogger("train_demo_subject")


def prepare(args: argparse.Namespace) -> None:
    from rtmotion.pose.extract import extract_to_file
    from rtmotion.synthetic import write_dancer_video

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in args.size.lower().split("x"))
    video, gt, poses = data / "video.mp4", data / "ground_truth.npz", data / "poses.npz"
    t0 = time.perf_counter()
    seq = write_dancer_video(video, character="ada", motion="dance", seconds=args.seconds,
                             size=(w, h), fps=30, seed=args.seed, poses_path=gt, show_progress=True)
    t_synth = time.perf_counter() - t0
    t0 = time.perf_counter()
    extracted, summary = extract_to_file(video, poses, workers=args.extract_workers)
    t_extract = time.perf_counter() - t0
    det = extracted.detected
    info = {
        "character": "ada", "motion": "dance", "seconds": args.seconds, "size": [w, h], "fps": 30,
        "seed": args.seed, "frames": len(seq), "frames_with_person": int(det.sum()),
        "extractor": extracted.extractor, "synth_seconds": round(t_synth, 1),
        "extract_seconds": round(t_extract, 1),
    }
    (data / "prepare.json").write_text(json.dumps(info, indent=2) + "\n")
    log.info("prepared %s: %s", data, info)


def train_args(args: argparse.Namespace) -> list[str]:
    data = Path(args.data)
    argv = ["train", "--video", str(data / "video.mp4"), "--poses", str(data / "poses.npz"),
            "-o", str(args.out), "--work-dir", str(args.work_dir), "--name", "demo-ada",
            "--preset", args.preset, "--resolution", args.resolution, "--steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--device", args.device,
            "--workers", str(args.workers), "--seed", "0", "--save-every", str(args.save_every),
            "--sample-every", str(args.save_every), "--d-channels", str(args.d_channels),
            "--clip-length", str(args.clip_length), "--lr", str(args.lr),
            "--lr-decay-steps", str(args.lr_decay_steps),
            "--keyframes", str(args.keyframes), "--max-gap", str(args.max_gap),
            "--gan"]  # the GPU recipe trains with the discriminators (a CPU's default is without)
    if args.face:
        argv += ["--face", "--face-steps", str(args.face_steps)]
    if args.minutes:
        argv += ["--minutes", str(args.minutes)]
    if args.resume:
        argv += ["--resume"]
    return argv


def train(args: argparse.Namespace) -> int:
    from rtmotion.cli import main

    argv = train_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = "rtmotion " + " ".join(shlex.quote(a) for a in argv)
    log.info("%s", cmd)
    rc = main(argv)
    if rc == 0:  # one line per run (a resumed training lists each slice)
        f = out / "train_command.txt"
        head = "" if f.exists() and args.resume else \
            "# made by tools/train_demo_subject.py; the rtmotion commands it ran, in order:\n"
        with open(f, "w" if head else "a", encoding="utf-8") as fh:
            fh.write(head + cmd + "\n")
    return rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("step", choices=("prepare", "train", "all"))
    p.add_argument("--data", default=str(DEFAULT_DATA), help="data folder (video + poses)")
    p.add_argument("--seconds", type=float, default=90.0, help="prepare: video length")
    p.add_argument("--size", default="512x512", help="prepare: video frame size")
    p.add_argument("--seed", type=int, default=0, help="prepare: motion seed")
    p.add_argument("--extract-workers", type=int, default=None, help="prepare: MediaPipe processes")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="train: bundle folder")
    p.add_argument("--work-dir", default=str(DEFAULT_WORK), help="train: checkpoints, cache, logs")
    p.add_argument("--preset", default="small")
    p.add_argument("--resolution", default="256x256")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--minutes", type=float, default=8.0, help="train: time limit of this run (0: none)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--device", default="cuda", choices=("auto", "cpu", "cuda"))
    p.add_argument("--d-channels", type=int, default=64, help="train: discriminator width")
    p.add_argument("--save-every", type=int, default=500, help="train: steps between checkpoints")
    p.add_argument("--clip-length", type=int, default=2,
                   help="train: frames per training clip (2: EDN's pairs; more: longer rollouts)")
    p.add_argument("--lr", type=float, default=2e-4,
                   help="train: Adam learning rate (demo-ada's; `train` on a CPU would pick 1e-3)")
    p.add_argument("--lr-decay-steps", type=int, default=0,
                   help="train: decay the learning rate to 0 over the last N of --steps")
    p.add_argument("--keyframes", type=int, default=32,
                   help="train: keyframes of the appearance reference (0: none)")
    p.add_argument("--max-gap", type=int, default=8,
                   help="train: frames between a clip's frames drawn from 1..N (live drops frames)")
    p.add_argument("--face", action="store_true", help="train: also train the face enhancer")
    p.add_argument("--face-steps", type=int, default=2000, help="train: face enhancer steps")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    os.chdir(REPO)  # relative paths are relative to the repository root
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.step in ("prepare", "all"):
        prepare(args)
    if args.step in ("train", "all"):
        return train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
