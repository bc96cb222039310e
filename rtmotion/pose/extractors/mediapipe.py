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
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rtmotion.errors import InputError, MissingDependencyError
from rtmotion.pose.extractors.base import PoseExtractor
from rtmotion.pose.skeleton import MEDIAPIPE33_TO_BODY25, remap_keypoints

log = logging.getLogger(__name__)

_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite",
                2: "pose_landmark_heavy.tflite"}


def _import_mediapipe() -> Any:
    # glog/absl/TFLite write to fd 2 directly; these quiet what they can before the import
    # (the rest is kept out of the console by `_StderrCapture`).
    if not native_logs_wanted():
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


#: "1" lets MediaPipe / TFLite / absl / glog write to the console as they like (the CLI sets it
#: with -v; worker processes inherit it); otherwise their start-up lines are kept out of it.
NATIVE_LOGS_ENV = "RTMOTION_NATIVE_LOGS"

# Lines of the native loggers: glog/absl ("W0000 00:00:1796255937.341584   23273 file.cc:114] ...";
# before absl is initialized its clock field is seconds since the epoch),
# TFLite's minimal logger ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU."), absl's
# pre-initialization notice.
_NATIVE_LINE = re.compile(
    rb"^\r?(?:[IWEF]\d{4} \d+:\d+:\d+\.\d+\s+\d+ \S+:\d+\] "
    rb"|(?:INFO|WARNING|ERROR): (?:Created TensorFlow Lite|All log messages before absl"
    rb"|Logging before InitGoogleLogging)"
    rb"|(?:INFO|VERBOSE): )")


def native_logs_wanted() -> bool:
    """True when the user asked to see the native libraries' own logs (`-v`)."""
    return os.environ.get(NATIVE_LOGS_ENV, "") == "1"


class _StderrCapture:
    """fd 2 into a temporary file from `start()` to `stop()`, process-wide (MediaPipe's C++
    loggers write to fd 2 directly, from its graph threads, at times Python does not see: the
    graph's calculators open after the constructor returns and the TFLite delegates log on the
    first inference). `stop()` puts fd 2 back and replays what was written meanwhile: native
    log lines at DEBUG level (`-vv` shows them), every other line to the console as it was, so
    nothing of rtmotion's own output is lost, only delayed. Nested starts (several extractors
    in one process) share one capture; the last stop ends it."""

    _lock = threading.Lock()
    _users = 0
    _saved: int | None = None
    _file: Any = None

    @classmethod
    def start(cls) -> bool:
        with cls._lock:
            if cls._users == 0:
                try:
                    sys.stderr.flush()
                    cls._file = tempfile.TemporaryFile(mode="w+b")
                    cls._saved = os.dup(2)
                    os.dup2(cls._file.fileno(), 2)
                except (OSError, ValueError):
                    if cls._file is not None:
                        cls._file.close()
                    cls._file, cls._saved = None, None
                    return False
            cls._users += 1
            return True

    @classmethod
    def stop(cls) -> None:
        with cls._lock:
            if cls._users == 0:
                return
            cls._users -= 1
            if cls._users or cls._saved is None:
                return
            with contextlib.suppress(ValueError, OSError):
                sys.stderr.flush()
            os.dup2(cls._saved, 2)
            os.close(cls._saved)
            f, cls._file, cls._saved = cls._file, None, None
        f.seek(0)
        data = f.read()
        f.close()
        for line in data.splitlines(keepends=True):
            if _NATIVE_LINE.match(line):
                log.debug("mediapipe: %s", line.decode("utf-8", "replace").strip())
            elif line.strip():
                with contextlib.suppress(OSError):
                    os.write(2, line)


class QuietStartup:
    """Keeps a MediaPipe graph's start-up lines out of the console: `_StderrCapture` from
    `begin()` (call it before creating the graph) through the first `calls` runs (`ran()` after
    each) or `end()`. One capture for the whole stretch, because the graph's calculators and
    TFLite delegates log from their own threads at times Python does not see (after the
    constructor returns, on the first inferences); a capture around each call misses them.

    Args:
        calls: runs kept quiet after `begin()`.
        quiet: False lets everything through; None (default): unless `RTMOTION_NATIVE_LOGS=1`.
    """

    def __init__(self, calls: int = 3, quiet: bool | None = None) -> None:
        self.calls = int(calls)
        self.quiet = (not native_logs_wanted()) if quiet is None else bool(quiet)
        self._left = 0
        self._capturing = False

    def begin(self) -> None:
        if self.quiet and not self._capturing:
            self._capturing = _StderrCapture.start()
            self._left = self.calls

    def ran(self) -> None:
        """One run done; the capture ends after the `calls`-th."""
        if self._left > 0:
            self._left -= 1
            if self._left == 0:
                self.end()

    def end(self) -> None:
        if self._capturing:
            self._capturing = False
            _StderrCapture.stop()
        self._left = 0


def open_pose_graph(startup: QuietStartup, **options: Any) -> Any:
    """`mp.solutions.pose.Pose(**options)` with its start-up lines kept out of the console
    (`startup.begin()` first; the capture ends if the graph cannot be made)."""
    mp = _import_mediapipe()
    startup.begin()
    try:
        return mp.solutions.pose.Pose(**options)
    except BaseException:
        startup.end()
        raise


def close_pose_graph(pose: Any, startup: QuietStartup) -> None:
    """Close a graph made by `open_pose_graph` (None: nothing to close) and end its capture."""
    try:
        if pose is not None:
            pose.close()
    finally:
        startup.end()


_Graph = TypeVar("_Graph", bound="StaticPoseGraph")


class StaticPoseGraph:
    """MediaPipe's pose graph in static-image mode (a fresh detection on every image) with its
    person segmentation, quiet at start-up (`QuietStartup`): a context manager, `run(image)`
    per uint8 RGB image. What `PeopleCounter` and `PersonSegmenter` ask their images."""

    def __init__(self) -> None:
        self._pose: Any = None
        self._startup = QuietStartup()

    def __enter__(self: _Graph) -> _Graph:
        self._pose = open_pose_graph(self._startup, static_image_mode=True, model_complexity=1,
                                     smooth_landmarks=False, enable_segmentation=True,
                                     min_detection_confidence=0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        pose, self._pose = self._pose, None
        close_pose_graph(pose, self._startup)

    def run(self, image: np.ndarray) -> Any:
        """MediaPipe's result for one contiguous uint8 RGB (H, W, 3) image (`pose_landmarks`,
        `segmentation_mask`: float32 (H, W) in 0..1, both None without a person)."""
        if self._pose is None:
            raise RuntimeError(f"{type(self).__name__} used outside its `with` block")
        try:
            return self._pose.process(image)
        finally:
            self._startup.ran()  # the graph's models log on their first runs


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """`_StderrCapture` around a block (e.g. creating a MediaPipe graph)."""
    started = _StderrCapture.start()
    try:
        yield
    finally:
        if started:
            _StderrCapture.stop()


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
        quiet: keep MediaPipe's native start-up logs out of the console (replayed at DEBUG
            level; see `_StderrCapture`): from `open()` through the first `QUIET_CALLS`
            estimates. None (default): unless `RTMOTION_NATIVE_LOGS=1` (the CLI's -v).
    """

    name = "mediapipe"
    #: estimates run with the console's stderr captured after `open()` (see `quiet`)
    QUIET_CALLS = 3

    def __init__(self, model_complexity: int = 1, static_image_mode: bool = False,
                 smooth_landmarks: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, min_visibility: float = 0.5,
                 quiet: bool | None = None) -> None:
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
        self._startup = QuietStartup(self.QUIET_CALLS, quiet)
        self._pose: Any = None

    def _open(self) -> None:
        _import_mediapipe()  # a missing mediapipe is said before the model file is looked for
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
        self._pose = open_pose_graph(
            self._startup,
            static_image_mode=self.static_image_mode,
            model_complexity=self.model_complexity,
            smooth_landmarks=self.smooth_landmarks,
            enable_segmentation=False,
            min_detection_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        )

    def _close(self) -> None:
        pose, self._pose = self._pose, None
        close_pose_graph(pose, self._startup)

    def _estimate(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        img = np.ascontiguousarray(image)
        try:
            res = self._pose.process(img)
        finally:
            # The TFLite delegates log when the graph's models first run (the detector on the
            # first frame, the landmark model after): captured for a few calls.
            self._startup.ran()
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
