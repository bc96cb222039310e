"""Is a freshly trained subject usable? Its held-out score, measured the way `rtmotion eval` does.

`rtmotion train` calls `heldout_quality` after writing the bundle: the subject generates its
held-out block (frames it never trained on, in order, as inference does) and body and face SSIM
are computed against the real frames (`rtmotion.eval.evaluate`, pose re-extraction off, at most
`max_frames` frames so it takes seconds). The result goes into subject.json (`quality`) and is
printed; below the usable level the command warns loudly that the subject is not converged and
how to continue, instead of shipping a blob in silence.

Levels (model pixels, the eval table's crops): a blob measures body SSIM ~0.5 and face ~0.1; a
recognizable person ~0.8 and up; the shipped demo subject is in docs/BENCHMARKS.md.

With the score comes how new the held-out poses are to training (`rtmotion.subject.split.
PoseNovelty`, from the poses training used): a low score on new moves is not cured by training
longer on the same clip, and the warning says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtmotion.engine_request import EAGER_CPU
from rtmotion.errors import InputError
from rtmotion.eval.evaluate import EvalOptions, run_evaluation
from rtmotion.eval.sources import heldout_source
from rtmotion.subject import load_subject
from rtmotion.subject.split import PoseNovelty

log = logging.getLogger(__name__)

#: Below this held-out body SSIM a subject is "not converged" (a recognizable person scores more).
USABLE_BODY_SSIM = 0.80
#: Below this held-out face SSIM the face is mush even when the body is there.
USABLE_FACE_SSIM = 0.50
#: A resumed run that raises the held-out body SSIM by less than this has stalled: more of the
#: same training is unlikely to help. Measured on a real clip whose held-out second shows poses
#: the rest never does (docs/BENCHMARKS.md "`--resume --minutes N`" and "Reconstruction losses
#: alone"): 20 more minutes moved it 0.745 -> 0.751, 2.7x the steps 0.751 -> 0.756; reruns of
#: the same command differ by about as much.
STALLED_GAIN = 0.01


@dataclass(frozen=True)
class Quality:
    """Held-out score of a subject.

    body_ssim, face_ssim: mean SSIM on the body / face crops (None: no such crop scored);
    frames: frames scored; usable: both at or above the usable levels; novelty: how far the
    held-out poses are from the trained ones (None: the poses training used are not here).
    """

    body_ssim: float | None
    face_ssim: float | None
    frames: int
    novelty: PoseNovelty | None = None

    @property
    def usable(self) -> bool:
        return (self.body_ssim is not None and self.body_ssim >= USABLE_BODY_SSIM
                and (self.face_ssim is None or self.face_ssim >= USABLE_FACE_SSIM))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "heldout_body_ssim": self.body_ssim, "heldout_face_ssim": self.face_ssim,
            "frames": self.frames, "usable": self.usable,
            "levels": {"body_ssim": USABLE_BODY_SSIM, "face_ssim": USABLE_FACE_SSIM}}
        if self.novelty is not None:
            out["pose_novelty"] = self.novelty.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Quality:
        """The `to_dict` form back (as subject.json records it)."""
        return cls(d.get("heldout_body_ssim"), d.get("heldout_face_ssim"), int(d.get("frames") or 0),
                   PoseNovelty.from_record(d.get("pose_novelty")))

    def stalled_since(self, before: Quality) -> bool:
        """True when this score (after more training) is not usable and gained less than
        STALLED_GAIN body SSIM over `before`."""
        if self.usable or self.body_ssim is None or before.body_ssim is None:
            return False
        return self.body_ssim < before.body_ssim + STALLED_GAIN

    def describe(self) -> str:
        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.3f}"
        return f"held-out body SSIM {f(self.body_ssim)}, face SSIM {f(self.face_ssim)} ({self.frames} frames)"


def heldout_quality(subject_path: str | Path, max_frames: int = 90, device: str = "cpu") -> Quality | None:
    """Score a bundle on its held-out block. None when it has none (val fraction 0)."""
    subject = load_subject(subject_path, device=device)
    try:
        source = heldout_source(subject, max_frames=max_frames)
    except InputError as e:
        log.info("no held-out score: %s", e)
        return None
    report = run_evaluation(subject, source,
                            EvalOptions(engine=EAGER_CPU.but(device=device), pose_metrics=False))
    m = report["metrics"]
    return Quality(m["body_ssim"].get("mean"), m["face_ssim"].get("mean"),
                   int(report["frames"]["evaluated"]),
                   PoseNovelty.from_record((report.get("source") or {}).get("pose_novelty")))
