"""Give a subject made before the keyframe detail its `keyframe_detail.npz`.

`rtmotion train` keeps each keyframe's box at the camera's resolution (up to 768 px,
`rtmotion.subject.keyframe_detail`), and inference adds their fine detail to the enlarged person
in the output frame (`rtmotion.pipeline.detail`). A subject trained before that has no such file;
this cuts it from the subject's own source video (or, for a synthetic subject whose video is gone,
from the frames rendered again: `rtmotion.eval.sources.source_frames`), each keyframe's box being
the one its model-frame image was cut from (`keyframe_boxes`: a follow crop's from the
keyframe's recorded origin, as `train` cuts it).
Nothing else in the bundle changes.

    python tools/add_keyframe_detail.py SUBJECT [SUBJECT ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from rtmotion.errors import RtmotionError
from rtmotion.eval.sources import source_frames
from rtmotion.subject import load_subject
from rtmotion.subject.bundle import update_subject_info
from rtmotion.subject.keyframe_detail import (
    KEYFRAME_DETAIL_FILE,
    keyframe_boxes,
    keyframe_detail_from_frames,
)

log = logging.getLogger("add_keyframe_detail")


def add_detail(folder: Path) -> Path:
    subject = load_subject(folder, load_face=False)
    if subject.keyframes is None:
        raise SystemExit(f"{folder}: this subject has no keyframes (trained with --keyframes 0)")
    frames = subject.keyframes.frames
    follow = None if subject.follow_crop is None else subject.follow_crop.size
    detail = keyframe_detail_from_frames(source_frames(subject, np.sort(frames)), frames,
                                         keyframe_boxes(subject.keyframes, subject.crop, follow))
    if detail is None:
        raise SystemExit(f"{folder}: a keyframe's frame could not be read from the source video")
    path = detail.save(Path(subject.path) / KEYFRAME_DETAIL_FILE)
    update_subject_info(subject.path, keyframe_detail={"file": KEYFRAME_DETAIL_FILE,
                                                       "size": list(detail.size)})
    log.info("%s: %d keyframes at %dx%d (%.1f MB)", path, len(detail), *detail.size,
             path.stat().st_size / 1e6)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("subjects", nargs="+", type=Path, help="subject folders (or shipped names)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        for folder in args.subjects:
            add_detail(folder)
    except RtmotionError as e:
        print(f"add_keyframe_detail: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
