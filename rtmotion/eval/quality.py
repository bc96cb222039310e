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

And the subject's fit: the same score on two blocks of frames it trained on (`rtmotion.eval.
sources.training_source`), drawn as training drew them, without their own keyframes. The held-out
score alone cannot say whether a subject has finished learning: on a clip whose held-out block
shows poses the rest does not, 2 and 20 minutes score the same there (the fashion clip: 0.755 and
0.737), and on one whose held-out poses are easy, so do they (0.879 and 0.879), while on their
training frames 2 minutes scored 0.83-0.88 and 20 minutes 0.92-0.94 on three real clips
(docs/BENCHMARKS.md "Fit on the training frames"). A fit under `CONVERGED_FIT_BODY_SSIM` is "not
converged: train longer" (and so is a fit whose face is under `CONVERGED_FIT_FACE_SSIM`: the
body is learned first); a fit above them with a poor held-out score is "learned the clip, not
these poses: more of the same training will not help".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtmotion.engine_request import EAGER_CPU
from rtmotion.errors import InputError
from rtmotion.eval.evaluate import EvalOptions, run_evaluation
from rtmotion.eval.sources import heldout_source, training_source
from rtmotion.subject import Subject, load_subject
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
#: At or above this body SSIM on its own training frames (without their keyframes) a subject has
#: learned the clip. Measured on three real 8 s clips (docs/BENCHMARKS.md "Fit on the training
#: frames"): after 2 minutes 0.833, 0.854, 0.882, after 20 minutes 0.922, 0.937, 0.940; a
#: synthetic dancer 0.946 after 2 minutes (its held-out score then 0.971: close to done), 0.976
#: after 8. Drawn with their own keyframes (inference's lookup, no exclusion) the two durations
#: hardly differed in a scratch measurement: a frame's own keyframe is a copy of it.
CONVERGED_FIT_BODY_SSIM = 0.90
#: ... and at or above this face SSIM there: the body is learned before the face. A slow yoga
#: clip after 2 minutes fit the body 0.943 (0.967 after 20 minutes, its held-out 0.950 and
#: 0.959) but the face 0.734 (0.873 after 20). On training frames the face scored 0.315-0.797 after
#: 2 minutes on four real 8 s clips and 0.818-0.882 after 20 on six (docs/BENCHMARKS.md "Fit on
#: the training frames" and "... a moving camera named"); the synthetic dancer 0.811 after 2, 0.904
#: after 8.
CONVERGED_FIT_FACE_SSIM = 0.80


@dataclass(frozen=True)
class Quality:
    """Held-out score of a subject.

    body_ssim, face_ssim: mean SSIM on the body / face crops (None: no such crop scored);
    frames: frames scored; usable: both at or above the usable levels; novelty: how far the
    held-out poses are from the trained ones (None: the poses training used are not here);
    fit: the same scores on frames it trained on (None: not measured); converged: the fit's body
    SSIM at or above CONVERGED_FIT_BODY_SSIM and its face SSIM (where a face was scored) at or
    above CONVERGED_FIT_FACE_SSIM (None: no fit).
    """

    body_ssim: float | None
    face_ssim: float | None
    frames: int
    novelty: PoseNovelty | None = None
    fit: Fit | None = None

    @property
    def usable(self) -> bool:
        return (self.body_ssim is not None and self.body_ssim >= USABLE_BODY_SSIM
                and (self.face_ssim is None or self.face_ssim >= USABLE_FACE_SSIM))

    @property
    def converged(self) -> bool | None:
        if self.fit is None or self.fit.body_ssim is None:
            return None
        return not self._fit_short()

    def _fit_short(self) -> list[tuple[str, float, float]]:
        """(part, fit score, level) of each part of the fit under its level (body, face)."""
        if self.fit is None or self.fit.body_ssim is None:
            return []
        short = []
        if self.fit.body_ssim < CONVERGED_FIT_BODY_SSIM:
            short.append(("body", self.fit.body_ssim, CONVERGED_FIT_BODY_SSIM))
        if self.fit.face_ssim is not None and self.fit.face_ssim < CONVERGED_FIT_FACE_SSIM:
            short.append(("face", self.fit.face_ssim, CONVERGED_FIT_FACE_SSIM))
        return short

    def fit_shortfall(self) -> str:
        """What of the fit is under its level, in words ("under 0.90 body SSIM"); "" when none."""
        return " and ".join(f"under {level:.2f} {part} SSIM" for part, _, level in self._fit_short())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "heldout_body_ssim": self.body_ssim, "heldout_face_ssim": self.face_ssim,
            "frames": self.frames, "usable": self.usable, "converged": self.converged,
            "levels": {"body_ssim": USABLE_BODY_SSIM, "face_ssim": USABLE_FACE_SSIM,
                       "fit_body_ssim": CONVERGED_FIT_BODY_SSIM,
                       "fit_face_ssim": CONVERGED_FIT_FACE_SSIM}}
        if self.novelty is not None:
            out["pose_novelty"] = self.novelty.to_dict()
        if self.fit is not None:
            out["training_fit"] = self.fit.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Quality:
        """The `to_dict` form back (as subject.json records it)."""
        fit = d.get("training_fit")
        return cls(d.get("heldout_body_ssim"), d.get("heldout_face_ssim"), int(d.get("frames") or 0),
                   PoseNovelty.from_record(d.get("pose_novelty")),
                   Fit.from_dict(fit) if isinstance(fit, dict) else None)

    def stalled_since(self, before: Quality) -> bool:
        """True when this score (after more training) is not usable and gained less than
        STALLED_GAIN body SSIM over `before`."""
        if self.usable or self.body_ssim is None or before.body_ssim is None:
            return False
        return self.body_ssim < before.body_ssim + STALLED_GAIN

    def fit_stalled_since(self, before: Quality) -> bool:
        """True when the fit (after more training) is still under its levels and none of the
        parts under them (body, face) gained STALLED_GAIN over `before`'s: more of the same
        training does not finish it."""
        if self.converged is not False or before.fit is None:
            return False
        was = {"body": before.fit.body_ssim, "face": before.fit.face_ssim}
        return all(was[part] is not None and now < was[part] + STALLED_GAIN  # type: ignore[operator]
                   for part, now, _ in self._fit_short())

    def describe(self, with_fit: bool = True) -> str:
        """The held-out scores, and the fit unless `with_fit` is False."""
        held = f"held-out {_scores_text(self.body_ssim, self.face_ssim, self.frames)}"
        return held if self.fit is None or not with_fit else f"{held}; {self.fit.describe()}"


@dataclass(frozen=True)
class Fit:
    """A subject's score on frames it trained on (`rtmotion.eval.sources.training_source`).

    body_ssim, face_ssim: mean SSIM on the body / face crops (None: no such crop scored);
    frames: frames scored; blocks: their (start, end) frame ranges, end exclusive.
    """

    body_ssim: float | None
    face_ssim: float | None
    frames: int
    blocks: tuple[tuple[int, int], ...] = ()

    def describe(self) -> str:
        return f"on frames it trained on {_scores_text(self.body_ssim, self.face_ssim, self.frames)}"

    def to_dict(self) -> dict[str, Any]:
        return {"body_ssim": self.body_ssim, "face_ssim": self.face_ssim, "frames": self.frames,
                "blocks": [list(b) for b in self.blocks]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fit:
        return cls(d.get("body_ssim"), d.get("face_ssim"), int(d.get("frames") or 0),
                   tuple(tuple(int(v) for v in b) for b in d.get("blocks") or ()))


def _scores_text(body: float | None, face: float | None, frames: int) -> str:
    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"
    return f"body SSIM {f(body)}, face SSIM {f(face)} ({frames} frames)"


def _scores(report: dict[str, Any]) -> tuple[float | None, float | None, int]:
    """(body SSIM, face SSIM, frames scored) of an evaluation report."""
    m = report["metrics"]
    return m["body_ssim"].get("mean"), m["face_ssim"].get("mean"), int(report["frames"]["evaluated"])


def heldout_quality(subject_path: str | Path, max_frames: int = 90, device: str = "cpu") -> Quality | None:
    """Score a bundle on its held-out block, and its fit on as many frames it trained on (at
    most `max_frames` each). None when it has no held-out block (val fraction 0)."""
    subject = load_subject(subject_path, device=device)
    try:
        source = heldout_source(subject, max_frames=max_frames)
    except InputError as e:
        log.info("no held-out score: %s", e)
        return None
    options = EvalOptions(engine=EAGER_CPU.but(device=device), pose_metrics=False)
    report = run_evaluation(subject, source, options)
    return Quality(*_scores(report),
                   PoseNovelty.from_record((report.get("source") or {}).get("pose_novelty")),
                   training_fit(subject, max_frames, options))


def training_fit(subject: Subject, max_frames: int, options: EvalOptions) -> Fit | None:
    """The subject's score on frames it trained on (`training_source`), None when no block of
    training frames as long as the held-out one exists (said in the log)."""
    try:
        drawn_as_trained, source = training_source(subject, max_frames=max_frames)
        report = run_evaluation(drawn_as_trained, source, options)
    except InputError as e:
        log.info("no score on the training frames: %s", e)
        return None
    return Fit(*_scores(report),
               tuple(tuple(b) for b in (report.get("source") or {}).get("frames") or ()))
