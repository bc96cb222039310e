"""Checks of a training video that name the problem, before the (long) training starts.

`rtmotion train` accepted a near-static clip, a clip with three people and a person filmed too
small without a word, then trained for minutes on it. `check_training_input` looks at the
poses (and a few decoded frames) and returns warnings, each one line with the numbers:

- too short: fewer than `SHORT_SECONDS` of usable training frames;
- pose coverage: what the clip never shows (arms above the shoulders, arms out to the side,
  legs apart, the person turned another way) or that the person barely moves: poses
  the training video never showed come out blurred or wrong when a dancer drives them;
- person too small: the body's height in pixels below what the model resolution needs (the
  crop around the person is then upscaled: details blur);
- cut off: joints on or past the frame edge (or feet missing under a visible body) in many
  frames, with the edges and the joints;
- several people: `rtmotion.pose.people.PeopleCounter` (the pose detector, asked again with
  each found person blanked) on `PEOPLE_SAMPLES` frames spread over the video.

Thresholds are module constants, checked on the synthetic dancer's exact poses (20 s of each
motion): "idle" trips every coverage item and "barely moves" (limbs 0.035 torso lengths; "dance"
0.20); "wave" raises and stretches the arms (100 % of frames); "walk" turns away (37 %) and so
is not "always facing one way"; a standing stance has the ankles 0.6 torso lengths apart, a step
or a wide stance 0.85 and more. The checks warn, never refuse: `--min-pose-frames` is the one
hard limit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtmotion.io import VideoReader
from rtmotion.pose.boxes import body_height
from rtmotion.pose.people import PeopleCounter
from rtmotion.pose.skeleton import BODY25_JOINTS
from rtmotion.subject.split import guard_frames, heldout_block, training_mask
from rtmotion.train.cache import file_fingerprint, read_json_object, write_json_atomic

log = logging.getLogger(__name__)

#: Fewer seconds of usable training frames than this: "too short".
SHORT_SECONDS = 6.0
#: A pose family counts as shown when at least this fraction of frames show it.
COVERAGE_MIN_FRACTION = 0.02
#: One facing direction in at least this fraction of frames: "always facing one way".
ONE_WAY_FRACTION = 0.97
#: Joint motion (median over limbs of the per-joint std relative to the torso, in torso
#: lengths) below this: "barely moves".
STATIC_MOTION = 0.08
#: The model wants the person's joint extent to fill at least this fraction of its height in
#: source pixels: below it the crop is upscaled by more than 1 / this.
MIN_PIXEL_FRACTION = 0.6
#: The person's joints span about this fraction of the crop's height (the crop's margins).
BODY_FRACTION = 0.77
#: A joint within this fraction of min(W, H) of an edge counts as on the edge.
EDGE_BAND = 0.01
#: Warn about the edge when at least this fraction of frames touch it.
EDGE_FRACTION = 0.10
#: Frames decoded for the people count, and the fraction of them that must show 2+ people.
PEOPLE_SAMPLES = 8
PEOPLE_FRACTION = 0.25

_J = {name: i for i, name in enumerate(BODY25_JOINTS)}
_LIMB_JOINTS = ("r_elbow", "r_wrist", "l_elbow", "l_wrist", "r_knee", "r_ankle", "l_knee", "l_ankle")


@dataclass(frozen=True)
class InputWarning:
    """One problem of the training input: a short code (for tests and tools) and the message."""

    code: str
    message: str


def _joint(kp: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) positions and (T,) visibility of one joint."""
    j = kp[:, _J[name]]
    return j[:, :2], j[:, 2] > 0


def _fraction(mask: np.ndarray, valid: np.ndarray) -> float:
    n = int(valid.sum())
    return float((mask & valid).sum()) / n if n else 0.0


def coverage_gaps(kp: np.ndarray) -> tuple[list[str], dict[str, float]]:
    """What poses the frames never show.

    Args:
        kp: float (T, 25, 3) BODY25 keypoints of the usable frames, pixels (y down).

    Returns:
        The missing pose families (phrases for the warning), and the fraction of frames showing
        each family (for tests and the log).
    """
    neck, v_neck = _joint(kp, "neck")
    hip, v_hip = _joint(kp, "mid_hip")
    torso = np.linalg.norm(neck - hip, axis=1)
    body = v_neck & v_hip & (torso > 1e-3)
    L = np.where(body, torso, 1.0)  # torso length, the unit
    shown: dict[str, float] = {}
    raised = np.zeros(len(kp), bool)
    out = np.zeros(len(kp), bool)
    for side in ("r", "l"):
        sh, v_sh = _joint(kp, f"{side}_shoulder")
        wr, v_wr = _joint(kp, f"{side}_wrist")
        ok = v_sh & v_wr
        raised |= ok & (wr[:, 1] < sh[:, 1] - 0.1 * L)  # the wrist above the shoulder
        out |= ok & (np.abs(wr[:, 0] - sh[:, 0]) > 0.7 * L)  # the arm held out sideways
    la, v_la = _joint(kp, "l_ankle")
    ra, v_ra = _joint(kp, "r_ankle")
    # a standing stance puts the ankles ~0.6 torso lengths apart (about 1.4 hip widths)
    apart = v_la & v_ra & (np.abs(la[:, 0] - ra[:, 0]) > 0.85 * L)
    shown["arms_raised"] = _fraction(raised, body)
    shown["arms_out"] = _fraction(out, body)
    shown["legs_apart"] = _fraction(apart, body)
    missing = []
    names = {"arms_raised": "the arms never rise above the shoulders",
             "arms_out": "the arms are never held out to the side",
             "legs_apart": "the legs are never apart"}
    for key, phrase in names.items():
        if int(body.sum()) and shown[key] < COVERAGE_MIN_FRACTION:
            missing.append(phrase)
    # Facing: the person's left shoulder on the image's right = facing the camera.
    ls, v_ls = _joint(kp, "l_shoulder")
    rs, v_rs = _joint(kp, "r_shoulder")
    okf = body & v_ls & v_rs
    across = (ls[:, 0] - rs[:, 0]) / L
    facing = {"the camera": okf & (across > 0.3), "away from the camera": okf & (across < -0.3),
              "sideways": okf & (np.abs(across) <= 0.3)}
    for way, mask in facing.items():
        shown[f"facing {way}"] = _fraction(mask, okf)
    if int(okf.sum()):
        way, frac = max(((w, shown[f"facing {w}"]) for w in facing), key=lambda x: x[1])
        if frac >= ONE_WAY_FRACTION:
            missing.append(f"the person always faces {way} ({100 * frac:.0f} % of frames)")
    # Motion: how far the limbs move relative to the body, in torso lengths.
    spread = []
    for name in _LIMB_JOINTS:
        p, v = _joint(kp, name)
        ok = v & body
        if ok.sum() >= 10:
            rel = (p[ok] - hip[ok]) / L[ok, None]
            spread.append(float(np.linalg.norm(rel.std(axis=0))))
    motion = float(np.median(spread)) if spread else 0.0
    shown["motion"] = motion
    if spread and motion < STATIC_MOTION:
        missing.append(f"the person barely moves (limbs move {motion:.2f} torso lengths)")
    return missing, shown


def edge_report(kp: np.ndarray, size: tuple[int, int]) -> tuple[float, dict[str, float], list[str]]:
    """How often the person is cut off by the frame.

    Returns:
        the fraction of frames cut off, the fraction per edge ("left", "right", "top",
        "bottom"), and the joints most often on an edge (at most 3 names).
    """
    w, h = size
    band = EDGE_BAND * min(w, h)
    vis = kp[..., 2] > 0
    x, y = kp[..., 0], kp[..., 1]
    edges = {"left": vis & (x <= band), "right": vis & (x >= w - 1 - band),
             "top": vis & (y <= band), "bottom": vis & (y >= h - 1 - band)}
    per_joint = np.zeros(kp.shape[1], np.int64)
    frames = np.zeros(len(kp), bool)
    per_edge: dict[str, float] = {}
    for name, m in edges.items():
        hit = m.any(axis=1)
        frames |= hit
        per_joint += m.sum(axis=0)
        per_edge[name] = float(hit.mean()) if len(kp) else 0.0
    # Feet below the frame: the hips and knees are there, both ankles are not.
    hips = vis[:, _J["r_hip"]] & vis[:, _J["l_hip"]]
    knees = vis[:, _J["r_knee"]] | vis[:, _J["l_knee"]]
    no_feet = hips & knees & ~vis[:, _J["r_ankle"]] & ~vis[:, _J["l_ankle"]]
    if no_feet.any():
        per_edge["bottom"] = float((edges["bottom"].any(axis=1) | no_feet).mean())
        per_joint[_J["r_ankle"]] += int(no_feet.sum())
        per_joint[_J["l_ankle"]] += int(no_feet.sum())
    frames |= no_feet
    top = [BODY25_JOINTS[i] for i in np.argsort(-per_joint)[:3] if per_joint[i] > 0]
    return float(frames.mean()) if len(kp) else 0.0, per_edge, top


def count_people(video: str | Path, frame_count: int, samples: int = PEOPLE_SAMPLES
                 ) -> list[int]:
    """People found in `samples` frames spread over the video (`PeopleCounter`)."""
    if frame_count <= 0:
        return []
    picks = sorted({int(i) for i in np.linspace(0, frame_count - 1, min(samples, frame_count)).round()})
    counts: list[int] = []
    with PeopleCounter() as counter:
        for i in picks:
            with VideoReader(video, start=i, end=i + 1, threaded=False) as reader:
                frame = next(iter(reader), None)
            if frame is not None:
                counts.append(counter.count(frame.image))
    return counts


def check_training_input(video: str | Path, keypoints: np.ndarray, usable: np.ndarray,
                         size: tuple[int, int], fps: float, resolution: tuple[int, int],
                         val_fraction: float, people: Sequence[int] | None = None,
                         person: str | int | None = None) -> list[InputWarning]:
    """The warnings about one training video (empty when nothing is wrong).

    Args:
        video: the training video (named in the messages).
        keypoints: float (T, 25, 3) BODY25 poses of every frame, source pixels.
        usable: bool (T,) frames with a person (`usable_frames`).
        size: the video's (W, H).
        fps: frames per second.
        resolution: the model's (W, H).
        val_fraction: the held-out fraction (not trained on; `heldout_block`).
        people: people counted in sampled frames (`count_people`), or None to skip that check.
        person: the `--person` the poses were extracted with (None: a given pose file).
    """
    name = Path(video).name
    kp = np.asarray(keypoints, np.float64)
    t = len(kp)
    ok = training_mask(usable, heldout_block(t, val_fraction), guard_frames(fps))
    out: list[InputWarning] = []
    seconds = float(ok.sum()) / max(fps, 1e-6)
    if seconds < SHORT_SECONDS:
        out.append(InputWarning("short", (
            f"{name}: only {seconds:.1f} s ({int(ok.sum())} frames) of the person to train on "
            f"(less than {SHORT_SECONDS:g} s): poses the clip does not show will be blurred; "
            "film at least 10-20 s of the target moving")))
    train_kp = kp[ok]
    if len(train_kp):
        missing, _ = coverage_gaps(train_kp)
        if missing:
            out.append(InputWarning("coverage", (
                f"{name}: poor pose coverage in {len(train_kp)} training frames: "
                f"{'; '.join(missing)}. A driving dance that does this will look blurred or "
                "wrong: film the target doing it (raise the arms, stretch them out, step "
                "sideways, turn around)")))
        heights = np.array([body_height(k) for k in train_kp])
        person_px = float(np.median(heights))
        need = MIN_PIXEL_FRACTION * resolution[1]
        if person_px < need:
            up = BODY_FRACTION * resolution[1] / max(person_px, 1.0)
            fits = max(32, int(person_px / MIN_PIXEL_FRACTION) // 32 * 32)
            out.append(InputWarning("small", (
                f"{name}: the person is about {person_px:.0f} px tall (joints, median of "
                f"{len(train_kp)} frames); the {resolution[0]}x{resolution[1]} model wants "
                f"{need:.0f} px or more: the crop is upscaled about {up:.1f}x and details blur. "
                "Film closer or with a higher resolution camera, or train with "
                f"--resolution {fits}")))
        frac, per_edge, joints = edge_report(train_kp, size)
        if frac >= EDGE_FRACTION:
            sides = ", ".join(f"{e} {100 * f:.0f} %" for e, f in
                              sorted(per_edge.items(), key=lambda x: -x[1]) if f > 0)
            out.append(InputWarning("cut_off", (
                f"{name}: the person is cut off by the frame edge in {100 * frac:.0f} % of "
                f"{len(train_kp)} training frames ({sides}; mostly {', '.join(joints)}): those "
                "body parts cannot be learned: film with the whole body inside the frame")))
    if people:
        several = [c for c in people if c >= 2]
        if len(several) >= max(1, int(np.ceil(PEOPLE_FRACTION * len(people)))):
            followed = (f"the poses follow one of them (--person {person}, people numbered left "
                        "to right; the extraction summary names whom)" if person is not None else
                        "the given pose file decides whom the poses follow")
            out.append(InputWarning("people", (
                f"{name}: {max(several)} people in the frame ({len(several)} of {len(people)} "
                f"sampled frames show 2 or more): {followed}; the others stay in the frames it "
                "learns from: choose the target with --person "
                "N|largest|center, and best train on a video of the target alone")))
    return out


def cached_people_count(video: str | Path, frame_count: int, cache_dir: str | Path | None
                        ) -> list[int]:
    """`count_people`, remembered in `cache_dir/people.json` for this video (its path, size and
    mtime) and sample count, so a resumed run does not start the pose detector again for it.
    cache_dir None: counted every time."""
    if cache_dir is None:
        return count_people(video, frame_count)
    path = Path(cache_dir) / "people.json"
    key = {"video": file_fingerprint(video), "frames": int(frame_count),
           "samples": PEOPLE_SAMPLES}
    cached = read_json_object(path)
    if cached is not None and cached.get("key") == key:
        return [int(c) for c in cached["counts"]]
    counts = count_people(video, frame_count)
    write_json_atomic(path, {"key": key, "counts": counts})
    return counts


def report_training_input(video: str | Path, keypoints: np.ndarray, usable: np.ndarray,
                          size: tuple[int, int], fps: float, frame_count: int,
                          resolution: tuple[int, int], val_fraction: float,
                          person: str | int | None = None,
                          cache_dir: str | Path | None = None) -> list[InputWarning]:
    """Run every check (the people count included; remembered in `cache_dir`, see
    `cached_people_count`) and log each warning; returns them."""
    try:
        people: list[int] | None = cached_people_count(video, frame_count, cache_dir)
    except Exception as e:  # noqa: BLE001 - a failed count must not stop training
        log.info("people count skipped: %s", e)
        people = None
    warnings = check_training_input(video, keypoints, usable, size, fps, resolution,
                                    val_fraction, people, person)
    for w in warnings:
        log.warning("%s", w.message)
    if people:
        log.info("people in %d sampled frames: %s", len(people), people)
    return warnings
