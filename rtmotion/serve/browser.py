"""Headless Chromium driven over its DevTools protocol (a WebSocket): how the tests and the
benchmark open `rtmotion serve`'s page as a person would, with a fake camera.

    with Chromium(fake_video="bruno.y4m") as browser:
        page = browser.open("http://127.0.0.1:8765/")
        page.wait_for("window.rtmotion && window.rtmotion.shown > 10", timeout=60)
        Path("page.png").write_bytes(page.screenshot())

Chromium is the system's (Debian's `chromium` package; `find_chromium()`); its fake media-stream
flags grant the camera without asking and play a .y4m file as the camera (`rtmotion.io.y4m`).
Background-throttling is off so that several pages of one browser all run at full rate.
The DevTools client is aiohttp's WebSocket client on a private event loop in a thread, so the
calls here are plain blocking ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """The path of a Chromium / Chrome executable on PATH (or $RTMOTION_CHROMIUM), or None."""
    given = os.environ.get("RTMOTION_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools call failed."""


class Chromium:
    """A headless Chromium process with a fresh profile (module docstring).

    Args:
        fake_video: a .y4m file played as the camera (None: Chromium's own test pattern).
        window: the window size in CSS pixels (screenshots have this size).
        executable: the browser (default: `find_chromium()`).
    """

    def __init__(self, fake_video: str | Path | None = None, window: tuple[int, int] = (1280, 720),
                 executable: str | None = None) -> None:
        self.fake_video = None if fake_video is None else Path(fake_video)
        self.window = window
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("no Chromium found (install Debian's chromium package)")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._profile: str | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rtmotion-cdp", daemon=True)
        self.pages: list[Page] = []
        self._browser_conn: Page | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> Chromium:
        self._profile = tempfile.mkdtemp(prefix="rtmotion-chromium-")
        args = [self.executable, "--headless", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}", f"--window-size={self.window[0]},{self.window[1]}",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows", "--autoplay-policy=no-user-gesture-required"]
        if self.fake_video is not None:
            args.append(f"--use-file-for-fake-video-capture={self.fake_video}")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        args.append("about:blank")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        active = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode("utf-8", "replace")[-2000:] if self.proc.stderr else ""
                raise BrowserError(f"chromium exited with code {self.proc.returncode}: {err}")
            if active.exists():
                lines = active.read_text().split()
                if lines and lines[0].isdigit():
                    self.port = int(lines[0])
                    break
            time.sleep(0.1)
        else:
            self.close()
            raise BrowserError(f"chromium did not open its DevTools port within {timeout:.0f} s")
        # Chromium writes to stderr all the time; never let a full pipe stall it.
        threading.Thread(target=self._drain, daemon=True).start()
        self._thread.start()
        return self

    def _drain(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            for _ in iter(lambda: self.proc.stderr.read(65536), b""):  # type: ignore[union-attr]
                pass

    def close(self) -> None:
        for page in list(self.pages):
            page.close()
        if self._browser_conn is not None:
            self._browser_conn.disconnect()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- pages -------------------------------------------------------------------------------
    def _http(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        try:
            return json.loads(body)
        except ValueError:
            return body.decode("utf-8", "replace")

    def open(self, url: str) -> Page:
        """A new page at `url`, in a window of its own (a background tab would be hidden and
        throttled; two people's pages are both in front). Returns once DevTools is attached."""
        if self._browser_conn is None:
            version = self._http("/json/version")
            self._browser_conn = Page(self, "browser", version["webSocketDebuggerUrl"])
            self._browser_conn.connect()
        target_id = self._browser_conn.call("Target.createTarget", url=url, newWindow=True)["targetId"]
        ws_url = f"ws://127.0.0.1:{self.port}/devtools/page/{target_id}"
        page = Page(self, target_id, ws_url)
        page.connect()
        self.pages.append(page)
        return page

    def run(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)


class Page:
    """One tab: evaluate JavaScript, wait for a condition, take a screenshot, close."""

    def __init__(self, browser: Chromium, target_id: str, ws_url: str) -> None:
        self.browser, self.target_id, self.ws_url = browser, target_id, ws_url
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._session: Any = None
        self._ws: Any = None
        self._reader: Any = None
        self.closed = False

    def connect(self) -> None:
        async def go() -> None:
            import aiohttp

            self._session = aiohttp.ClientSession()
            self._ws = await self._session.ws_connect(self.ws_url, max_msg_size=64 * 1024 * 1024)
            self._reader = asyncio.get_running_loop().create_task(self._read())

        self.browser.run(go(), 20)

    async def _read(self) -> None:
        async for msg in self._ws:
            data = json.loads(msg.data)
            fut = self._waiting.pop(data.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(data)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(BrowserError("DevTools connection closed"))

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """One DevTools command; its `result` (BrowserError on a protocol error)."""
        async def go() -> Any:
            self._ids += 1
            fut = asyncio.get_running_loop().create_future()
            self._waiting[self._ids] = fut
            await self._ws.send_str(json.dumps({"id": self._ids, "method": method, "params": params}))
            return await fut

        reply = self.browser.run(go(), timeout)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (JSON-able; promises awaited)."""
        r = self.call("Runtime.evaluate", timeout, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression[:80]}: {r['exceptionDetails'].get('text')} "
                               f"{r['exceptionDetails'].get('exception', {}).get('description', '')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60.0, poll: float = 0.2) -> Any:
        """Poll `expression` until it is truthy (returns it); TimeoutError with the page's
        `window.rtmotion` state otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                state = self.evaluate("JSON.stringify(window.rtmotion ? {status: rtmotion.status, "
                                      "error: rtmotion.error, shown: rtmotion.shown, sent: rtmotion.sent} : null)")
                raise TimeoutError(f"{expression!r} not true within {timeout:.0f} s (page: {state})")
            time.sleep(poll)

    def screenshot(self) -> bytes:
        """PNG bytes of the tab's viewport."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def rect(self, selector: str) -> tuple[int, int, int, int]:
        """(x, y, w, h) of an element in viewport pixels (for cropping screenshots)."""
        r = self.evaluate(f"(() => {{ const b = document.querySelector({json.dumps(selector)})"
                          ".getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; })()")
        return tuple(int(round(v)) for v in r)  # type: ignore[return-value]

    def disconnect(self) -> None:
        """Close the DevTools connection (not the page)."""
        async def go() -> None:
            if self._ws is not None:
                await self._ws.close()
            if self._session is not None:
                await self._session.close()

        try:
            self.browser.run(go(), 10)
        except Exception:  # noqa: BLE001 - a browser already gone
            pass

    def close(self) -> None:
        """Close the tab (the page's WebSocket closes as when a person closes it)."""
        if self.closed:
            return
        self.closed = True
        try:
            conn = self.browser._browser_conn
            if conn is not None and conn is not self:
                conn.call("Target.closeTarget", 10, targetId=self.target_id)
            else:
                self.browser._http(f"/json/close/{self.target_id}")
        except (OSError, BrowserError, TimeoutError):
            pass

        self.disconnect()
        if self in self.browser.pages:
            self.browser.pages.remove(self)
