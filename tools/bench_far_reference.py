"""How well the warped keyframe fits poses the keyframes do not show, on a subject's own clip.

    python tools/bench_far_reference.py SUBJECT [--away 25 50] [--max-along none 2 3]
                                        [--every 2] [--json out.json]

A driving video shows moves the target's clip never did; the generator's appearance reference
is then the nearest keyframe warped a long way by the pose flow. On the subject's own clip the
truth is known: for every `--every`-th usable frame t of its source video, the keyframe nearest
in pose among those taken more than AWAY frames from t (so no keyframe shows that moment) is
warped to frame t's pose with the subject's pose flow, `PoseFlowConfig.max_along` set to each
value of `--max-along`, laid on the room's plate where the warp is invalid, and scored against
the real frame t: body SSIM in model pixels of t's follow box (eval's body box).

Reported per (AWAY, max_along): the mean over all frames, and over the frames where some bone
is foreshortened (its scale along itself from t's pose to the keyframe's above 2, where the
clamp acts; the same frames for every max_along), with the frames' count. For a follow-crop
subject made by `rtmotion train` whose source video is still at its recorded path.

--synthetic adds, per max_along, the warp of the synthetic dancers with their exact poses
(`rtmotion.eval.warp_gain`: frame t warped to frame t+k against the true frame t+k, L1 on the
moving region and PSNR; SYNTHETIC_CLIPS), where no bone's scale is in doubt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtmotion.errors import RtmotionError
from rtmotion.eval.metrics import ssim_psnr
from rtmotion.io import VideoReader
from rtmotion.kernels.flow_numpy import PoseFlowConfig, head_indices
from rtmotion.kernels.segments import bone_array
from rtmotion.pipeline.reference import keyframe_shift, keyframe_tensors, warp_reference
from rtmotion.pipeline.synthesize import follow_placer, to_uint8_image
from rtmotion.pose.boxes import body_box
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.skeleton import get_skeleton
from rtmotion.subject.bundle import load_subject
from rtmotion.subject.crop import usable_frames

#: A bone whose scale along itself from frame t's pose to the keyframe's exceeds this is
#: foreshortened in frame t (where `max_along` = 2 acts).
FORESHORTENED = 2.0
#: (character, motion, seed) of --synthetic: a dance, steps, a walk that turns away, a twist.
SYNTHETIC_CLIPS = (("ada", "dance", 3), ("bruno", "steps", 3), ("kofi", "walk", 1), ("lena", "twist", 2))


def largest_stretch(kp_key: np.ndarray, kp_t: np.ndarray, cfg: PoseFlowConfig) -> float:
    """The largest |bone in the keyframe| / |bone in frame t| over the bones present in both
    (float (K, 3) keypoints in one frame's pixels) that move on their own (not a rigid head's,
    which share one map whatever their lengths); 0 when none is."""
    skeleton = get_skeleton(cfg.skeleton)
    bones = bone_array(skeleton)
    present = (kp_key[bones, 2].min(1) > 0) & (kp_t[bones, 2].min(1) > 0)
    if cfg.head == "rigid":
        present[head_indices(skeleton)[1]] = False
    if not present.any():
        return 0.0
    la = np.hypot(*(kp_key[bones[:, 1], :2] - kp_key[bones[:, 0], :2]).T)
    lb = np.hypot(*(kp_t[bones[:, 1], :2] - kp_t[bones[:, 0], :2]).T)
    return float((la / np.maximum(lb, 1e-6))[present].max())


def measure(subject: Any, aways: list[int], max_alongs: list[float | None], every: int
            ) -> list[dict[str, Any]]:
    """Rows {away, max_along, body_ssim, frames, foreshortened_ssim, foreshortened_frames}."""
    keyframes = subject.keyframes
    images, keypoints = keyframe_tensors(keyframes, "cpu")
    placer = follow_placer(subject)
    res = subject.resolution
    base = subject.pose_flow_config or PoseFlowConfig()
    scores: dict[tuple[int, float | None], list[float]] = {(a, m): [] for a in aways for m in max_alongs}
    stretched: dict[int, list[bool]] = {a: [] for a in aways}
    seq = PoseSequence.load(str(subject.source_video["pose_file"]))   # the poses training used
    usable = usable_frames(seq.keypoints)
    with VideoReader(str(subject.source_video["path"]), end=len(seq)) as reader:
        for t, fr in enumerate(reader):
            if t % every or not usable[t]:
                continue
            place = placer(subject.crop.keypoints_to_crop(seq.keypoints[t], res))
            real = place.box.crop_image(fr.image, res)
            box = body_box(place.keypoints, res)
            kp = torch.from_numpy(place.keypoints[None])
            for away in aways:
                index = np.array([keyframes.nearest(place.keypoints, away, t)])
                stretched[away].append(largest_stretch(keyframes.keypoints[index[0]], place.keypoints,
                                                       base) > FORESHORTENED)
                shift = keyframe_shift(keyframes, index, place.origin[None])
                for max_along in max_alongs:
                    cfg = dataclasses.replace(base, max_along=max_along)
                    ref = warp_reference(images, keypoints, index, kp, cfg, shift)
                    valid = ref.mask[0, 0].numpy()[..., None] > 0.5
                    drawn = np.where(valid, to_uint8_image(ref.warped), place.plate)
                    scores[(away, max_along)].append(ssim_psnr(drawn, real, box)[0])
    rows = []
    for (away, max_along), s in scores.items():
        v, f = np.asarray(s), np.asarray(stretched[away], bool)
        rows.append({"away": away, "max_along": max_along, "body_ssim": float(v.mean()), "frames": len(v),
                     "foreshortened_ssim": float(v[f].mean()) if f.any() else None,
                     "foreshortened_frames": int(f.sum())})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("subject")
    ap.add_argument("--away", type=int, nargs="+", default=[25, 50],
                    help="no keyframe taken within this many frames of the frame drawn")
    ap.add_argument("--max-along", nargs="+", default=["none", "2"],
                    help="PoseFlowConfig.max_along values to compare ('none': unclamped)")
    ap.add_argument("--every", type=int, default=2, help="every N-th frame of the clip")
    ap.add_argument("--synthetic", action="store_true",
                    help="also the warp of synthetic dancers with exact poses, per max_along")
    ap.add_argument("--json", default=None, help="write the rows here")
    args = ap.parse_args(argv)
    try:
        max_alongs = [None if v.lower() == "none" else float(v) for v in args.max_along]
        for v in max_alongs:
            dataclasses.replace(PoseFlowConfig(), max_along=v)
    except ValueError as e:
        raise SystemExit(f"--max-along: {e}") from None
    if args.every < 1 or min(args.away) < 0:
        raise SystemExit("--every must be >= 1 and --away >= 0")
    try:
        subject = load_subject(args.subject)
        video = Path(str(subject.source_video.get("path") or ""))
        poses = Path(str(subject.source_video.get("pose_file") or ""))
        if subject.follow_crop is None or subject.keyframes is None or not video.is_file() \
                or not poses.is_file():
            raise SystemExit(f"{args.subject}: needs a follow-crop subject with keyframes whose "
                             f"source video ({video}) and poses ({poses}) are here (a subject "
                             "from `rtmotion train` on a user's clip)")
        rows = measure(subject, args.away, max_alongs, args.every)
    except RtmotionError as e:
        raise SystemExit(str(e)) from None
    print(f"{args.subject}: the nearest keyframe taken more than AWAY frames away, warped to each "
          "frame's pose (body SSIM against the real frame, follow-box pixels)")
    print(f"{'away':>5} {'max_along':>9} {'all frames':>12} {'foreshortened':>20}")
    for r in rows:
        fs = "-" if r["foreshortened_ssim"] is None else f"{r['foreshortened_ssim']:.3f}"
        print(f"{r['away']:>5} {str(r['max_along']):>9} {r['body_ssim']:8.3f} ({r['frames']})"
              f" {fs:>12} ({r['foreshortened_frames']})")
    out: dict[str, Any] = {"subject": rows}
    if args.synthetic:
        out["synthetic"] = synthetic_rows(max_alongs)
        print("synthetic dancers, exact poses: frame t warped to t+k (L1 on the moving region, "
              "grey levels; PSNR dB)")
        for r in out["synthetic"]:
            print(f"  max_along {str(r['max_along']):>5}: L1 {r['l1_warp']:.3f} (not warped "
                  f"{r['l1_plain']:.3f}), PSNR {r['psnr_warp']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


def synthetic_rows(max_alongs: list[float | None]) -> list[dict[str, Any]]:
    """`measure_warp_gain` on SYNTHETIC_CLIPS under each max_along."""
    from rtmotion.eval.warp_gain import measure_warp_gain

    rows = []
    for max_along in max_alongs:
        g = measure_warp_gain(SYNTHETIC_CLIPS, cfg=PoseFlowConfig(max_along=max_along))
        rows.append({"max_along": max_along, "l1_warp": g.l1_warp, "l1_plain": g.l1_plain,
                     "psnr_warp": g.psnr_warp})
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
