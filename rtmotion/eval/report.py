"""The evaluation report: summaries, the printed table, the JSON file and sample images.

The JSON report (schema "rtmotion.eval/1") is a dict:

    schema, subject, mode ("heldout" | "video" | "transfer"), backend, device, resolution [W, H],
    frames {total, evaluated, no_person, face_visible},
    metrics {name: {mean, median, min, max, n} | number | null},
    definitions {name: text},        what each metric measures (also printed with -v)
    per_frame {index: [...], body_ssim: [...], ...}   None where not measured
    timing {seconds, fps}, and mode-specific extras (transfer: character, other, motion, seed).

Metric values that could not be measured (no visible face in any frame, no frame at all) are
null in JSON and "-" in the table, never NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtmotion.atomic import atomic_path
from rtmotion.errors import OutputError
from rtmotion.pose.draw import draw_skeleton, side_by_side
from rtmotion.subject.split import PoseNovelty

SCHEMA = "rtmotion.eval/1"

# Order and labels of the printed table: (key in metrics, label, unit, better).
TABLE_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("body_ssim", "SSIM, body crop", "", "higher"),
    ("body_psnr", "PSNR, body crop", "dB", "higher"),
    ("face_ssim", "SSIM, face crop", "", "higher"),
    ("face_psnr", "PSNR, face crop", "dB", "higher"),
    ("full_ssim", "SSIM, whole frame", "", "higher"),
    ("full_psnr", "PSNR, whole frame", "dB", "higher"),
    ("out_body_ssim", "SSIM, body crop, output frame", "", "higher"),
    ("out_body_psnr", "PSNR, body crop, output frame", "dB", "higher"),
    ("out_face_ssim", "SSIM, face crop, output frame", "", "higher"),
    ("out_face_psnr", "PSNR, face crop, output frame", "dB", "higher"),
    ("out_body_detail", "detail, body crop, output frame", "x the real frame's (1: as sharp)", ""),
    ("pose_distance", "pose distance (generated)", "x body height", "lower"),
    ("pose_distance_real", "pose distance (real frames)", "x body height", "lower"),
    ("pose_detected", "person detected (generated)", "%", "higher"),
    ("pose_detected_real", "person detected (real frames)", "%", "higher"),
    ("driving_pose_error", "driving pose vs true pose", "x body height", "lower"),
    ("keyframe_distance", "pose to the nearest keyframe", "x body height", "lower"),
    ("new_poses", "new poses (off every keyframe)", "%", ""),
    ("body_ssim_new_poses", "SSIM, body crop, new poses", "", "higher"),
    ("body_ssim_known_poses", "SSIM, body crop, known poses", "", "higher"),
    ("flicker", "flicker (jitter gen - real)", "grey levels", "lower"),
    ("out_flicker", "flicker, output frame", "grey levels", "lower"),
    ("jitter_generated", "jitter, generated", "grey levels", "lower"),
    ("jitter_real", "jitter, real", "grey levels", ""),
    ("change_generated", "frame change, generated", "grey levels", ""),
    ("change_real", "frame change, real", "grey levels", ""),
)


def summarize(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """{mean, median, min, max, n} of the measured values (None / non-finite ones skipped)."""
    vals = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if vals.size == 0:
        return {"mean": None, "median": None, "min": None, "max": None, "n": 0}
    return {"mean": float(vals.mean()), "median": float(np.median(vals)), "min": float(vals.min()),
            "max": float(vals.max()), "n": int(vals.size)}


def _fmt(v: Any, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "%":
        return f"{v:.1f}"
    if isinstance(v, float) and abs(v) < 10:
        return f"{v:.4f}"
    return f"{v:.2f}"


def format_table(report: dict[str, Any]) -> str:
    """The report as a text table: one line per metric (mean, median, n, unit)."""
    metrics = report.get("metrics", {})
    fr = report.get("frames", {})
    head = (f"rtmotion eval: {report.get('subject', '?')} [{report.get('mode', '?')}], "
            f"{fr.get('evaluated', 0)}/{fr.get('total', 0)} frames, "
            f"{report.get('backend', '?')} on {report.get('device', '?')}")
    lines = [head]
    src = report.get("source") or {}
    if src.get("poses"):
        lines.append(f"driving poses: {src['poses']}")
    if report.get("mode") == "training":
        blocks = ", ".join(f"{b[0]}..{b[1] - 1}" for b in src.get("frames") or ())
        lines.append(f"frames it trained on ({blocks}), each drawn without the "
                     f"{src.get('keyframes_left_out', 0)} keyframes taken near them: its fit")
    novelty = PoseNovelty.from_record(src.get("pose_novelty"))
    if novelty is not None:
        lines.append(novelty.describe() + (": new moves, the score measures how it draws poses "
                                           "it never saw" if novelty.new_moves else ""))
    lines.append(f"{'metric':32s} {'mean':>10s} {'median':>10s} {'n':>6s}  unit")
    for key, label, unit, better in TABLE_ROWS:
        if key not in metrics:
            continue
        m = metrics[key]
        if isinstance(m, dict):
            mean, med, n = m.get("mean"), m.get("median"), m.get("n", 0)
        else:
            mean, med, n = m, None, ""
        note = f"{unit}{', ' if unit and better else ''}{better + ' is better' if better else ''}"
        lines.append(f"{label:32s} {_fmt(mean, unit):>10s} {_fmt(med, unit):>10s} {str(n):>6s}  {note}")
    timing = report.get("timing")
    if timing:
        lines.append(f"generation: {timing.get('frames', 0)} frames in {timing.get('seconds', 0):.1f} s "
                     f"({timing.get('fps', 0):.1f} fps)")
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report atomically (temp file + rename); non-finite numbers become null."""
    path = Path(path)
    text = json.dumps(_jsonable(report), indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def sample_panel(pose_keypoints: np.ndarray, generated: np.ndarray, real: np.ndarray | None,
                 label: str = "", min_height: int = 256) -> np.ndarray:
    """One sample image: pose (skeleton on black) | generated | real, side by side.

    Small frames are enlarged by an integer factor (nearest neighbour: pixels stay visible as
    they are) to at least `min_height`; `label` goes in a strip above the panels.

    Args:
        pose_keypoints: float (K, 3) in pixels of `generated`.
        generated, real: uint8 RGB (H, W, 3) of the same size (real may be None: two panels).
    Returns:
        uint8 RGB image.
    """
    h, w = generated.shape[:2]
    k = max(1, -(-min_height // h))  # ceil
    kp = np.array(pose_keypoints, dtype=np.float32, copy=True)
    kp[:, :2] = (kp[:, :2] + 0.5) * k - 0.5  # pixel centres move with the enlargement
    pose_img = draw_skeleton(np.zeros((h * k, w * k, 3), np.uint8), kp)
    panels = [pose_img, generated] + ([real] if real is not None else [])
    return side_by_side(panels, height=h * k, label=label or None, nearest=True)


#: An output-frame sample is shown at most this tall (a phone's 1920-row body crop would be huge).
OUTPUT_PANEL_MAX_HEIGHT = 720


def output_panel(generated: np.ndarray, real: np.ndarray, box: tuple[int, int, int, int],
                 label: str = "") -> np.ndarray:
    """One output-frame sample: the body crop `box` (x0, y0, x1, y1, output pixels) of the
    generated and of the real camera frame (uint8 RGB, the same size), side by side, at their
    own resolution (at most OUTPUT_PANEL_MAX_HEIGHT rows): what a user sees of the person."""
    x0, y0, x1, y1 = box
    gen, ref = generated[y0:y1, x0:x1], real[y0:y1, x0:x1]
    return side_by_side([gen, ref], height=min(gen.shape[0], OUTPUT_PANEL_MAX_HEIGHT),
                        label=label or None)


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 RGB image as PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OutputError(path, "could not write PNG")
    return path


def pick_sample_indices(n: int, count: int) -> list[int]:
    """`count` positions spread evenly over range(n) (first, last and between)."""
    if n <= 0 or count <= 0:
        return []
    if count >= n:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, count)})


def per_frame_table(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, list[Any]]:
    """Column-wise per-frame values: {key: [row[key] for row in rows]} (missing -> None)."""
    return {k: [r.get(k) for r in rows] for k in keys}
