"""MediaPipe's native start-up logs are captured from fd 2 while it starts: with several
estimators starting in threads of one process (`rtmotion serve`, a pipeline per page), the
captures overlap, and fd 2 must still end up where it was, with the process's own lines kept.
(Each capture restoring the fd it saved once left fd 2 on another capture's deleted temp file:
the server's log went silent for good.)"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

from rtmotion.pose.extractors.mediapipe import _StderrCapture


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """One estimator's capture, as `MediaPipeExtractor` holds it from open() to its first calls."""
    assert _StderrCapture.start()
    try:
        yield
    finally:
        _StderrCapture.stop()


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def test_overlapping_captures_restore_stderr_and_keep_the_process_log(capfd, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="rtmotion.pose.extractors.mediapipe")
    before = os.fstat(2)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:        # enters first, leaves first
        try:
            with _native_stderr_to_log():
                a_in.set()
                assert b_in.wait(10)
                os.write(2, b"W0000 00:00:1796257205.352159   31315 graph.cc:12] native line of A\n")
            a_out.set()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def second() -> None:       # enters while A is in, leaves last
        try:
            assert a_in.wait(10)
            with _native_stderr_to_log():
                b_in.set()
                assert a_out.wait(10)
                os.write(2, b"INFO rtmotion.serve.server: viewer 2 gone (page closed)\n")
                os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors
    assert _same_file(os.fstat(2), before), "fd 2 is back where it was"
    os.write(2, b"after the captures\n")
    err = capfd.readouterr().err
    # The process's own line is written back, MediaPipe's go to the log at DEBUG level only.
    assert "viewer 2 gone (page closed)" in err and "after the captures" in err
    assert "native line of A" not in err and "XNNPACK" not in err
    debug = [r.getMessage() for r in caplog.records]
    assert any("native line of A" in m for m in debug) and any("XNNPACK" in m for m in debug)
