"""A virtual webcam (pyvirtualcam) that video-call software can pick, fed with the live result.

pyvirtualcam is optional (`pip install 'rtmotion[live]'`); on Linux it writes to a v4l2loopback
device (`sudo modprobe v4l2loopback devices=1`)."""

from __future__ import annotations

import logging

import numpy as np

from rtmotion.errors import OutputError
from rtmotion.lazy import require

log = logging.getLogger(__name__)

PURPOSE = "--virtual-camera (on Linux it also needs the v4l2loopback kernel module)"


class VirtualCamera:
    """`send(image)` uint8 RGB (H, W, 3) frames of the size given at construction."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        pyvirtualcam = require("pyvirtualcam", extra="live", purpose=PURPOSE)
        try:
            self._cam = pyvirtualcam.Camera(width=int(width), height=int(height), fps=float(fps),
                                            fmt=pyvirtualcam.PixelFormat.RGB)
        except Exception as e:  # noqa: BLE001 - pyvirtualcam raises RuntimeError subclasses
            raise OutputError("virtual camera", f"cannot start ({e})",
                              "on Linux load v4l2loopback: sudo modprobe v4l2loopback devices=1") from None
        log.info("virtual camera: %s", getattr(self._cam, "device", "?"))

    @property
    def device(self) -> str:
        return str(getattr(self._cam, "device", ""))

    def send(self, image: np.ndarray) -> None:
        self._cam.send(np.ascontiguousarray(image))

    def close(self) -> None:
        self._cam.close()
