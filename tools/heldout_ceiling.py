"""What a subject's held-out frames allow: the eval's body SSIM of simple stand-ins for the
generator, beside which its own score can be read (`rtmotion eval S`).

    python tools/heldout_ceiling.py SUBJECT [--json out.json]

Needs a subject trained from a video that is still at its recorded path (a user's clip, not the
re-rendered synthetic case) and its scene plate. Per held-out frame, in model pixels (the
subject's fixed crop), on the eval's body box (`body_box`, margin 0.15), body SSIM of:

- plate: the background plate alone (no person drawn);
- key_unwarped: the whole video frame of the keyframe nearest in pose, not warped;
- paste_soft: the real person (BlazePose's segmentation, grown 1 px) at half the model's
  resolution, pasted on the plate: what a soft but correctly shaped person would score;
- paste: the real person pasted on the plate (the ceiling of a generator that copies the plate).

And noise: the std (grey levels) of real frame minus plate outside the grown person mask.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from rtmotion.eval.metrics import ssim_psnr
from rtmotion.eval.sources import heldout_source
from rtmotion.io import VideoReader
from rtmotion.pose.boxes import body_box
from rtmotion.pose.segmentation import PersonSegmenter
from rtmotion.subject.bundle import load_subject


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("subject")
    ap.add_argument("--json", default=None, help="write the per-frame rows here")
    args = ap.parse_args()
    subject = load_subject(args.subject)
    if subject.scene_plate is None or subject.keyframes is None:
        raise SystemExit(f"{args.subject}: needs a scene plate and keyframes (a subject trained "
                         "by rtmotion train with its defaults)")
    video = Path(str(subject.source_video.get("path") or ""))
    if not video.is_file():
        raise SystemExit(f"{args.subject}: its source video ({video}) is not here; this tool "
                         "reads the held-out frames' keyframes from it")
    source = heldout_source(subject)
    crop, res = subject.crop, subject.resolution
    w, h = res
    plate = crop.crop_image(subject.scene_plate, res)
    frames = [fr.image for fr in VideoReader(video)]
    keyframes = subject.keyframes
    grow, ring = np.ones((3, 3), np.uint8), np.ones((7, 7), np.uint8)
    rows = []
    with PersonSegmenter() as segmenter:
        for item in source.items():
            box = body_box(item.driving, res, margin=0.15)
            mask = segmenter.mask(item.camera)
            mask = crop.crop_image(np.repeat((mask.astype(np.uint8) * 255)[..., None], 3, 2), res)[..., 0] > 127
            mask = cv2.dilate(mask.astype(np.uint8), grow) > 0
            soft = cv2.resize(cv2.resize(item.real, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                              (w, h), interpolation=cv2.INTER_CUBIC)
            room = ~cv2.dilate(mask.astype(np.uint8), ring).astype(bool)
            key = crop.crop_image(frames[int(keyframes.frames[keyframes.nearest(item.driving)])], res)
            rows.append({
                "index": item.index,
                "plate": ssim_psnr(plate, item.real, box)[0],
                "key_unwarped": ssim_psnr(key, item.real, box)[0],
                "paste_soft": ssim_psnr(np.where(mask[..., None], soft, plate), item.real, box)[0],
                "paste": ssim_psnr(np.where(mask[..., None], item.real, plate), item.real, box)[0],
                "noise": float((item.real.astype(np.float64) - plate)[room].std()),
            })
    names = [k for k in rows[0] if k != "index"]
    print(f"{len(rows)} held-out frames of {args.subject}, mean body SSIM (noise: grey levels):")
    for k in names:
        print(f"  {k:13s} {np.mean([r[k] for r in rows]):.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
