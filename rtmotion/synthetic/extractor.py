"""Synthetic ground truth as a pose source: the exact poses of the synthetic dancer.

Registered by name in the pose extractor registry (`rtmotion.pose.extractors.base`) as
"synthetic" (per-frame replay) and as the "synthetic" sequence loader.

A spec string names a dancer clip: ``synthetic:ada`` or
``synthetic:character=ada,motion=dance,seconds=4,size=256x256,fps=30,seed=0`` (any subset; the
bare first item may be the character and a second bare item the motion, e.g.
``synthetic:bruno,wave``). Only the poses are computed; no frame is rendered.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from rtmotion.errors import InputError
from rtmotion.pose.extractors.base import SYNTHETIC_PREFIX as PREFIX
from rtmotion.pose.extractors.base import SequenceReplay
from rtmotion.pose.posefile import PoseSequence
from rtmotion.synthetic.generate import render_sequence

_DEFAULTS: dict[str, Any] = {"character": "ada", "motion": "dance", "seconds": 4.0,
                             "size": (256, 256), "fps": Fraction(30), "seed": 0}


def parse_spec(spec: str) -> dict[str, Any]:
    """`synthetic:...` -> keyword arguments of `rtmotion.synthetic.generate.render_sequence`."""
    body = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    out = dict(_DEFAULTS)
    bare = ["character", "motion"]
    try:
        for item in filter(None, (s.strip() for s in body.split(","))):
            if "=" not in item:
                if not bare:
                    raise ValueError(f"unexpected '{item}'")
                out[bare.pop(0)] = item
                continue
            key, value = (s.strip() for s in item.split("=", 1))
            if key in bare:
                bare.remove(key)
            if key in ("character", "motion"):
                out[key] = value
            elif key == "seconds":
                out[key] = float(value)
            elif key == "seed":
                out[key] = int(value)
            elif key == "fps":
                out[key] = Fraction(value)
            elif key == "size":
                w, h = value.lower().split("x")
                out[key] = (int(w), int(h))
            else:
                raise ValueError(f"unknown key '{key}'")
    except ValueError as e:
        raise InputError(spec, f"bad synthetic spec ({e})",
                         "e.g. synthetic:character=ada,motion=dance,seconds=4,size=256x256,fps=30") from None
    return out


def load_synthetic(spec: str | PoseSequence, **overrides: Any) -> PoseSequence:
    """Ground-truth PoseSequence of a synthetic dancer (a spec string, or a PoseSequence that
    `rtmotion.synthetic` already returned, passed through)."""
    if isinstance(spec, PoseSequence):
        return spec

    kw = parse_spec(str(spec))
    kw.update(overrides)
    try:
        _, seq = render_sequence(kw["character"], kw["motion"], seconds=kw["seconds"],
                                 size=kw["size"], fps=kw["fps"], seed=kw["seed"])
    except ValueError as e:
        raise InputError(str(spec), str(e)) from None
    return seq


class SyntheticReplayExtractor(SequenceReplay):
    """Per-frame replay of a synthetic dancer's ground truth (a perfect 'estimator' for tests
    and benchmarks that must not depend on MediaPipe)."""

    name = "synthetic"

    def __init__(self, spec: str | PoseSequence = "synthetic:ada", loop: bool = False) -> None:
        super().__init__(load_synthetic(spec), loop=loop)
        self.spec = spec if isinstance(spec, str) else spec.source

    def describe(self) -> str:
        return f"synthetic-gt:{self.spec}"
