"""What a subject's generator does with its appearance reference on its held-out frames.

    python tools/heldout_reference.py SUBJECT [--variants] [--json out.json]

For a follow-crop subject trained by `rtmotion train` whose source video is still at its
recorded path. Per held-out frame, in the follow box's model pixels (the box the generator
draws; the body box as eval's, margin 0.15), body SSIM of:

- gen: the generator as inference runs it (frame after frame, its previous output warped);
- gen_no_prev: the generator with no previous frame (each frame starts afresh);
- ref_warped: the nearest keyframe warped to the pose (the generator's reference input), on
  the plate where the warp is invalid;
- key: that keyframe unwarped; plate: the room alone.

Also the mean weight of each candidate of the generator's per-pixel choice (previous output,
warped keyframe, keyframe, plate, its own image) inside the tight body box, and the pose
novelty of the held-out block (`rtmotion.subject.split.pose_novelty`, as `rtmotion eval` and
`rtmotion train` print it): the distance (body heights, `rtmotion.subject.keyframes`) of each
held-out pose to the nearest pose of any training frame, against the same number for the
clip's other blocks of that length.

How much body SSIM a small pose difference costs on this clip: the real frame k frames earlier
(k = 1, 2, 3, 5, 8), cut with frame t's follow box and scored in frame t's body box as if it
were drawn for frame t, beside the median pose distance between the two (body heights). A
generator that drew the person perfectly but a pose that far off would score about that.

--variants adds the reference's score under other pose-flow settings (`PoseFlowConfig`) and the
generator's with its candidate logits scaled (a sharper choice at inference).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rtmotion.models.generator as generator_module
from rtmotion.errors import RtmotionError
from rtmotion.eval.metrics import ssim_psnr
from rtmotion.eval.sources import heldout_source
from rtmotion.io import VideoReader
from rtmotion.pipeline.synthesize import make_synthesizer, to_uint8_image
from rtmotion.pose.boxes import body_box
from rtmotion.pose.posefile import PoseSequence
from rtmotion.subject.bundle import load_subject
from rtmotion.subject.crop import usable_frames
from rtmotion.subject.keyframes import (
    PoseDescriptors,
    descriptor_distances,
    pose_descriptors,
)
from rtmotion.subject.split import PoseNovelty

FLOW_VARIANTS = {"similarity": {"transform": "similarity"}, "sigma 0.03": {"sigma_frac": 0.03},
                 "sigma 0.0075": {"sigma_frac": 0.0075}, "radius 0.08": {"body_radius_frac": 0.08},
                 "radius 0.03": {"body_radius_frac": 0.03}, "falloff 0.08": {"falloff_frac": 0.08},
                 "head rigid": {"head": "rigid"}, "head bones": {"head": "bones"}}
LOGIT_SCALES = (1.5, 2.0, 3.0)
CANDIDATES = ("previous", "ref_warped", "key", "plate", "own")


def run_frames(subject: Any, items: list[Any], reset_each: bool = False,
               flow_change: dict[str, Any] | None = None) -> dict[str, list[float]]:
    """Per-frame body SSIM of the generator and its reference stand-ins (module docstring),
    and the candidate weights in the tight body box."""
    weights: list[torch.Tensor] = []
    choose = generator_module.choose

    def recording_choose(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        w = choose(logits, masks)
        weights.append(w.detach())
        return w

    synth = make_synthesizer(subject)
    if flow_change:
        cfg = dataclasses.replace(subject.pose_flow_config, **flow_change)
        synth.pose_flow_config = cfg
        synth.reference.flow_cfg = cfg
    prepare = synth.preparer()
    res = subject.resolution
    rows: dict[str, list[float]] = {k: [] for k in ("gen", "ref_warped", "key", "plate")}
    rows.update({f"w_{c}": [] for c in CANDIDATES})
    generator_module.choose = recording_choose
    try:
        for item in items:
            if reset_each:
                synth.reset()
                prepare.reset()
            p = prepare(item.driving)
            drawn = synth.draw(p)
            synth.finish(drawn)
            place = p.placement
            real = place.box.crop_image(item.camera, res)
            box = body_box(place.keypoints, res)
            ref = p.reference
            valid = ref.mask[0, 0].cpu().numpy()[..., None] > 0.5
            stand_ins = {"gen": to_uint8_image(drawn.frame),
                         "ref_warped": np.where(valid, to_uint8_image(ref.warped), place.plate),
                         "key": to_uint8_image(ref.image), "plate": place.plate}
            for k, img in stand_ins.items():
                rows[k].append(ssim_psnr(img, real, box)[0])
            x0, y0, x1, y1 = (int(round(v)) for v in body_box(place.keypoints, res, margin=0.0))
            w = weights[-1][0, :, y0:y1, x0:x1].mean(dim=(1, 2)).cpu().numpy()
            for c, v in zip(CANDIDATES, w):
                rows[f"w_{c}"].append(float(v))
    finally:
        generator_module.choose = choose
    return rows


#: Frame gaps of `pose_sensitivity`.
SENSITIVITY_GAPS = (1, 2, 3, 5, 8)


def pose_sensitivity(subject: Any, gaps: tuple[int, ...] = SENSITIVITY_GAPS, every: int = 3
                     ) -> list[dict[str, float]]:
    """Body SSIM of real frame t - k drawn for frame t, and the pose distance between them, for
    each gap k, over every `every`-th frame t of the subject's source video (model pixels of
    frame t's follow box, eval's body box). The video is streamed: only the last max(gaps) + 1
    frames are held."""
    seq = PoseSequence.load(str(subject.source_video["pose_file"]))
    res = subject.resolution
    boxes = subject.follow_crop.boxes(seq.keypoints)
    usable = usable_frames(seq.keypoints)
    desc = pose_descriptors(seq.keypoints)
    recent: deque[np.ndarray] = deque(maxlen=max(gaps) + 1)   # recent[-1] is frame t
    scores: dict[int, list[float]] = {k: [] for k in gaps}
    dists: dict[int, list[float]] = {k: [] for k in gaps}
    for t, fr in enumerate(VideoReader(str(subject.source_video["path"]))):
        if t >= len(seq):
            break
        recent.append(fr.image)
        if t % every or not usable[t]:
            continue
        box = boxes[t]
        real = box.crop_image(fr.image, res)
        bbox = body_box(box.keypoints_to_crop(seq.keypoints[t], res), res)
        one = PoseDescriptors(*(d[t] for d in desc))
        for k in gaps:
            if t < k or not usable[t - k]:
                continue
            scores[k].append(ssim_psnr(box.crop_image(recent[-1 - k], res), real, bbox)[0])
            other = PoseDescriptors(*(d[t - k:t - k + 1] for d in desc))
            dists[k].append(float(descriptor_distances(one, other)[0]))
    return [{"gap": k, "body_ssim": float(np.mean(scores[k])), "pose_distance": float(np.median(dists[k])),
             "pairs": len(scores[k])} for k in gaps]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("subject")
    ap.add_argument("--variants", action="store_true", help="also pose-flow and logit-scale variants")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    try:
        subject = load_subject(args.subject)
    except RtmotionError as e:
        raise SystemExit(str(e)) from None
    video = Path(str(subject.source_video.get("path") or ""))
    if not video.is_file() or subject.follow_crop is None or subject.keyframes is None:
        raise SystemExit(f"{args.subject}: needs a follow-crop subject with keyframes whose source "
                         f"video ({video}) is here (a subject from `rtmotion train` on a user's clip)")
    source = heldout_source(subject)
    items = list(source.items())
    rows = run_frames(subject, items)
    out: dict[str, Any] = {k: float(np.mean(v)) for k, v in rows.items()}
    out["gen_no_prev"] = float(np.mean(run_frames(subject, items, reset_each=True)["gen"]))
    out["novelty"] = source.info.get("pose_novelty")
    out["sensitivity"] = pose_sensitivity(subject)
    if args.variants:
        out["ref_warped_flow"] = {name: float(np.mean(run_frames(subject, items, flow_change=ch)["ref_warped"]))
                                  for name, ch in FLOW_VARIANTS.items()}
        choose = generator_module.choose
        out["gen_logit_scale"] = {}
        for scale in LOGIT_SCALES:
            generator_module.choose = lambda logits, masks, s=scale: choose(logits * s, masks)
            try:
                out["gen_logit_scale"][str(scale)] = float(np.mean(run_frames(subject, items)["gen"]))
            finally:
                generator_module.choose = choose
    print(f"{len(items)} held-out frames of {args.subject} (follow-box pixels, body SSIM):")
    for k in ("gen", "gen_no_prev", "ref_warped", "key", "plate"):
        print(f"  {k:12s} {out[k]:.3f}")
    print("  weights in the body box: " + ", ".join(f"{c} {out['w_' + c]:.2f}" for c in CANDIDATES))
    n = PoseNovelty.from_record(out["novelty"])
    if n is not None:
        print(f"  pose novelty: {n.describe()}; other parts p90 {n.others_p90:.3f}")
    for r in out["sensitivity"]:
        print(f"  the real frame {r['gap']} earlier: body SSIM {r['body_ssim']:.3f} at pose distance "
              f"{r['pose_distance']:.3f} (median of {r['pairs']})")
    for group in ("ref_warped_flow", "gen_logit_scale"):
        for name, v in out.get(group, {}).items():
            print(f"  {group} {name}: {v:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
