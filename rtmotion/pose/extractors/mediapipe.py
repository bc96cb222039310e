"""MediaPipe BlazePose (legacy `mp.solutions.pose`) as a `PoseExtractor`.

Only `model_complexity=1` ("full") works offline with mediapipe 0.10.21: its wheel ships
`pose_landmark_full.tflite`, while complexity 0 ("lite") and 2 ("heavy") download their model on
first use, which fails without internet (and would write into site-packages). We detect the model
files rather than versions: a complexity whose model file is absent is refused up front.

Output: BlazePose's 33 landmarks (normalized to the image) -> pixels -> canonical BODY25 via
`MEDIAPIPE33_TO_BODY25`. Landmark visibility is the confidence; a landmark below `min_visibility`
(occluded or outside the frame, where BlazePose still guesses a position) is missing (0, 0, 0).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rtmotion.errors import InputError, MissingDependencyError
from rtmotion.pose.extractors.base import PoseExtractor
from rtmotion.pose.skeleton import MEDIAPIPE33_TO_BODY25, remap_keypoints

log = logging.getLogger(__name__)

_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite",
                2: "pose_landmark_heavy.tflite"}


def _import_mediapipe() -> Any:
    # glog/absl/TFLite write to fd 2 directly; these quiet what they can before the import.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import mediapipe as mp
    except ImportError as e:
        raise MissingDependencyError("mediapipe", "pose", "pose extraction (--extractor mediapipe)") from e
    if not hasattr(mp, "solutions") or not hasattr(mp.solutions, "pose"):
        raise MissingDependencyError(
            "mediapipe==0.10.21 (with mp.solutions.pose)", "pose",
            "pose extraction (this mediapipe has no legacy pose solution)")
    return mp


def model_path(complexity: int) -> Path | None:
    """Where the installed mediapipe keeps the landmark model of `complexity` (None: absent)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    p = root / "modules" / "pose_landmark" / _MODEL_FILES[complexity]
    return p if p.is_file() else None


#: fd 2 is one per process: its capture is shared by the threads in it (several estimators, one
#: per `rtmotion serve` page), counted, and restored by the last one out (each restoring "its"
#: saved fd would leave fd 2 on another's deleted temp file, and the process's log lost)
_CAPTURE_LOCK = threading.Lock()
_capture: dict[str, Any] = {"depth": 0, "saved": -1, "file": None}
#: lines MediaPipe's native code writes (glog "W0000 00:00:..."; TFLite and absl "INFO: ...")
_NATIVE_LINE = re.compile(r"^(?:[IWEF]\d{4} |(?:INFO|WARNING|ERROR): )")


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Route fd 2 to a temp file while MediaPipe starts (its C++ logs bypass Python), then replay
    MediaPipe's lines at DEBUG level, so nothing is lost and the console stays clean. What other
    threads wrote meanwhile (the process's own log) is written back to stderr as it was."""
    import sys

    with _CAPTURE_LOCK:
        if _capture["depth"] == 0:
            try:
                saved = os.dup(2)
            except OSError:
                saved = -1
            if saved >= 0:
                tmp = tempfile.TemporaryFile(mode="w+b")
                sys.stderr.flush()
                os.dup2(tmp.fileno(), 2)
                _capture.update(saved=saved, file=tmp)
        _capture["depth"] += 1
    try:
        yield
    finally:
        with _CAPTURE_LOCK:
            _capture["depth"] -= 1
            tmp = None
            if _capture["depth"] == 0 and _capture["file"] is not None:
                tmp, saved = _capture["file"], _capture["saved"]
                _capture.update(saved=-1, file=None)
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
        if tmp is not None:
            with tmp:
                tmp.seek(0)
                text = tmp.read().decode("utf-8", "replace")
            others = []
            for line in text.splitlines():
                if _NATIVE_LINE.match(line):
                    log.debug("mediapipe: %s", line)
                elif line.strip():
                    others.append(line + "\n")
            if others:
                os.write(2, "".join(others).encode("utf-8", "replace"))


class MediaPipeExtractor(PoseExtractor):
    """BlazePose full (33 landmarks) -> BODY25 keypoints in pixels.

    Args:
        model_complexity: must be 1 unless the lite/heavy model file is installed (see module doc).
        static_image_mode: False = tracking mode (detection on the first frame, then the landmarks
            of frame t-1 seed frame t: faster and steadier; feed frames in order). True = detect
            on every image.
        smooth_landmarks: MediaPipe's own landmark filter. Off by default because rtmotion applies
            its own timestamp-aware filter afterwards (rtmotion.pose.filters) and filtering twice
            only adds lag.
        min_detection_confidence, min_tracking_confidence: MediaPipe's thresholds.
        min_visibility: landmarks with visibility below this are missing.
        quiet: hide MediaPipe's native start-up logs (replayed at DEBUG level).
    """

    name = "mediapipe"

    def __init__(self, model_complexity: int = 1, static_image_mode: bool = False,
                 smooth_landmarks: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, min_visibility: float = 0.5,
                 quiet: bool = True) -> None:
        super().__init__()
        complexity = int(model_complexity)
        if complexity not in _MODEL_FILES:
            raise InputError(None, f"MediaPipe model complexity must be 0, 1 or 2, got {model_complexity}",
                             "use --model-complexity 1")
        self.model_complexity = complexity
        self.static_image_mode = bool(static_image_mode)
        self.smooth_landmarks = bool(smooth_landmarks)
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.min_visibility = float(min_visibility)
        self.quiet = quiet
        self._pose: Any = None
        self._quiet_calls = 0

    def _open(self) -> None:
        mp = _import_mediapipe()
        if model_path(self.model_complexity) is None:
            # Refuse rather than let MediaPipe try to download (fails offline, writes into
            # site-packages when online).
            if self.model_complexity == 1:
                raise MissingDependencyError(
                    "mediapipe==0.10.21 (whose wheel carries pose_landmark_full.tflite)", "pose",
                    "pose extraction")
            raise InputError(
                None,
                f"MediaPipe model complexity {self.model_complexity} needs "
                f"{_MODEL_FILES[self.model_complexity]}, which this mediapipe does not ship "
                "and rtmotion does not download",
                "use --model-complexity 1 (BlazePose full, included)")
        ctx = _native_stderr_to_log() if self.quiet else contextlib.nullcontext()
        with ctx:
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=self.static_image_mode,
                model_complexity=self.model_complexity,
                smooth_landmarks=self.smooth_landmarks,
                enable_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
        self._quiet_calls = 3 if self.quiet else 0

    def _close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def _estimate(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        img = np.ascontiguousarray(image)
        if self._quiet_calls > 0:
            # The TFLite delegates log when the graph's models first run, from graph threads
            # that may finish after process() returns: keep stderr captured for a few calls.
            with _native_stderr_to_log():
                res = self._pose.process(img)
            self._quiet_calls -= 1
        else:
            res = self._pose.process(img)
        if res.pose_landmarks is None:
            return np.zeros((self.skeleton.num_joints, 3), np.float32)
        lm = res.pose_landmarks.landmark
        raw = np.array([(p.x * w, p.y * h, p.visibility) for p in lm], dtype=np.float32)  # 33 x 3
        raw[:, 2] = np.clip(raw[:, 2], 0.0, 1.0)
        raw[raw[:, 2] < self.min_visibility] = 0.0
        return remap_keypoints(raw, MEDIAPIPE33_TO_BODY25, self.skeleton)

    def describe(self) -> str:
        mode = "static" if self.static_image_mode else "tracking"
        return f"mediapipe-blazepose-c{self.model_complexity}-{mode}"
