"""`rtmotion serve` as a person uses it: the server started from the command line, the page
opened in headless Chromium whose fake camera plays a video `rtmotion synth` made, the subject
dancing back in the page (screenshots), two pages at once, a page that sends garbage.

Skips with a reason when Chromium is missing (`.ci/run` installs Debian's chromium)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aiohttp", reason="aiohttp (extra 'serve') is not installed")

from rtmotion.serve.browser import Chromium, find_chromium  # noqa: E402

pytestmark = [pytest.mark.skipif(find_chromium() is None,
                                 reason="Chromium is not installed (apt-get install chromium)"),
              pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]


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
    """`python -m rtmotion serve` in a subprocess; its log in a file."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.log_path = folder / "serve.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtmotion", "serve", "-t", "demo-ada", "--backend", "torch", "--port", "0",
             *args], stdout=subprocess.PIPE, stderr=self._log, env=_env(), cwd=folder)
        line = self.proc.stdout.readline().decode()  # type: ignore[union-attr]
        m = re.search(r"open (\S+)", line)
        if not m:
            self.close()
            raise RuntimeError(f"the server did not start: {line!r} {self.log()}")
        self.url = m.group(1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not in the server log within {timeout} s:\n{self.log()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve"))
    yield s
    s.close()
    assert s.proc.returncode == 0, s.log()[-2000:]


@pytest.fixture(scope="module")
def browser(camera_video):
    with Chromium(fake_video=camera_video, window=(1280, 720)) as b:
        yield b


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


def _blank_scene(size: tuple[int, int]) -> np.ndarray:
    """The subject's empty scene (what the page would show without a person), at `size` (W, H)."""
    import cv2

    from rtmotion.pipeline.session import open_session
    from rtmotion.subject import load_subject

    with open_session(load_subject("demo-ada")) as session:
        blank = session.synth.blank_scene()
    return cv2.resize(blank, size, interpolation=cv2.INTER_AREA)


def test_page_shows_the_subject_dancing(server, browser, tmp_path) -> None:
    page = browser.open(server.url)
    page.wait_for("window.rtmotion && rtmotion.shown >= 15", timeout=180)
    first = _png(page.screenshot())
    (tmp_path / "page1.png").write_bytes(page.screenshot())
    later = []
    for _ in range(4):          # a loaded machine may show only a few frames a second
        time.sleep(1.0)
        later.append(page.screenshot())
    (tmp_path / "page2.png").write_bytes(later[-1])
    a = _output_crop(page, first)
    blank = _blank_scene((a.shape[1], a.shape[0])).astype(np.int16)
    # The subject is there: a person-sized region differs from the empty scene.
    person = np.abs(a.astype(np.int16) - blank).max(axis=2) > 40
    frac = person.mean()
    assert 0.01 < frac < 0.5, f"person pixels {frac:.3f} of the generated view"
    ys, xs = np.nonzero(person)
    assert ys.max() - ys.min() > 0.3 * a.shape[0], "a standing person is tall"
    # And moves: within a few seconds the picture changed where the person is.
    moved = max(int((np.abs(a.astype(np.int16) - _output_crop(page, _png(s)).astype(np.int16)).max(axis=2)
                     > 40).sum()) for s in later)
    assert moved > 0.04 * person.sum(), f"the subject did not move ({moved} of {person.sum()} pixels)"
    # The page shows fps and capture-to-display latency, and the skeleton over the camera view.
    fps, lat = page.evaluate("[document.getElementById('fps').textContent, document.getElementById('latency').textContent]")
    assert float(fps) > 0 and int(lat) > 0
    meta = page.evaluate("rtmotion.lastMeta")
    assert meta["state"] == "person" and sum(c > 0 for c in meta["kp"][2::3]) >= 10
    viewer = page.evaluate("rtmotion.viewer")
    page.close()
    # A closed tab frees its pipeline within seconds.
    t0 = time.monotonic()
    server.wait_log(rf"viewer {viewer}: stopped demo-ada .* freed in", timeout=10)
    server.wait_log(rf"viewer {viewer} gone", timeout=10)
    assert time.monotonic() - t0 < 10


def test_two_pages_at_once(server, browser) -> None:
    pages = [browser.open(server.url) for _ in range(2)]
    for p in pages:
        p.wait_for("window.rtmotion && rtmotion.shown >= 5", timeout=180)
    shown0 = [p.evaluate("rtmotion.shown") for p in pages]
    time.sleep(3.0)
    shown1 = [p.evaluate("rtmotion.shown") for p in pages]
    assert all(b - a >= 3 for a, b in zip(shown0, shown1)), (shown0, shown1)
    viewers = [p.evaluate("rtmotion.viewer") for p in pages]
    assert len(set(viewers)) == 2
    for v, p in zip(viewers, pages):
        p.close()
        server.wait_log(rf"viewer {v} gone", timeout=10)


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


def test_a_page_sending_garbage_is_closed_and_the_server_goes_on(server, browser) -> None:
    from rtmotion.serve.protocol import MAX_FRAME_BYTES

    page = browser.open(server.url)
    page.wait_for("window.rtmotion && rtmotion.shown >= 3", timeout=180)
    results = page.evaluate(GARBAGE_JS % (MAX_FRAME_BYTES + 100), timeout=120)
    codes = {r["kind"]: r["code"] for r in results}
    assert codes == {"text": 1008, "binary": 1008, "big": 1009} or \
        [r["code"] for r in results] == [1008, 1008, 1008, 1009], results
    assert "not JSON" in results[0]["reason"] and "frame before a start" in results[2]["reason"]
    server.wait_log(r"closed: text message is not JSON", timeout=5)
    # The page's own connection and the server go on.
    n = page.evaluate("rtmotion.shown")
    page.wait_for(f"rtmotion.shown >= {n + 3}", timeout=30)
    assert server.proc.poll() is None
    page.close()
