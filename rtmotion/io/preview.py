"""The live preview window (OpenCV highgui), with the keys a person needs.

Keys: q or Esc quits, r re-estimates the pose normalization, s saves a snapshot PNG,
t toggles side by side (source | pose | result). `show()` must be called from the thread that
made the window (the main thread), as highgui wants.
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from rtmotion.errors import OutputError

log = logging.getLogger(__name__)

KEYS = {ord("q"): "quit", 27: "quit", ord("r"): "renormalize", ord("s"): "snapshot",
        ord("t"): "toggle"}
HELP_TEXT = "q quit  r re-estimate  s snapshot  t side by side"


class PreviewWindow:
    """A resizable window showing uint8 RGB frames; `show(image) -> action or None`."""

    def __init__(self, title: str = "rtmotion live") -> None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise OutputError("preview window", "no display to open a window on (DISPLAY is not set)",
                              "use --no-preview, or run under a desktop session / Xvfb")
        self.title = title
        self._open = False
        self._sized: tuple[int, int] | None = None
        self._hidden = 0  # consecutive frames the window reported itself not visible

    def open(self) -> PreviewWindow:
        try:
            # GUI_NORMAL: no toolbar (Qt builds add one), the picture is the whole window.
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as e:
            raise OutputError("preview window", f"cannot open a window ({e.msg.strip() or e})",
                              "use --no-preview") from None
        self._open = True
        return self

    def show(self, image: np.ndarray) -> str | None:
        """Draw the frame, process window events for 1 ms; returns the action of a key pressed
        ("quit", "renormalize", "snapshot", "toggle") or None. A window closed by its title bar
        counts as "quit". One key per frame is seen (OpenCV keeps the last key pressed)."""
        if not self._open:
            self.open()
        size = (image.shape[1], image.shape[0])
        if size != self._sized:  # the window starts at the picture's size (side by side too)
            cv2.resizeWindow(self.title, *size)
            self._sized = size
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key != 0xFF:
            return KEYS.get(key)
        try:
            visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            visible = False
        # A window being resized can report itself invisible for a moment: only a window that
        # stays gone (closed by its title bar) ends the run.
        self._hidden = 0 if visible else self._hidden + 1
        return "quit" if self._hidden >= 5 else None

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
