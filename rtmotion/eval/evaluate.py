"""`rtmotion eval`'s engine: generate frames sequentially from driving poses and compare them with
the real frames (EDN's evaluation table).

Per frame with a person (driving pose not empty), in the model's frame (the subject's crop at its
resolution):

- body_ssim / body_psnr: on the body crop, the bounding box of the pose's joints grown by 15 % of
  its longer side (`pose.boxes.body_box`); for the transfer test the union of the driving pose's and
  the true pose's boxes, so both people are inside.
- face_ssim / face_psnr: on a square around the head joints (`pose.boxes.visible_face_box`), only in frames
  where the face is visible (nose and an eye); `frames.face_visible` counts them.
- full_ssim / full_psnr: the whole frame (scene included).
- out_body_ssim / out_body_psnr / out_face_ssim / out_face_psnr: the same crops at the *output*
  frame: the generated frame composed onto the subject's whole camera frame at the camera's
  size (what `convert` writes: demo-ada 512x512), against the real camera frame. The model-frame
  rows compare at the generator's resolution; these say what a user sees (where a follow crop,
  which gives the person more model pixels, shows its gain). Where the source keeps its camera
  frames (all built-in sources do).
- out_body_detail: how much of the real frame's fine detail the output frame's body crop has
  (mean |Laplacian| of the generated crop / the real crop's, `metrics.detail_ratio`: 1 as
  sharp as the camera). SSIM favours a blur over slightly misplaced detail; this tells a sharp
  person from a blurred one (the keyframes' full-resolution detail, `pipeline.detail`).
- pose_distance (only with `pose_metrics`; they place the figure, they do not judge its
  look: a blob in the right pose scores like a person): MediaPipe re-extracts the pose from
  the generated frame; the mean distance over
  joints seen in both, between it and the pose the frame should show (the driving pose; the
  true pose in the transfer test), divided by the body height (the vertical extent of that
  pose's visible joints). pose_detected: % of frames where MediaPipe finds a person.
  pose_distance_real / pose_detected_real: the same on the real frames: the floor set by the
  estimator itself (and, for MediaPipe-extracted driving poses, its frame-to-frame noise).
- flicker: jitter(generated) - jitter(real), where jitter is the mean absolute second temporal
  difference |f_{t+1} - 2 f_t + f_{t-1}| in grey levels (`flicker.py`); change_* is the first
  difference. 0 = as steady as the real video. out_flicker: the same on the whole output frames.
- transfer only: driving_pose_error, the distance between the normalized driving pose and the
  target's true pose (/ body height): the normalization's share of the error.

SSIM is computed per crop with pytorch_msssim (Gaussian window 11, sigma 1.5, per channel); PSNR
is capped at 100 dB for identical crops (`metrics.py`). Summaries are mean / median / min / max
over frames. Frames without a person in the driving pose are generated (the synthesizer repeats
its last frame) but not scored; the flicker figures do not difference across them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.engine_request import EAGER_CPU, EngineRequest
from rtmotion.errors import InputError
from rtmotion.eval.flicker import FlickerMeter
from rtmotion.eval.metrics import detail_ratio, ssim_psnr
from rtmotion.eval.report import (
    SCHEMA,
    output_panel,
    per_frame_table,
    pick_sample_indices,
    sample_panel,
    summarize,
    write_png,
)
from rtmotion.eval.sources import EvalItem, EvalSource
from rtmotion.pipeline.canvas import CanvasGeometry, canvas_geometry
from rtmotion.pipeline.coverage import NEW_POSE_DISTANCE
from rtmotion.pipeline.session import Session, open_session
from rtmotion.pose.boxes import (
    BODY_BOX_MARGIN,
    Box,
    body_box,
    body_height,
    visible_face_box,
)
from rtmotion.pose.extractors import get_extractor
from rtmotion.progress import progress
from rtmotion.subject import Subject

log = logging.getLogger(__name__)

#: Text definitions stored in the JSON report.
DEFINITIONS: dict[str, str] = {
    "body_ssim": "SSIM (pytorch_msssim, gaussian window 11, sigma 1.5) on the body crop: bounding "
                 "box of the pose's joints + 15% of its longer side on each side, model pixels",
    "body_psnr": "PSNR (dB, capped at 100) on the body crop",
    "face_ssim": "SSIM on a square around the head joints (1.4 x head size), frames with the face "
                 "visible (nose and an eye)",
    "face_psnr": "PSNR (dB) on the face crop",
    "full_ssim": "SSIM on the whole frame",
    "full_psnr": "PSNR (dB) on the whole frame",
    "out_body_ssim": "SSIM on the body crop at the output frame (the subject's camera frame at its "
                     "size, as convert writes it) against the real camera frame",
    "out_body_psnr": "PSNR (dB) on the body crop at the output frame",
    "out_face_ssim": "SSIM on the face crop at the output frame",
    "out_face_psnr": "PSNR (dB) on the face crop at the output frame",
    "out_flicker": "flicker at the output frame: the same jitter difference on the whole output "
                   "frames (the person there is enlarged, with the keyframes' detail)",
    "out_body_detail": "fine detail on the body crop at the output frame: mean |Laplacian| (3x3, "
                       "grey) of the generated crop / the real crop's (1: as sharp as the camera)",
    "pose_distance": "MediaPipe pose of the generated frame vs the pose it should show: mean joint "
                     "distance over joints seen in both / body height (vertical extent of the "
                     "visible joints)",
    "pose_distance_real": "the same for the real frame (the estimator's own floor)",
    "pose_detected": "% of scored frames where MediaPipe finds a person in the generated frame",
    "pose_detected_real": "% of scored frames where MediaPipe finds a person in the real frame",
    "driving_pose_error": "transfer: normalized driving pose vs the target's true pose "
                          "(mean joint distance / body height)",
    "flicker": "jitter_generated - jitter_real (grey levels); jitter = mean |f[t+1] - 2 f[t] + "
               "f[t-1]| over pixels and frames; 0 = as steady as the real video",
    "jitter_generated": "mean |f[t+1] - 2 f[t] + f[t-1]| of the generated frames (grey levels)",
    "jitter_real": "the same for the real frames",
    "change_generated": "mean |f[t] - f[t-1]| of the generated frames (grey levels)",
    "change_real": "the same for the real frames",
    "keyframe_distance": "the pose drawn vs the nearest of the subject's keyframes, the picture its "
                         "appearance reference was warped from (body heights: RMS joint offset "
                         "relative to the mid-hip + 0.25 x the mid-hip's offset)",
    "new_poses": f"% of scored frames whose pose is over {NEW_POSE_DISTANCE} body heights from "
                 "every keyframe: poses the target's clip did not show",
    "body_ssim_new_poses": "body SSIM on those frames",
    "body_ssim_known_poses": "body SSIM on the other frames",
}


@dataclass
class EvalOptions:
    """How to run an evaluation.

    Attributes:
        engine: the generator runtime (`EAGER_CPU`: torch fp32 on the CPU; compiled engines
            are built on first use).
        pose_metrics: re-extract poses with MediaPipe (pose_distance, pose_detected). Off by
            default: they measure where the figure stands, not how it looks, so a blurred
            blob in the right pose scores like a person (issue 18: 0.0150 vs 0.0146, both
            100 % detected). A garish untrained one (synthetic ada, 3 steps without keyframes,
            body SSIM 0.33) did measure 0.051 vs 0.026 and 75 % detected (a 30-step one at
            0.98: 0.026, 100 %): they catch a figure that is not person-like, not a blur.
        pose_real: also on the real frames (the reference floor).
        samples_dir: where to write sample PNGs (pose | generated | real), or None.
        num_samples: how many sample frames, spread over the sequence.
        use_face: apply the subject's face enhancer when it has one.
        use_detail: add the keyframes' full-resolution detail to the output frame (its out_*
            rows) when the subject has it (`rtmotion.pipeline.detail`).
        body_margin: body crop margin (fraction of the box's longer side).
        stride: drive and score every `stride`-th frame only, as live transfer does when it drops
            frames (the previous output the generator warps is then `stride` frames old); the
            flicker figures then difference the kept frames.
    """

    engine: EngineRequest = EAGER_CPU
    pose_metrics: bool = False
    pose_real: bool = True
    samples_dir: Path | None = None
    num_samples: int = 4
    use_face: bool = True
    use_detail: bool = True
    body_margin: float = BODY_BOX_MARGIN
    stride: int = 1


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a or b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def pose_distance(estimated: np.ndarray, reference: np.ndarray, min_conf: float = 0.05
                  ) -> float | None:
    """Mean joint distance between two (K, 3) poses over joints seen in both, / the reference's
    body height. None when no joint is common or the reference has no height."""
    est, ref = np.asarray(estimated, np.float64), np.asarray(reference, np.float64)
    both = (est[:, 2] > min_conf) & (ref[:, 2] > min_conf)
    height = body_height(ref, min_conf)
    if not both.any() or height <= 0:
        return None
    return float(np.linalg.norm(est[both, :2] - ref[both, :2], axis=1).mean() / height)


def _score_output(row: dict[str, Any], session: Session, item: EvalItem, geom: CanvasGeometry,
                  margin: float) -> Box | None:
    """The out_* rows of one frame (module docstring): the session's last frame on the whole
    camera frame against the real one, crops placed from the poses in camera pixels (`geom`:
    the subject's model frame on its camera frame). Returns the body crop (output pixels)."""
    full = session.last_camera_frame()                          # uint8 H_cam x W_cam x 3
    if full.shape != item.camera.shape:
        raise InputError(None, f"frame {item.index}: the camera frame is {item.camera.shape}, "
                         f"the subject's {full.shape}")
    size = (full.shape[1], full.shape[0])
    drv = geom.keypoints_to_output(item.driving)
    truth = None if item.truth is None else geom.keypoints_to_output(item.truth)
    bbox = _union(body_box(drv, size, margin=margin),
                  None if truth is None else body_box(truth, size, margin=margin))
    if bbox is not None:
        row["out_body_ssim"], row["out_body_psnr"] = ssim_psnr(full, item.camera, bbox)
        row["out_body_detail"] = detail_ratio(full, item.camera, bbox)
    fbox = visible_face_box(truth if truth is not None else drv, size)
    if fbox is not None:
        row["out_face_ssim"], row["out_face_psnr"] = ssim_psnr(full, item.camera, fbox)
    return bbox


def _open_extractor() -> Any:
    # Tracking mode: frames come in order, as from a video.
    return get_extractor("mediapipe").open()


def run_evaluation(subject: Subject, source: EvalSource, options: EvalOptions | None = None
                   ) -> dict[str, Any]:
    """Generate the source's frames with the subject and score them. Returns the report dict
    (see `rtmotion.eval.report`); nothing is written except sample PNGs (each atomically).

    Raises InputError when no frame has a person in its driving pose.
    """
    opt = options or EvalOptions()
    samples = {p - p % opt.stride for p in pick_sample_indices(source.total, opt.num_samples)} \
        if opt.samples_dir else set()
    if opt.samples_dir is not None:
        Path(opt.samples_dir).mkdir(parents=True, exist_ok=True)
    ext_gen = _open_extractor() if opt.pose_metrics else None
    ext_real = _open_extractor() if opt.pose_metrics and opt.pose_real else None
    flick_gen, flick_real = FlickerMeter(), FlickerMeter()
    out_gen, out_real = FlickerMeter(), FlickerMeter()  # the same on the output frames
    meters = (flick_gen, flick_real, out_gen, out_real)
    rows: list[dict[str, Any]] = []
    total = no_person = face_visible = 0
    gen_seconds = 0.0
    sample_files: list[str] = []
    w, h = (int(subject.resolution[0]), int(subject.resolution[1]))
    camera_geometry = canvas_geometry(subject.crop, subject.resolution)  # for the out_* rows
    try:
        # A session, as `convert` makes its frames (the CUDA synthesizer on a GPU), so eval
        # scores the step users run; no hold rule: a frame without a person repeats the last.
        with open_session(subject, opt.engine, use_face=opt.use_face, detail=opt.use_detail) as session, \
                progress(total=source.total, desc="eval", unit="frame") as bar:
            runner_info = session.info()
            for pos, item in enumerate(source.items()):
                if item.cut:  # a new block of frames: nothing carries over from the last one
                    session.reset()
                    _break_runs(meters, (ext_gen, ext_real))
                if pos % opt.stride:  # a dropped frame: never seen by the generator
                    bar.update(1)
                    continue
                if item.real.shape != (h, w, 3):
                    raise InputError(None, f"frame {item.index}: real frame is {item.real.shape}, "
                                     f"expected {(h, w, 3)}")
                t0 = time.perf_counter()
                gen = session(item.driving)
                gen_seconds += time.perf_counter() - t0
                keyframe_distance = session.last_pose_distance
                total += 1
                bar.update(1)
                ref = item.truth if item.truth is not None else item.driving
                if not (item.driving[:, 2] > 0).any():
                    no_person += 1
                    _break_runs(meters, (ext_gen, ext_real))
                    continue
                row: dict[str, Any] = {"index": item.index, "step": session.last_mode,
                                       "keyframe_distance": keyframe_distance}
                bbox = body_box(item.driving, (w, h), margin=opt.body_margin)
                if item.truth is not None:
                    bbox = _union(bbox, body_box(item.truth, (w, h), margin=opt.body_margin))
                if bbox is not None:
                    row["body_ssim"], row["body_psnr"] = ssim_psnr(gen, item.real, bbox)
                fbox = visible_face_box(ref, (w, h))
                if fbox is not None:
                    face_visible += 1
                    row["face_ssim"], row["face_psnr"] = ssim_psnr(gen, item.real, fbox)
                row["full_ssim"], row["full_psnr"] = ssim_psnr(gen, item.real)
                out_box = None
                if item.camera is not None:
                    out_box = _score_output(row, session, item, camera_geometry, opt.body_margin)
                    out_gen.update(session.last_camera_frame())
                    out_real.update(item.camera)
                if item.truth is not None:
                    row["driving_pose_error"] = pose_distance(item.driving, item.truth)
                if ext_gen is not None:
                    est = ext_gen(gen)
                    row["detected"] = bool((est[:, 2] > 0).any())
                    row["pose_distance"] = pose_distance(est, ref) if row["detected"] else None
                if ext_real is not None:
                    est_r = ext_real(item.real)
                    row["detected_real"] = bool((est_r[:, 2] > 0).any())
                    row["pose_distance_real"] = (pose_distance(est_r, ref)
                                                 if row["detected_real"] else None)
                flick_gen.update(gen)
                flick_real.update(item.real)
                rows.append(row)
                if pos in samples and opt.samples_dir is not None:
                    sample_files += _write_samples(Path(opt.samples_dir), item, row, gen,
                                                   session, out_box)
    finally:
        for ext in (ext_gen, ext_real):
            if ext is not None:
                ext.close()
    if total == 0:
        raise InputError(None, f"no frame to evaluate ({source.mode})", "check the frame range")
    if not rows:
        raise InputError(None, f"no person in any of the {total} driving poses ({source.mode})",
                         "evaluate on frames where the target is visible")
    return _build_report(subject, source, opt, runner_info, rows, total, no_person, face_visible,
                         meters, gen_seconds, sample_files)


def _write_samples(folder: Path, item: EvalItem, row: dict[str, Any], gen: np.ndarray,
                   session: Session, out_box: Box | None) -> list[str]:
    """A frame's sample PNGs: pose | generated | real in the model frame, and (with camera
    frames) the body crop of the output frame, generated | real, as a user sees it."""
    label = f"#{item.index}"
    if row.get("body_ssim") is not None:
        label += f" body SSIM {row['body_ssim']:.3f}"
    files = [write_png(sample_panel(item.driving, gen, item.real, label),
                       folder / f"sample_{item.index:06d}.png")]
    if out_box is not None and item.camera is not None:
        label = f"#{item.index} output frame"
        if row.get("out_body_ssim") is not None:
            label += f": body SSIM {row['out_body_ssim']:.3f}"
        if row.get("out_body_detail") is not None:
            label += f", detail {row['out_body_detail']:.2f} of the real"
        files.append(write_png(output_panel(session.last_camera_frame(), item.camera, out_box, label),
                               folder / f"sample_{item.index:06d}_output.png"))
    return [str(f) for f in files]


def _break_runs(meters: tuple[FlickerMeter, ...], extractors: tuple[Any, ...]) -> None:
    """A gap in the frames: the flicker runs end there, and the pose extractors (None: not
    running) do not track across it."""
    for meter in meters:
        meter.break_run()
    for ext in extractors:
        if ext is not None:
            ext.reset()


def _new_pose_metrics(distances: list[float | None], body_ssim: list[float | None]
                      ) -> dict[str, Any]:
    """keyframe_distance, new_poses (%) and the body SSIM of the frames with new poses and of
    the others (`rtmotion.pipeline.coverage`); nothing for a subject without keyframes."""
    if not any(d is not None for d in distances):
        return {}
    new = [d is not None and d > NEW_POSE_DISTANCE for d in distances]
    measured = sum(d is not None for d in distances)
    return {"keyframe_distance": summarize(distances),
            "new_poses": 100.0 * sum(new) / measured,
            "body_ssim_new_poses": summarize(v for v, n in zip(body_ssim, new) if n),
            "body_ssim_known_poses": summarize(v for v, n, d in zip(body_ssim, new, distances)
                                               if not n and d is not None)}


def _build_report(subject: Subject, source: EvalSource, opt: EvalOptions, runner_info: dict[str, Any],
                  rows: list[dict[str, Any]], total: int, no_person: int, face_visible: int,
                  meters: tuple[FlickerMeter, ...], gen_seconds: float,
                  sample_files: list[str]) -> dict[str, Any]:
    """The report (`rtmotion.eval.report`). meters: flicker of the generated and real model
    frames, then of the generated and real output frames (`run_evaluation`)."""
    col = per_frame_table(rows, ["index", "step", "body_ssim", "body_psnr", "face_ssim", "face_psnr",
                                 "full_ssim", "full_psnr", "out_body_ssim", "out_body_psnr",
                                 "out_face_ssim", "out_face_psnr", "out_body_detail", "pose_distance", "pose_distance_real",
                                 "detected", "detected_real", "driving_pose_error", "keyframe_distance"])
    metrics: dict[str, Any] = {}
    for key in ("body_ssim", "body_psnr", "face_ssim", "face_psnr", "full_ssim", "full_psnr"):
        metrics[key] = summarize(col[key])
    for key in ("out_body_ssim", "out_body_psnr", "out_face_ssim", "out_face_psnr", "out_body_detail"):
        if any(v is not None for v in col[key]):
            metrics[key] = summarize(col[key])
    if opt.pose_metrics:
        metrics["pose_distance"] = summarize(col["pose_distance"])
        metrics["pose_detected"] = 100.0 * float(np.mean([bool(d) for d in col["detected"]]))
        if opt.pose_real:
            metrics["pose_distance_real"] = summarize(col["pose_distance_real"])
            metrics["pose_detected_real"] = 100.0 * float(np.mean([bool(d) for d in col["detected_real"]]))
    if source.mode == "transfer":
        metrics["driving_pose_error"] = summarize(col["driving_pose_error"])
    metrics.update(_new_pose_metrics(col["keyframe_distance"], col["body_ssim"]))
    fg, fr, og, orl = (m.result() for m in meters)
    metrics["jitter_generated"], metrics["jitter_real"] = fg.jitter, fr.jitter
    metrics["change_generated"], metrics["change_real"] = fg.change, fr.change
    metrics["flicker"] = (fg.jitter - fr.jitter) if fg.jitter is not None and fr.jitter is not None else None
    if og.jitter is not None and orl.jitter is not None:
        metrics["out_flicker"] = og.jitter - orl.jitter
    defs = {k: v for k, v in DEFINITIONS.items() if k in metrics}
    return {
        "schema": SCHEMA,
        "subject": str(subject.path),
        "subject_name": subject.name,
        "mode": source.mode,
        "source": source.info,
        **runner_info,
        "resolution": [int(subject.resolution[0]), int(subject.resolution[1])],
        "face_enhancer": bool(opt.use_face and getattr(subject, "face", None) is not None),
        "keyframe_detail": bool(opt.use_detail and getattr(subject, "keyframe_detail", None) is not None),
        "frames": {"total": total, "evaluated": len(rows), "no_person": no_person,
                   "face_visible": face_visible, "stride": opt.stride},
        "metrics": metrics,
        "definitions": defs,
        "timing": {"frames": total, "seconds": gen_seconds,
                   "fps": total / gen_seconds if gen_seconds > 0 else None},
        "samples": sample_files,
        "per_frame": {k: v for k, v in col.items() if any(x is not None for x in v)},
    }
