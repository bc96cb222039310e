"""`live` through the real threads: a file played as a camera (real PyAV decode, real pacing),
a mocked camera (the only mock: a class with the camera interface, since no webcam exists
here) that disconnects, errors for missing cameras and packages, and the preview window as a
person sees it: a real OpenCV window on a real X server (Xvfb), captured with a real X
screenshot tool (ImageMagick `import`) and driven with real key presses (xdotool)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtmotion.cli import main
from rtmotion.errors import StageError
from rtmotion.io import VideoInfo
from rtmotion.io.camera import FileCamera
from rtmotion.io.timed_writer import TimedVideoWriter
from rtmotion.pipeline.coverage import NEW_POSE_DISTANCE
from rtmotion.pipeline.gaps import HELD, PERSON
from rtmotion.pipeline.live import LiveOptions, run_live, status_line
from rtmotion.subject import builtin_subjects_dir, load_subject

ROOT = Path(__file__).resolve().parents[2]


class FakeCamera:
    """Mocked webcam: serves `frames` at `fps` like a driver would, then 'disconnects' (read()
    returns None), or raises `fail` after `fail_after` frames, or stops delivering after
    `stall_after` frames (read() then returns nothing for 4 s, a driver's read timeout, and
    says the camera is gone)."""

    name = "fake camera"

    def __init__(self, frames: list[np.ndarray], fps: float = 30.0, fail_after: int | None = None,
                 stall_after: int | None = None) -> None:
        self.frames = frames
        self.stall_after = stall_after
        self._closing = threading.Event()
        self.fps = Fraction(fps).limit_denominator(1001)
        self.size = (frames[0].shape[1], frames[0].shape[0])
        self.frame_index = -1
        self.fail_after = fail_after
        self.closed = False

    def open(self) -> FakeCamera:
        self._t0 = time.perf_counter()
        return self

    def read(self):
        i = self.frame_index + 1
        if self.fail_after is not None and i >= self.fail_after:
            raise OSError(19, "No such device")
        if self.stall_after is not None and i >= self.stall_after:
            self._closing.wait(4.0)
            return None
        if i >= len(self.frames):
            return None  # unplugged
        due = self._t0 + i / float(self.fps)
        time.sleep(max(0.0, due - time.perf_counter()))
        self.frame_index = i
        return self.frames[i], time.perf_counter()

    def close(self) -> None:
        self.closed = True
        self._closing.set()


def _frames(clip) -> list[np.ndarray]:
    from tests.pipeline.conftest import frames_of

    return frames_of(clip.video)


def test_file_source_runs_headless_with_recording(tiny_subject_path, dancer_clip, tmp_path, capsys) -> None:
    rec, rep = tmp_path / "rec.mp4", tmp_path / "live.json"
    rc = main(["live", "--backend", "torch", "-t", str(tiny_subject_path), "--source", str(dancer_clip.video),
               "--poses", str(dancer_clip.poses), "--no-preview", "--record", str(rec), "--json", str(rep)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    report = json.loads(rep.read_text())
    assert report["frames_captured"] + report["frames_skipped_at_source"] == 60
    assert report["ended_by"] == "source ended"
    # The source ended, so nothing is in flight: every captured frame was shown or dropped.
    assert report["frames_shown"] + report["frames_dropped"] == report["frames_captured"]
    assert report["frames_shown"] > 10
    assert report["frames_dropped"] == sum(report["dropped_by_stage"].values())
    assert set(report["latency_ms"]) == {"p50", "p95", "p99"} and report["latency_ms"]["p50"] > 0
    assert {"pose", "generate", "display"} <= set(report["stages"])
    # Played at its own rate: 60 frames at 30 fps take about 2 s.
    assert 1.8 < report["seconds"] < 10
    info = VideoInfo.from_path(rec)
    assert info.frame_count == report["frames_shown"] and info.size == (64, 64)
    assert "latency" in cap.out and "dropped" in cap.out


def test_mocked_camera_disconnect_ends_cleanly_with_recording(tiny_subject, dancer_clip, tmp_path) -> None:
    cam = FakeCamera(_frames(dancer_clip)[:45])
    rec = tmp_path / "rec.mp4"
    shown: list[int] = []
    with TimedVideoWriter(rec, 30) as w:
        report = run_live(tiny_subject, cam, [lambda img, f: (shown.append(f.seq), w.write(f.result, f.t_capture))[0]],
                          LiveOptions(poses=dancer_clip.seq))
    assert cam.closed and report.ended_by == "source ended"
    assert report.frames_captured == 45 and report.frames_shown == len(shown) > 5
    assert shown == sorted(shown)  # latest wins, but never out of order
    # captured = shown + dropped + in flight, and a source that ended leaves nothing in flight
    assert report.frames_dropped == 45 - report.frames_shown
    assert report.frames_dropped == sum(report.dropped_by_stage.values())
    assert VideoInfo.from_path(rec).frame_count == len(shown)
    assert report.latency_ms["p95"] >= report.latency_ms["p50"] > 0
    assert report.new_poses is None   # a subject without keyframes: nothing to be far from


def test_live_counts_poses_far_from_the_keyframes(reference_subject_path, dancer_clip) -> None:
    """A subject with keyframes: every generated frame's pose is measured (a frame may be
    generated and then dropped before the display), each shown frame carries it, and the
    report says it; the overlay marks a new pose."""
    seen: list[float | None] = []
    report = run_live(load_subject(reference_subject_path), FakeCamera(_frames(dancer_clip)[:20]),
                      [lambda img, f: seen.append(f.pose_distance)], LiveOptions(poses=dancer_clip.seq))
    new = report.new_poses
    assert new is not None and report.frames_shown <= new["frames"] <= 20
    assert len(seen) == report.frames_shown and all(d is not None and d >= 0 for d in seen)
    assert 0 <= new["new"] <= new["frames"] and new["level"] == NEW_POSE_DISTANCE
    assert any(line.startswith("  new poses  ") for line in report.lines())
    assert status_line(3, PERSON, NEW_POSE_DISTANCE + 0.01) == "dropped 3  (new pose)"
    assert status_line(3, PERSON, NEW_POSE_DISTANCE - 0.01) == "dropped 3"
    assert status_line(0, PERSON, None) == "dropped 0"
    assert status_line(1, HELD, NEW_POSE_DISTANCE + 0.01) == "dropped 1  (no person)"


def test_live_runs_the_generator_on_its_stage_threads(tiny_subject, dancer_clip, monkeypatch) -> None:
    """The generate stage keeps to one core: a request that names no threads gets
    `torch_threads` (1) for its engine; one that names them keeps them. (open_session is
    wrapped only to see the request it gets; the real one runs.)"""
    import rtmotion.pipeline.live as live
    from rtmotion.engine_request import EAGER_CPU

    asked: list[int] = []
    real = live.open_session
    monkeypatch.setattr(live, "open_session",
                        lambda subject, request, **kw: (asked.append(request.threads), real(subject, request, **kw))[1])
    for engine in (EAGER_CPU, EAGER_CPU.but(threads=2)):
        report = run_live(tiny_subject, FakeCamera(_frames(dancer_clip)[:6]), [lambda img, f: None],
                          LiveOptions(engine=engine, poses=dancer_clip.seq))
        assert report.frames_shown >= 1
    assert asked == [1, 2]


def test_live_pacing_and_fresh_frames_reach_the_stage_runner(tiny_subject, dancer_clip,
                                                             monkeypatch) -> None:
    """`LiveOptions.pace` / `fresh` reach the stage runner (fresh input only with pacing; both
    on by default). (StagePipeline is wrapped only to see what it gets; the real one runs.)"""
    import rtmotion.pipeline.live as live

    got: list[tuple[bool, bool]] = []
    real = live.StagePipeline

    def spy(*args, **kw):
        got.append((kw["pace"], kw["fresh"]))
        return real(*args, **kw)

    monkeypatch.setattr(live, "StagePipeline", spy)
    for options in ({}, {"fresh": False}, {"pace": False}):
        report = run_live(tiny_subject, FakeCamera(_frames(dancer_clip)[:4]), [lambda img, f: None],
                          LiveOptions(poses=dancer_clip.seq, **options))
        assert report.frames_shown >= 1
    assert got == [(True, True), (True, False), (False, False)]


def test_display_height_scales_the_shown_picture_or_none_keeps_it(tiny_subject, dancer_clip) -> None:
    """The shown picture is scaled to `display_height`; None (`rtmotion serve`, whose page
    scales it) passes the result at its own size (0 once crashed cv2.resize)."""
    for height in (512, None):
        shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        report = run_live(tiny_subject, FakeCamera(_frames(dancer_clip)[:12]),
                          [lambda img, f: shapes.append((img.shape, f.result.shape))],
                          LiveOptions(poses=dancer_clip.seq, overlay=False, display_height=height))
        assert report.ended_by == "source ended" and shapes
        for shown, result in shapes:
            if height is None:
                assert shown == result
            else:
                assert shown[0] == height and result[0] != height


def test_slow_display_must_drop_frames_and_count_them(tiny_subject, dancer_clip) -> None:
    """A display four times slower than the camera: latest wins, so most frames are dropped, and
    the report accounts for every one of them (captured = shown + dropped once the source ended).
    The sink's own record of what it saw is the oracle for `frames_shown`."""
    cam = FakeCamera(_frames(dancer_clip)[:40])
    seen: list[int] = []

    def slow_sink(image: np.ndarray, frame) -> None:
        seen.append(frame.seq)
        time.sleep(4 / 30)  # four camera frames per shown frame

    report = run_live(tiny_subject, cam, [slow_sink], LiveOptions(poses=dancer_clip.seq))
    assert report.ended_by == "source ended" and report.frames_captured == 40
    assert report.frames_shown == len(seen) and seen == sorted(set(seen))
    # 40 frames at 30 fps take 1.3 s; a sink of 0.13 s per frame shows at most about 11 of them.
    assert report.frames_shown <= 15 and report.frames_dropped >= 25
    assert report.frames_shown + report.frames_dropped == 40
    assert report.dropped_by_stage["display"] > 0
    assert report.frames_dropped == sum(report.dropped_by_stage.values())
    # what was never shown is exactly what was dropped: each seq shown once, the rest counted
    assert len(set(range(40)) - set(seen)) == report.frames_dropped


def test_mocked_camera_failure_is_a_stage_error(tiny_subject, dancer_clip) -> None:
    cam = FakeCamera(_frames(dancer_clip), fail_after=10)
    t0 = time.perf_counter()
    with pytest.raises(StageError) as ei:
        run_live(tiny_subject, cam, [lambda img, f: None], LiveOptions(poses=dancer_clip.seq))
    assert ei.value.stage == "capture" and "No such device" in str(ei.value)
    assert time.perf_counter() - t0 < 10 and cam.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("rtmotion-") and t.is_alive()]


def test_time_limit_ends_a_run_whose_camera_stopped_delivering(tiny_subject, dancer_clip) -> None:
    """--seconds holds when no frame comes at all (it was checked only when one came, so a
    stalled camera or stage kept the run alive for ever)."""
    cam = FakeCamera(_frames(dancer_clip), stall_after=5)
    t0 = time.perf_counter()
    report = run_live(tiny_subject, cam, [lambda img, f: None],
                      LiveOptions(poses=dancer_clip.seq, seconds=2.0))
    assert time.perf_counter() - t0 < 2.0 + 5.0
    assert report.ended_by.startswith("time limit (no frame for the last ") and cam.closed
    assert report.frames_captured == 5
    assert not [t for t in threading.enumerate() if t.name.startswith("rtmotion-") and t.is_alive()]


def test_ctrl_c_ends_a_live_run_with_its_report(tiny_subject, dancer_clip) -> None:
    """Ctrl-C (KeyboardInterrupt in the display thread) is a way to end a live run: the run
    stops as for the quit key and its report says so."""
    shown: list[int] = []

    def sink(img, frame):
        if len(shown) == 4:
            raise KeyboardInterrupt
        shown.append(frame.seq)

    report = run_live(tiny_subject, FakeCamera(_frames(dancer_clip)), [sink],
                      LiveOptions(poses=dancer_clip.seq))
    assert report.ended_by == "interrupted (Ctrl-C)" and report.frames_shown == 4 == len(shown)
    assert not [t for t in threading.enumerate() if t.name.startswith("rtmotion-") and t.is_alive()]


def test_a_live_process_prints_its_stacks_on_sigusr1_and_ends_with_its_report_on_ctrl_c(
        tiny_subject_path, dancer_clip, tmp_path) -> None:
    """A real `rtmotion live` process: `kill -USR1` prints every thread's stack and the run
    goes on; Ctrl-C (SIGINT) then ends it with exit 0 and its report."""
    log, rep = tmp_path / "live.log", tmp_path / "live.json"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rtmotion", "live", "--backend", "torch", "-t", str(tiny_subject_path),
             "--source", str(dancer_clip.video), "--poses", str(dancer_clip.poses), "--loop",
             "--seconds", "120", "--no-preview", "--json", str(rep)],
            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 90
        while "pose normalization" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        time.sleep(2.0)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        assert proc.poll() is None, log.read_text()          # it goes on
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "Thread 0x" in text and "rtmotion/pipeline/stages.py" in text  # the stage threads' stacks
    report = json.loads(rep.read_text())
    assert report["ended_by"] == "interrupted (Ctrl-C)" and report["frames_shown"] > 0


def test_a_result_only_shown_is_composed_at_the_previews_size(tiny_subject, dancer_clip) -> None:
    """`rtmotion live` with only the preview composes the result at the preview's height instead
    of the camera's (then shrinking it): the same picture for less work."""
    from rtmotion.pipeline.live import preview_output_size

    assert preview_output_size((692, 1108), 512) == (320, 512)
    assert preview_output_size((1920, 1080), 512) == (910, 512)
    assert preview_output_size((512, 512), 512) is None and preview_output_size((1920, 1080), None) is None
    sizes: list[tuple[int, ...]] = []
    report = run_live(tiny_subject, FakeCamera(_frames(dancer_clip)[:20]),
                      [lambda img, f: sizes.append(f.result.shape)],
                      LiveOptions(poses=dancer_clip.seq, output_size=(48, 48), display_height=96))
    assert report.frames_shown == len(sizes) > 3 and set(sizes) == {(48, 48, 3)}


def test_looping_file_camera_keeps_its_pace(dancer_clip) -> None:
    cam = FileCamera(dancer_clip.video, loop=True).open()
    t0 = time.perf_counter()
    got = [cam.read() for _ in range(75)]
    el = time.perf_counter() - t0
    cam.close()
    assert all(g is not None for g in got) and cam.passes == 2
    assert 75 / 30 - 0.2 < el < 75 / 30 + 1.0
    assert cam.frame_index == 14  # frame 74 is the second pass's frame 14


def test_file_camera_clock_starts_at_the_first_read(dancer_clip) -> None:
    """Seconds spent between open() and the first read() (an engine loading or being built,
    MediaPipe starting) are not a backlog: every frame is delivered when it is due, so its
    capture time is now, not seconds ago."""
    cam = FileCamera(dancer_clip.video).open()
    time.sleep(0.6)
    lags = []
    for _ in range(10):
        got = cam.read()
        assert got is not None
        lags.append(time.perf_counter() - got[1])
    cam.close()
    assert max(lags) < 0.1, f"frames were {max(lags) * 1000:.0f} ms old when read"
    assert cam.skipped == 0 and cam.frame_index == 9


def test_file_camera_drops_stale_frames_at_capture(dancer_clip) -> None:
    """A consumer that was busy for 15 frame periods gets the frame of now, as from a camera:
    the ones nobody took are dropped at capture and counted, never queued."""
    cam = FileCamera(dancer_clip.video).open()
    assert cam.read() is not None and cam.frame_index == 0
    time.sleep(0.5)
    got = cam.read()
    lag = time.perf_counter() - got[1]
    cam.close()
    assert lag < 0.1, f"the frame read after the stall was {lag * 1000:.0f} ms old"
    assert cam.frame_index >= 10 and cam.skipped == cam.frame_index - 1
    assert cam.delivered == 2


def test_live_file_source_latency_is_the_pipeline_not_a_backlog(tiny_subject, dancer_clip,
                                                                tmp_path) -> None:
    """A file played as a camera in real time, looped, through the real pipeline whose engine
    is built first (ONNX export + check, seconds while the source is open): capture-to-display
    stays near the stage times (the old clock started at open(), so every frame after the
    build arrived seconds late), and every frame captured is shown, dropped or in flight."""
    from rtmotion.engine_request import EngineRequest

    cam = FileCamera(dancer_clip.video, loop=True)
    shown: list[int] = []
    report = run_live(tiny_subject, cam, [lambda img, f: shown.append(f.seq)],
                      LiveOptions(engine=EngineRequest("onnxruntime", "fp32", "cpu", tmp_path / "e"),
                                  poses=dancer_clip.seq, seconds=4.5, warmup_frames=3))
    assert report.build_seconds > 0 and "onnx-fp32" in (report.engine_built or "")
    assert cam.passes >= 2 and report.ended_by == "time limit"
    assert report.frames_shown == len(shown) and shown == sorted(shown)
    assert report.frames_captured == (report.frames_shown + report.frames_dropped
                                      + report.frames_in_flight)
    assert 0 <= report.frames_in_flight <= 6   # at most two per stage (one in it, one waiting)
    assert report.frames_captured + report.frames_skipped_at_source >= 4.0 * 30
    stages = sum(report.stages[n]["p95"] for n in ("pose", "generate", "display"))
    budget = stages + 2 * 1000 / 30 + 100   # the stages, up to two frame periods, slack
    assert report.latency_ms["p95"] < budget, (report.latency_ms, report.stages)
    assert report.warmup_frames == 3
    # The warm-up frames too: first calls are slow, but nothing like the build before them.
    assert report.warmup_latency_ms < max(400.0, 500 * report.build_seconds), (
        report.warmup_latency_ms, report.build_seconds)


def test_no_such_camera_lists_cameras(tiny_subject_path, capsys) -> None:
    rc = main(["-q", "live", "--backend", "torch", "-t", str(tiny_subject_path), "--camera", "7", "--no-preview"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "camera 7" in err[0] and "camera" in err[0].split(":", 2)[-1]


def test_virtual_camera_without_package_names_the_extra(tiny_subject_path, dancer_clip, capsys) -> None:
    pytest.importorskip("numpy")
    if __import__("rtmotion.lazy", fromlist=["available"]).available("pyvirtualcam"):
        pytest.skip("pyvirtualcam is installed here")
    rc = main(["-q", "live", "--backend", "torch", "-t", str(tiny_subject_path), "--source", str(dancer_clip.video),
               "--no-preview", "--virtual-camera"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 4 and len(err) == 1 and "rtmotion[live]" in err[0] and "v4l2loopback" in err[0]


def test_preview_without_display_is_a_clear_error(tiny_subject_path, dancer_clip, capsys, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc = main(["-q", "live", "--backend", "torch", "-t", str(tiny_subject_path), "--source", str(dancer_clip.video)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and len(err) == 1 and "--no-preview" in err[0]


# ---- the preview as a person sees it --------------------------------------------------------

def _free_display() -> int:
    for n in range(87, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    pytest.skip("no free X display number")


@pytest.fixture
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb)")
    for tool in ("import", "xdotool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: apt-get install imagemagick xdotool)")
    n = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                break
            time.sleep(0.1)
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for_window(env: dict, title: str, timeout: float = 60.0) -> str:
    t0 = time.time()
    while time.time() - t0 < timeout:
        r = subprocess.run(["xdotool", "search", "--name", title], env=env, capture_output=True, text=True,
                           check=False)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.split()[0]
        time.sleep(0.3)
    raise AssertionError("the preview window never appeared")


def _window_geometry(env: dict, title: str, timeout: float = 30.0) -> tuple[str, dict[str, str]]:
    """(window id, `xdotool getwindowgeometry --shell` fields) of the window named `title`,
    searched afresh: OpenCV may replace its window (a new id) when the picture's size changes,
    so an id found earlier can be gone by the time it is asked about."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        win = _wait_for_window(env, title, timeout)
        r = subprocess.run(["xdotool", "getwindowgeometry", "--shell", win], env=env,
                           capture_output=True, text=True, check=False)
        if r.returncode == 0:
            return win, dict(line.split("=", 1) for line in r.stdout.split())
        time.sleep(0.3)
    raise AssertionError(f"the window {title!r} kept going away")


def _screenshot_of_window(env: dict, title: str, path: Path, size: tuple[int, int], min_std: float,
                          timeout: float, proc: subprocess.Popen | None = None,
                          log: Path | None = None) -> tuple[np.ndarray, dict[str, str]]:
    """(the whole screen as BGR uint8 (H, W, 3), the window's geometry fields) once the window
    named `title` is `size` (width, height) px and shows a picture (its region's std > min_std).

    The geometry and the screenshot are taken together, each try afresh: on a loaded machine
    the model takes long to load, and OpenCV may replace its window when the picture's size
    changes, so a geometry asked for earlier can point at a black, not yet drawn window.
    `proc` (with its output file `log`): the process that owns the window; when it has ended
    there is nothing to wait for, and its output says why."""
    t0 = time.time()
    last = "no screenshot taken"
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            said = log.read_text(errors="replace")[-3000:] if log is not None else ""
            raise AssertionError(f"the process showing {title!r} ended (exit {proc.returncode}) "
                                 f"before its window showed a picture: {said}")
        _, g = _window_geometry(env, title)
        subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
        img = cv2.imread(str(path))
        x0, y0, w, h = (int(g[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        if img is not None and (w, h) == size:
            std = float(img[y0:y0 + h, x0:x0 + w].std())
            if std > min_std:
                return img, g
            last = f"the {w}x{h} window at ({x0}, {y0}) had std {std:.1f}"
        else:
            last = f"the window was {w}x{h}, not {size[0]}x{size[1]}"
        time.sleep(0.5)
    raise AssertionError(f"the window {title!r} showed no {size[0]}x{size[1]} picture in {timeout:.0f} s: {last}")


@pytest.mark.skipif(not (builtin_subjects_dir() / "demo-ada" / "subject.json").is_file(),
                    reason="the shipped demo subject is missing from this checkout")
def _ctrl_c_as_in_a_terminal() -> None:
    """In the child before it runs: SIGINT back to its default. pytest-xdist's workers ignore
    SIGINT, and a process started with SIGINT ignored keeps ignoring it (Python installs its
    KeyboardInterrupt handler only where SIGINT was not ignored), so Ctrl-C would not reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_live(env: dict, dancer_clip, folder: Path) -> tuple[subprocess.Popen, Path]:
    """`rtmotion live` on the shipped demo subject, its window on `env`'s display; its output
    (with PYTHONFAULTHANDLER: every thread's stack on SIGABRT) goes to folder/live.log, a file,
    not a pipe: a pipe nobody reads while the test waits fills up and stops the process
    mid-write. --seconds is only a safety end (the test quits with "q"): it outlasts the waits."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "live.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rtmotion", "live", "--backend", "torch", "-t", "demo-ada", "--source", str(dancer_clip.video),
             "--poses", str(dancer_clip.poses), "--loop", "--seconds", "420", "--snapshot-dir", str(folder),
             "--json", str(folder / "live.json")], env=dict(env, PYTHONFAULTHANDLER="1"), cwd=folder,
            stdout=log_file, stderr=subprocess.STDOUT, text=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    return proc, log


def _stacks_and_stop(proc: subprocess.Popen, log: Path) -> str:
    """Stop a live process that showed no picture and say what it was doing: SIGUSR1 (every
    thread's stack, `rtmotion.cli`), then Ctrl-C (SIGINT), which ends a live run with its
    report (`live.json`: frames captured and shown, each stage's count and times: did frames
    reach the window, or did a stage stall?); if that does not end it within 15 s, SIGABRT.
    Returns the report's numbers (if any) and the end of its output."""
    said = ""
    if proc.poll() is None:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            said = "Ctrl-C did not end it within 15 s.\n"
            proc.send_signal(signal.SIGABRT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    rep = log.parent / "live.json"
    if rep.is_file():
        r = json.loads(rep.read_text())
        said += (f"its report: ended by {r.get('ended_by')!r}, {r.get('frames_captured')} frames captured, "
                 f"{r.get('frames_shown')} shown, dropped by stage {r.get('dropped_by_stage')}, "
                 f"stages {json.dumps(r.get('stages'))}\n")
    return said + log.read_text(errors="replace")[-6000:]


@pytest.mark.skipif(not (builtin_subjects_dir() / "demo-ada" / "subject.json").is_file(),
                    reason="the shipped demo subject is missing from this checkout")
def test_preview_window_screenshot_and_keys(xvfb, dancer_clip, tmp_path) -> None:
    env = dict(os.environ, DISPLAY=xvfb, PYTHONPATH=str(ROOT))
    # The window opens before the model loads; wait for pictures, then a few seconds more (the
    # normalization warms up over 2 s). In the whole suite (2 workers) the window twice stayed
    # black for 150 s and 240 s while the process lived, its last line the normalization's;
    # never alone, nor beside two busy loops (once more in 23 runs beside the suite, both tries;
    # another time Qt could not connect to the X server and aborted). Until that is understood,
    # a run that shows nothing in 120 s is stopped with its threads' stacks and its report
    # (`_stacks_and_stop`: were frames shown into a black window, or did a stage stall?),
    # which the test reports as a warning (or in its failure), and a second run is the one tested.
    shot = tmp_path / "screen.png"
    first_try = ""
    for attempt in (1, 2):
        folder = tmp_path / f"run{attempt}"
        proc, log = _start_live(env, dancer_clip, folder)
        try:
            _wait_for_window(env, "rtmotion live")
            _screenshot_of_window(env, "rtmotion live", shot, (512, 512), 20, timeout=120 if attempt == 1 else 240,
                                  proc=proc, log=log)
            break
        except AssertionError as e:
            said = _stacks_and_stop(proc, log)
            if attempt == 2:
                raise AssertionError(f"{e}\nthe first run: {first_try}\nthe second run: {said}") from None
            first_try = f"{e}\n{said}"
    if first_try:
        warnings.warn(f"the first live run showed no picture (a second one did): {first_try}", stacklevel=1)
    rep = folder / "live.json"
    try:
        time.sleep(2.5)
        img, g = _screenshot_of_window(env, "rtmotion live", shot, (512, 512), 20, timeout=60, proc=proc, log=log)
        # One key per shown frame reaches OpenCV: press them as a person would, not 1 ms apart.
        for key in ("s", "r", "t"):
            win, _ = _window_geometry(env, "rtmotion live")
            subprocess.run(["xdotool", "key", "--window", win, key], env=env, check=True)
            time.sleep(1.0)
        shot2 = tmp_path / "screen_side.png"
        side_screen, g2 = _screenshot_of_window(env, "rtmotion live", shot2, (3 * 512, 512), 10, timeout=60,
                                                proc=proc, log=log)
        win, _ = _window_geometry(env, "rtmotion live")
        subprocess.run(["xdotool", "key", "--window", win, "q"], env=env, check=True)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = log.read_text(errors="replace")
    assert proc.returncode == 0, err
    keep = os.environ.get("RTMOTION_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
        shutil.copy(shot2, str(Path(keep).with_name(Path(keep).stem + "_side.png")))
    assert img.shape == (1080, 1920, 3)            # BGR, the whole Xvfb screen
    x0, y0, w, h = (int(g[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
    # The window shows the subject's 512x512 frame at the display height, a real picture
    # (`_screenshot_of_window` waited for both).
    window = img[y0:y0 + h, x0:x0 + w]
    # Outside the window the screen is black (the root window): the picture is the window's.
    assert img[y0 + h + 5:, :].max() == 0
    # t: side by side (source | pose | result, 512 px each); r: the normalization restarts.
    side = side_screen[int(g2["Y"]):int(g2["Y"]) + 512, int(g2["X"]):int(g2["X"]) + 1536]
    assert all(side[:, i * 512:(i + 1) * 512].std() > 10 for i in range(3))
    assert "re-estimating the pose normalization" in err, err
    # The overlay: white text on a black box at the window's top left.
    box = window[:60, :200]
    assert (box.min(axis=2) > 200).sum() > 50 and (box.max(axis=2) < 30).sum() > 500
    report = json.loads(rep.read_text())
    assert report["ended_by"] == "quit key" and report["frames_shown"] > 10
    assert len(report["snapshots"]) == 1 and Path(report["snapshots"][0]).is_file()


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_short_soak_memory_is_flat(tiny_subject, dancer_clip) -> None:
    """60 s of a looping file source (the 10-minute soak in docs/BENCHMARKS.md is the long
    version): resident memory after the first 10 s grows by less than 20 MB."""
    samples: list[tuple[float, int]] = []
    t0 = time.perf_counter()

    def sink(image, frame) -> None:
        if frame.seq % 15 == 0:
            samples.append((time.perf_counter() - t0, _rss_kb()))

    cam = FileCamera(dancer_clip.video, loop=True)
    report = run_live(tiny_subject, cam, [sink], LiveOptions(poses=dancer_clip.seq, seconds=60))
    assert report.ended_by == "time limit" and cam.passes >= 25
    after_warmup = [kb for t, kb in samples if t > 10]
    assert max(after_warmup) - after_warmup[0] < 20_000
