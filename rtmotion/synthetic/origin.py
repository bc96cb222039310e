"""Where a synthetic video or pose file came from: one type, one text format, one tag format.

    origin = SyntheticOrigin("ada", "dance", seed=0, background="studio")
    origin.source_text()   -> "synthetic:ada/dance/seed0"      (pose files' `source` field)
    origin.tag()           -> "rtmotion synthetic:ada/dance/seed0 background=studio"
                              (the MP4 comment of `rtmotion synth` videos)
    SyntheticOrigin.parse("synthetic:ada/dance/seed0")  /  SyntheticOrigin.from_tag(comment)

Training records it in subject.json (`source_video.origin` / `.background`), so `rtmotion eval`
can re-render the target's frames and exact poses when the training video is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

SOURCE_PREFIX = "synthetic:"
TAG_PREFIX = "rtmotion "
_SOURCE_RE = re.compile(r"^synthetic:(?P<character>[A-Za-z0-9_-]+)/(?P<motion>[A-Za-z0-9_-]+)"
                        r"/seed(?P<seed>\d+)$")


@dataclass(frozen=True)
class SyntheticOrigin:
    """A synthetic dancer clip: character, motion (name of `rtmotion.synthetic.MOTIONS` or
    "custom"), random seed of the motion, and the background (None: unknown)."""

    character: str
    motion: str
    seed: int = 0
    background: str | None = None

    def source_text(self) -> str:
        """"synthetic:CHARACTER/MOTION/seedN" (no background: pose files do not need it)."""
        return f"{SOURCE_PREFIX}{self.character}/{self.motion}/seed{self.seed}"

    def tag(self) -> str:
        """The container comment tag: "rtmotion synthetic:C/M/seedN background=B"."""
        tail = f" background={self.background}" if self.background else ""
        return f"{TAG_PREFIX}{self.source_text()}{tail}"

    def with_background(self, background: str | None) -> SyntheticOrigin:
        return replace(self, background=background)

    @classmethod
    def parse(cls, text: Any, background: str | None = None) -> SyntheticOrigin | None:
        """From "synthetic:C/M/seedN", or a dict {"character", "motion", "seed"}; else None."""
        if isinstance(text, dict):
            try:
                return cls(str(text["character"]), str(text.get("motion") or "custom"),
                           int(text.get("seed", 0)), background or text.get("background"))
            except (KeyError, TypeError, ValueError):
                return None
        m = _SOURCE_RE.match(str(text or "").strip())
        if not m:
            return None
        return cls(m["character"], m["motion"], int(m["seed"]), background)

    @classmethod
    def from_tag(cls, text: str) -> SyntheticOrigin | None:
        """From a container comment written by `tag()`, else None."""
        if not str(text).startswith(TAG_PREFIX + SOURCE_PREFIX):
            return None
        parts = str(text)[len(TAG_PREFIX):].split()
        background = None
        for p in parts[1:]:
            k, _, v = p.partition("=")
            if k == "background" and v:
                background = v
        return cls.parse(parts[0], background)
