"""`rtmotion serve` as a person uses it: the server started from the command line, the page
opened in headless Chromium whose fake camera plays a video `rtmotion synth` made, the subject
dancing back in the page (screenshots), two pages at once, a page that sends garbage.

Skips with a reason when Chromium is missing (`.ci/run` installs Debian's chromium)."""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("aiohttp", reason="aiohttp (extra 'serve') is not installed")

from rtmotion.serve.browser import Chromium, find_chromium

pytestmark = [pytest.mark.skipif(find_chromium() is None,
                                 reason="Chromium is not installed (apt-get install chromium)"),
              pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
#: bounded waits, generous for a 2-core machine shared with heavy jobs (each returns as soon as
#: its condition holds): the server's start (torch, the subject), a page's first frames (its
#: pipeline: MediaPipe and the generator), a few more frames, the server's log
SERVER_START_S = 240
FIRST_FRAMES_S = 240
MORE_FRAMES_S = 120
LOG_S = 60
#: a closed page's pipeline is freed within this (the viewer's own bound, STOP_TIMEOUT_S)
FREED_S = 15
#: a pixel is "different" when one channel differs by more than this (0..255): the page's JPEG
#: and its scaling leave the background within ~30 of the subject's plate; a person differs by more
DIFF = 40
#: of the pixels where a person is in either of two views, the share that changed: a dancing
#: subject measured 0.2-0.6 a few frames apart (0.05 at the rare moment its pose repeats);
#: a frozen view is exactly 0
MOVED = 0.15


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory) -> Path:
    """bruno dancing, made by `rtmotion synth` and written as the .y4m Chromium's fake camera plays."""
    from rtmotion.io.reader import read_frames
    from rtmotion.io.y4m import write_y4m

    folder = tmp_path_factory.mktemp("camera")
    mp4 = folder / "bruno.mp4"
    subprocess.run([sys.executable, "-m", "rtmotion", "-q", "synth", "--character", "bruno", "--motion", "dance",
                    "--seconds", "4", "--size", "320x320", "-o", str(mp4)],
                   check=True, env=_env(), cwd=folder, timeout=300)
    y4m = folder / "bruno.y4m"
    write_y4m(y4m, (f.image for f in read_frames(mp4)), fps=30)
    return y4m


class Server:
    """`python -m rtmotion serve` in a subprocess; its log in a file. Always `close()` it."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.log_path = folder / "serve.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtmotion", "serve", "-t", "demo-ada", "--backend", "torch", "--port", "0",
             *args], stdout=subprocess.PIPE, stderr=self._log, env=_env(), cwd=folder)
        try:
            line = self._first_line(SERVER_START_S)
            m = re.search(r"open (\S+)", line)
            if not m:
                raise RuntimeError(f"the server did not start: {line!r} {self.log()[-3000:]}")
            self.url = m.group(1)
        except BaseException:
            self.close()
            raise

    def _first_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"the server printed nothing within {timeout} s: {self.log()[-3000:]}")
        return self.proc.stdout.readline().decode(errors="replace")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the server exited ({self.proc.returncode}):\n{self.log()[-3000:]}")

    def wait_log(self, pattern: str, timeout: float = LOG_S) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log())
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in the server log within {timeout} s:\n"
                                     f"{self.log()[-3000:]}")
            self.alive()
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve"))
    try:
        yield s
    finally:
        s.close()
    assert s.proc.returncode == 0, s.log()[-2000:]


@pytest.fixture(scope="module")
def browser(camera_video):
    with Chromium(fake_video=camera_video, window=(1280, 720)) as b:
        yield b


@pytest.fixture
def open_page(server, browser):
    """Opens pages of the server's page; whatever a test leaves open (a failed assertion) is
    closed afterwards, and its pipeline waited for, so the next test starts on a quiet server."""
    pages = []

    def open_() -> Any:
        page = browser.open(server.url)
        pages.append(page)
        return page

    try:
        yield open_
    finally:
        for page in pages:
            if page.closed:
                continue
            try:
                viewer = page.evaluate("window.rtmotion ? rtmotion.viewer : null", timeout=10)
            except Exception:  # noqa: BLE001 - a page already broken: close it all the same
                viewer = None
            page.close()
            if viewer is not None:
                with contextlib.suppress(AssertionError):
                    server.wait_log(rf"viewer {viewer} gone", timeout=LOG_S)


def wait_shown(page, server: Server, n: int, timeout: float = MORE_FRAMES_S) -> int:
    """Wait until the page has shown `n` generated frames (a dead server fails at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(page.wait_for(f"window.rtmotion && rtmotion.shown >= {n} && rtmotion.shown",
                                     timeout=min(10.0, max(0.0, deadline - time.monotonic()))))
        except TimeoutError:
            server.alive()
            if time.monotonic() > deadline:
                raise


def _png(data: bytes) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _output_crop(page, shot: np.ndarray) -> np.ndarray:
    """The generated picture as shown (the canvas's content box, letterboxed by object-fit)."""
    x, y, w, h = page.rect("#output")
    cw, ch = page.evaluate("[document.getElementById('output').width, document.getElementById('output').height]")
    k = min(w / cw, h / ch)
    dw, dh = int(cw * k), int(ch * k)
    x0, y0 = x + (w - dw) // 2, y + (h - dh) // 2
    return shot[y0 + 2:y0 + dh - 2, x0 + 2:x0 + dw - 2]


def _background(shape: tuple[int, ...]) -> np.ndarray:
    """The subject's empty scene (its full-resolution plate, what the page shows with no person)
    at the shown size, cropped as `_output_crop` crops."""
    import cv2

    from rtmotion.subject import load_subject

    plate = load_subject("demo-ada").scene_plate
    assert plate is not None, "demo-ada ships its scene plate"
    h, w = shape[0] + 4, shape[1] + 4
    return cv2.resize(plate, (w, h), interpolation=cv2.INTER_AREA)[2:-2, 2:-2]


def person_mask(view: np.ndarray, background: np.ndarray) -> np.ndarray:
    """bool (H, W): where the shown picture is not the subject's empty scene (the person)."""
    return np.abs(view.astype(np.int16) - background.astype(np.int16)).max(axis=2) > DIFF


def check_person(view: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Assert a standing person is in the view; their mask."""
    person = person_mask(view, background)
    frac = person.mean()
    assert 0.02 < frac < 0.4, f"person pixels {frac:.3f} of the generated view"
    ys, xs = np.nonzero(person)
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert height > 0.4 * view.shape[0] and height > width, f"a standing person is tall ({width}x{height})"
    return person


def moved(a: np.ndarray, b: np.ndarray, background: np.ndarray) -> float:
    """Of the pixels where a person is in either view, the share that changed between them."""
    where = person_mask(a, background) | person_mask(b, background)
    if not where.any():
        return 0.0
    changed = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > DIFF
    return float(changed[where].mean())


FREEZE_JS = """(() => { const g = document.getElementById('output').getContext('2d');
  g.drawImage = () => {}; return true; })()"""


def test_page_shows_the_subject_dancing(server, open_page, tmp_path) -> None:
    page = open_page()
    n = wait_shown(page, server, 15, timeout=FIRST_FRAMES_S)
    shot = page.screenshot()
    (tmp_path / "page1.png").write_bytes(shot)
    first = _output_crop(page, _png(shot))
    background = _background(first.shape)
    # The subject is there; the empty scene (a blank view) fails the same check.
    check_person(first, background)
    with pytest.raises(AssertionError, match="person pixels"):
        check_person(background, background)
    # And moves: a few frames later the picture changed where the person is. Views are taken as
    # frames arrive, until one shows the movement (a loaded machine shows a few frames a second).
    shares = []
    for _ in range(8):
        n = wait_shown(page, server, n + 3)
        shot = page.screenshot()
        later = _output_crop(page, _png(shot))
        shares.append(round(moved(first, later, background), 3))
        if shares[-1] > MOVED:
            break
    (tmp_path / "page2.png").write_bytes(shot)
    assert max(shares) > MOVED, f"the subject did not move (changed share of the person region: {shares})"
    # The check fails on a frozen view: the same picture, and the page itself frozen (results
    # still arrive and are counted, the canvas is no longer drawn).
    assert moved(first, first, background) == 0.0
    assert page.evaluate(FREEZE_JS)
    frozen = _output_crop(page, _png(page.screenshot()))
    n = wait_shown(page, server, n + 5)
    frozen_later = _output_crop(page, _png(page.screenshot()))
    frozen_share = moved(frozen, frozen_later, background)
    print(f"movement of the person region: {shares}; frozen page: {frozen_share}")
    assert frozen_share < MOVED / 10
    # The page shows fps and capture-to-display latency, and the skeleton over the camera view.
    fps, lat = page.evaluate("[document.getElementById('fps').textContent, document.getElementById('latency').textContent]")
    assert float(fps) > 0 and int(lat) > 0
    meta = page.evaluate("rtmotion.lastMeta")
    assert meta["state"] == "person" and sum(c > 0 for c in meta["kp"][2::3]) >= 10
    # The subject's full frame, at the size the server announced.
    assert page.evaluate("[document.getElementById('output').width, document.getElementById('output').height]") \
        == page.evaluate("rtmotion.outputSize") == [512, 512]
    viewer = page.evaluate("rtmotion.viewer")
    page.close()
    # A closed tab frees its pipeline within seconds.
    t0 = time.monotonic()
    freed = server.wait_log(rf"viewer {viewer}: stopped demo-ada .* freed in ([0-9.]+) s", timeout=LOG_S)
    server.wait_log(rf"viewer {viewer} gone", timeout=LOG_S)
    assert float(freed.group(1)) < FREED_S and time.monotonic() - t0 < FREED_S, \
        (freed.group(0), time.monotonic() - t0)


@pytest.mark.slow  # tests/serve/test_server.py's two viewers cover separate sessions by default
def test_two_pages_at_once(server, open_page) -> None:
    pages = [open_page() for _ in range(2)]
    shown0 = [wait_shown(p, server, 5, timeout=FIRST_FRAMES_S) for p in pages]
    # Both pages open, both keep getting new frames, each from its own viewer.
    shown1 = [wait_shown(p, server, n + 3) for p, n in zip(pages, shown0)]
    assert all(b - a >= 3 for a, b in zip(shown0, shown1)), (shown0, shown1)
    viewers = [p.evaluate("rtmotion.viewer") for p in pages]
    assert len(set(viewers)) == 2
    for v, p in zip(viewers, pages):
        p.close()
        server.wait_log(rf"viewer {v} gone", timeout=LOG_S)


GARBAGE_JS = """
(async () => {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const tries = [
    ['text', 'this is not json'],
    ['text', JSON.stringify({type: 'start', width: 100000, height: 3})],
    ['binary', new Uint8Array([0, 0, 0, 1, 9, 9, 9, 9, 9])],
    ['big', new Uint8Array(%d)],
  ];
  const out = [];
  for (const [kind, data] of tries) {
    out.push(await new Promise((resolve) => {
      const ws = new WebSocket(url); const said = [];
      ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.type === 'error') said.push(m.message); };
      ws.onopen = () => { ws.send(data); };
      ws.onclose = (e) => resolve({kind, code: e.code, reason: e.reason, said});
      setTimeout(() => resolve({kind, code: -1}), 20000);
    }));
  }
  return out;
})()
"""


def test_a_page_sending_garbage_is_closed_and_the_server_goes_on(server, open_page) -> None:
    from rtmotion.serve.protocol import MAX_FRAME_BYTES

    page = open_page()
    wait_shown(page, server, 3, timeout=FIRST_FRAMES_S)
    results = page.evaluate(GARBAGE_JS % (MAX_FRAME_BYTES + 100), timeout=120)
    codes = [r["code"] for r in results]
    # The oversize message: the server closes with 1009 while the browser may still be sending
    # it; the browser then sees the TCP connection end first (1006). Either way the server must
    # have closed it for its size (its log says so).
    assert codes[:3] == [1008, 1008, 1008] and codes[3] in (1009, 1006), results
    assert "not JSON" in results[0]["reason"] and "frame before a start" in results[2]["reason"]
    server.wait_log(r"closed: text message is not JSON")
    server.wait_log(rf"closed: message over {MAX_FRAME_BYTES} bytes")
    # The page's own connection and the server go on.
    n = page.evaluate("rtmotion.shown")
    wait_shown(page, server, n + 3)
    server.alive()
    viewer = page.evaluate("rtmotion.viewer")
    page.close()
    server.wait_log(rf"viewer {viewer} gone")
